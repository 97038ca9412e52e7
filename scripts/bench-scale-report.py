#!/usr/bin/python3
"""Turns one run of scripts/bench-scale into its table and plot.

    /usr/bin/python3 scripts/bench-scale-report.py RESULTS_DIR

RESULTS_DIR holds scale.json (the figures the script recorded), fio's
logs of the long write run (writes_bw.1.log, writes_clat.1.log: one line
per 100 ms, the bandwidth and the longest completion of that window) and
journal.log (the journal's fill and checkpoints, every 100 ms).  Adds to
scale.json what the logs say, writes table.txt and writes.png.
"""

import json
import os
import shutil
import subprocess
import sys

STALL_MS = 100  # a completion longer than this is a stall


def read_log(path):
    """fio's log: (ms, value) per line."""
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for line in f:
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 2:
                rows.append((int(parts[0]), int(parts[1])))
    return rows


def writes_figures(outdir):
    """IOPS per 100 ms window, the longest completion of each, stalls."""
    bw = read_log(os.path.join(outdir, "writes_bw.1.log"))
    clat = read_log(os.path.join(outdir, "writes_clat.1.log"))
    iops = [(t, kib / 4) for t, kib in bw]  # KiB/s of 4 KiB writes
    longest = [(t, ns / 1e6) for t, ns in clat]
    stalls = [t for t, ms in longest if ms > STALL_MS]
    values = sorted(v for _, v in iops)
    return iops, longest, {
        "writes_windows": len(iops),
        "writes_iops_median": values[len(values) // 2] if values else None,
        "writes_iops_min": values[0] if values else None,
        "writes_longest_completion_ms": max((ms for _, ms in longest),
                                            default=None),
        "writes_stalls_over_100ms": len(stalls),
    }


def journal_figures(outdir):
    rows = []
    path = os.path.join(outdir, "journal.log")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                t, used, total, ckpts = line.split()
                rows.append((float(t), int(used), int(total), int(ckpts)))
    if not rows:
        return rows, {}
    return rows, {
        "checkpoints_during_writes": rows[-1][3] - rows[0][3],
        "journal_fill_max": max(u / n for _, u, n, _ in rows),
    }


def plot(outdir, iops, longest, journal):
    if not shutil.which("gnuplot") or not iops:
        return "no plot (gnuplot or the logs missing)"
    # fio ends its windows of the two logs at different times: two files.
    with open(os.path.join(outdir, "writes.dat"), "w") as f:
        for t, v in iops:
            f.write("%.2f %.0f\n" % (t / 1000, v))
    with open(os.path.join(outdir, "latency.dat"), "w") as f:
        for t, ms in longest:
            f.write("%.2f %.2f\n" % (t / 1000, ms))
    t0 = journal[0][0] if journal else 0
    with open(os.path.join(outdir, "journal.dat"), "w") as f:
        for t, used, total, _ in journal:
            f.write("%.1f %.1f\n" % (t - t0, 100.0 * used / total))
    script = """\
set terminal png size 1200,900
set output "writes.png"
set multiplot layout 3,1 title "random 4 KiB writes, QD32: every 100 ms"
set ylabel "IOPS"
plot "writes.dat" using 1:2 with lines title "writes a second"
set ylabel "longest completion, ms"
set arrow 1 from graph 0, first {stall} to graph 1, first {stall} nohead dashtype 2
plot "latency.dat" using 1:2 with lines title "longest completion"
unset arrow 1
set ylabel "journal fill, %"
set xlabel "seconds"
plot "journal.dat" using 1:2 with lines title "journal used"
unset multiplot
""".format(stall=STALL_MS)
    with open(os.path.join(outdir, "writes.gp"), "w") as f:
        f.write(script)
    run = subprocess.run(["gnuplot", "writes.gp"], cwd=outdir,
                         capture_output=True, text=True)
    if run.returncode:
        return "no plot: " + run.stderr.strip()
    return "plot: " + os.path.join(outdir, "writes.png")


def table(s):
    def fig(key, spec=".2f"):
        v = s.get(key)
        return "-" if v is None else format(v, spec)

    verify = dd = None
    if s.get("verify_8g_s") and s.get("dd_8g_s"):
        verify = s["verify_data_bytes"] / s["verify_8g_s"] / 1e9
        dd = s["verify_file_bytes"] / s["dd_8g_s"] / 1e9
    rows = [
        ("format 16 TiB, unkeyed", fig("format_16t_s") + " s", ""),
        ("format 1 TiB, blake2b-256-keyed", fig("format_1t_keyed_s") + " s",
         ""),
        ("  extrapolated to 16 TiB", fig("format_16t_keyed_s_extrapolated",
                                         ".0f") + " s", ""),
        ("open 16 TiB, clean", fig("open_clean_s") + " s", ""),
        ("open 16 TiB after a crash, 64 MiB journal full",
         fig("open_after_crash_s") + " s", "<= 2 s"),
        ("recover the same (nbd-integrity recover, reads every sector)",
         fig("recover_full_journal_s") + " s", ""),
        ("open after a crash, full journal, nothing ever flushed",
         fig("open_after_unflushed_crash_s") + " s", ""),
        ("RSS after opening 16 TiB", fig("rss_after_open_mib", ".1f")
         + " MiB", ""),
        ("peak RSS, random writes over 16 TiB",
         fig("rss_peak_mib", ".1f") + " MiB", "<= 64 + 64 MiB"),
        ("verify, 8 GiB written", "-" if verify is None else
         "%.2f GB/s, %.2f of dd (%.2f GB/s)" % (verify, verify / dd, dd),
         ">= 0.90 of dd"),
        ("random writes: median / lowest IOPS per 100 ms",
         "%s / %s" % (fig("writes_iops_median", ".0f"),
                      fig("writes_iops_min", ".0f")), ""),
        ("  checkpoints during them", fig("checkpoints_during_writes", "d"),
         ""),
        ("  longest completion", fig("writes_longest_completion_ms", ".1f")
         + " ms", ""),
        ("  100 ms windows with a completion over 100 ms",
         "%s of %s" % (fig("writes_stalls_over_100ms", "d"),
                       fig("writes_windows", "d")), "0"),
    ]
    width = max(len(r[0]) for r in rows)
    lines = ["%-*s  %-34s  %s" % (width, "figure", "measured", "target")]
    lines += ["%-*s  %-34s  %s" % (width, a, b, c) for a, b, c in rows]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench-scale-report.py RESULTS_DIR")
    outdir = sys.argv[1]
    with open(os.path.join(outdir, "scale.json")) as f:
        s = json.load(f)
    iops, longest, w = writes_figures(outdir)
    journal, j = journal_figures(outdir)
    s.update(w)
    s.update(j)
    with open(os.path.join(outdir, "scale.json"), "w") as f:
        json.dump(s, f, indent=1)
        f.write("\n")
    text = table(s)
    with open(os.path.join(outdir, "table.txt"), "w") as f:
        f.write(text)
    print(text, end="")
    print(plot(outdir, iops, longest, journal))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Turns one run of scripts/bench into its report.

    /usr/bin/python3 scripts/bench-report.py RESULTS_DIR

RESULTS_DIR holds what scripts/bench recorded: meta.json, configs.jsonl
(one line per server and round: its name, mode, hash and peak RSS),
jobs.jsonl (one line per fio job: its round, its fio JSON and the
server's write counters before and after) and the fio JSON files.  This
writes results.json and table.txt, prints the table, and plots ratios.png
with gnuplot when it is installed.

With several rounds, each job's ratios are to the baseline of its own
round (run minutes apart, not an hour), and each configuration and
workload is reported by its round of median throughput ratio, with the
range of the ratios over the rounds.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys

BASELINE = "baseline"

# What the figures of each result mean, copied into results.json.
FIELDS = {
    "value": "the figure of merit, in unit: MB/s (10^6 bytes/s) for "
             "sequential workloads, IOPS (reads and writes) for random ones",
    "value_ratio": "value / the baseline's value on the same workload",
    "p99_ms": "99th percentile completion latency (fio clat_ns "
              "percentile 99.000000) of section, in ms",
    "p99_ratio": "p99_ms / the baseline's p99_ms on the same workload",
    "backing_bytes_written": "bytes the server wrote to the backing file "
                             "during the job and its trailing flush: the "
                             "plugin's status backing_bytes_written, or "
                             "/proc/PID/io wchar for the baseline",
    "write_amplification": "backing_bytes_written / client_bytes_written",
    "wchar, write_bytes": "/proc/PID/io of the server over the same span "
                          "(they also count its status file)",
    "server_bytes_written, server_flushes": "the plugin's own count of "
                                            "the client's requests",
    "peak_rss_kib": "VmHWM of the server, read just before stopping it "
                    "(the highest of the rounds)",
    "round": "the round reported: of median value_ratio over the rounds",
    "round_value_ratios, round_p99_ratios": "value_ratio and p99_ratio "
                                            "of every round, in order",
    "hash_share": "for sequential workloads with a cryptographic hash: "
                  "value / (cpus x one core's tag speed with that hash, "
                  "meta hash_mb_s_per_core): how much of what the cores "
                  "could hash the server reached",
}

CRYPTO = ("blake2b-256", "sha256")


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def percentile_ms(section, pct="99.000000"):
    """A clat percentile of a fio JSON section, in ms (None if no I/O)."""
    value = section.get("clat_ns", {}).get("percentile", {}).get(pct)
    return None if value is None else value / 1e6


def fio_figures(path, section, unit):
    """The figures of one fio job: the figure of merit in UNIT, p99
    completion latency of SECTION, and what the client read and wrote."""
    with open(path) as f:
        job = json.load(f)["jobs"][0]
    sec = job[section]
    value = sec["bw_bytes"] / 1e6 if unit == "MB/s" else sec["iops"]
    sync = job.get("sync", {})
    return {
        "value": value,
        "p99_ms": percentile_ms(sec),
        "read_p99_ms": percentile_ms(job["read"]),
        "write_p99_ms": percentile_ms(job["write"]),
        "flush_p99_ms": (sync.get("lat_ns", {}).get("percentile", {})
                         .get("99.000000", 0) / 1e6 or None),
        "client_reads": job["read"]["total_ios"],
        "client_writes": job["write"]["total_ios"],
        "client_flushes": sync.get("total_ios", 0),
        "client_bytes_read": job["read"]["io_bytes"],
        "client_bytes_written": job["write"]["io_bytes"],
        "runtime_ms": job["job_runtime"],
    }


def delta(job, key):
    before, after = job["before"].get(key), job["after"].get(key)
    return None if before is None or after is None else after - before


def write_counters(job, kind):
    """What the server wrote during the job (and its trailing flush).

    For the plugin, backing_bytes_written from its status file: exactly
    the data, journal, tags and superblock it wrote.  For nbdkit file,
    wchar of /proc/PID/io: every byte it passed to pwrite(2), which is
    every byte it wrote to the file.  write_bytes (pages dirtied for the
    block layer) is kept too, but it rounds to pages and counts the status
    file as well."""
    wchar = delta(job, "wchar")
    backing = delta(job, "backing_bytes_written") if kind != BASELINE else wchar
    return {
        "backing_bytes_written": backing,
        "wchar": wchar,
        "write_bytes": delta(job, "write_bytes"),
        "server_bytes_written": delta(job, "bytes_written"),
        "server_flushes": delta(job, "flushes"),
    }


def ratio(a, b):
    return None if a is None or not b else a / b


def hash_share(meta, hash_name, row):
    """The row's throughput as a share of what the cores could hash."""
    speed = (meta.get("hash_mb_s_per_core") or {}).get(hash_name)
    if hash_name not in CRYPTO or not speed or row["unit"] != "MB/s":
        return None
    return ratio(row["value"], meta["cpus"] * speed)


def merge_rounds(configs):
    """One entry per configuration, in order: the highest peak RSS of its
    rounds, and the in-process figure of the round that has one."""
    merged = {}
    for c in configs:
        m = merged.setdefault(c["name"], dict(c))
        m.pop("round", None)
        m["peak_rss_kib"] = max(m["peak_rss_kib"], c["peak_rss_kib"])
        if c.get("inprocess_read_mb_s") is not None:
            m["inprocess_read_mb_s"] = c["inprocess_read_mb_s"]
    return list(merged.values())


def median_round(rows):
    """The configuration's and workload's rows of every round, reduced to
    the row of median value_ratio (the lower middle one of an even
    number), with every round's ratios beside it."""
    by_ratio = sorted(rows, key=lambda r: (r["value_ratio"] is None,
                                           r["value_ratio"] or 0))
    row = dict(by_ratio[(len(by_ratio) - 1) // 2])
    ordered = sorted(rows, key=lambda r: r["round"])
    row["round_value_ratios"] = [r["value_ratio"] for r in ordered]
    row["round_p99_ratios"] = [r["p99_ratio"] for r in ordered]
    p99s = [r for r in row["round_p99_ratios"] if r is not None]
    row["p99_ratio"] = statistics.median(p99s) if p99s else None
    return row


def build_results(outdir):
    with open(os.path.join(outdir, "meta.json")) as f:
        meta = json.load(f)
    configs = merge_rounds(load_jsonl(os.path.join(outdir, "configs.jsonl")))
    jobs = load_jsonl(os.path.join(outdir, "jobs.jsonl"))
    kinds = {c["name"]: c["kind"] for c in configs}
    hashes = {c["name"]: c.get("hash") for c in configs}
    rss = {c["name"]: c["peak_rss_kib"] for c in configs}

    rows = []
    for job in jobs:
        row = {"config": job["config"], "round": job.get("round", 1),
               "workload": job["workload"],
               "unit": job["unit"], "section": job["section"],
               "fio_json": job["fio"]}
        row.update(fio_figures(os.path.join(outdir, job["fio"]),
                               job["section"], job["unit"]))
        row.update(write_counters(job, kinds[job["config"]]))
        row["write_amplification"] = ratio(row["backing_bytes_written"],
                                           row["client_bytes_written"])
        row["peak_rss_kib"] = rss[job["config"]]
        rows.append(row)

    # Ratios to the baseline's same workload in the same round.
    base = {(r["round"], r["workload"]): r for r in rows
            if r["config"] == BASELINE}
    for r in rows:
        b = base.get((r["round"], r["workload"]), {})
        r["value_ratio"] = ratio(r["value"], b.get("value"))
        r["p99_ratio"] = ratio(r["p99_ms"], b.get("p99_ms"))
        # Lower is better for latency: ratios above 1 are slower.
        r["hash_share"] = hash_share(meta, hashes.get(r["config"]), r)
    groups = {}
    for r in rows:
        groups.setdefault((r["config"], r["workload"]), []).append(r)
    every_round = rows
    rows = [median_round(g) for g in groups.values()]
    meta["workloads"] = meta["workloads"].split(",")
    names = [c["name"] for c in configs]
    rows.sort(key=lambda r: (meta["workloads"].index(r["workload"]),
                             names.index(r["config"])))
    every_round.sort(key=lambda r: (r["round"],
                                    meta["workloads"].index(r["workload"]),
                                    names.index(r["config"])))
    return {"meta": meta, "fields": FIELDS, "configs": configs,
            "results": rows, "every_round": every_round}


def fmt(value, spec, missing="-"):
    return missing if value is None else format(value, spec)


def ratio_range(r):
    """min-max of a row's throughput ratios over the rounds, or "-"."""
    ratios = [x for x in r.get("round_value_ratios", []) if x is not None]
    if len(ratios) < 2 or r["config"] == BASELINE:
        return "-"
    return "%.2f-%.2f" % (min(ratios), max(ratios))


def table(results):
    head = ("%-22s %-18s %16s %7s %10s %9s %7s %6s %8s"
            % ("workload", "config", "throughput", "x base", "range",
               "p99 ms", "x base", "WA", "RSS MiB"))
    lines = [head, "-" * len(head)]
    last = None
    for r in results["results"]:
        if last is not None and r["workload"] != last:
            lines.append("")
        last = r["workload"]
        wa = r["write_amplification"] if r["client_bytes_written"] else None
        lines.append("%-22s %-18s %16s %7s %10s %9s %7s %6s %8s" % (
            r["workload"], r["config"],
            "%.1f %s" % (r["value"], r["unit"]),
            fmt(r["value_ratio"], ".2f"), ratio_range(r),
            fmt(r["p99_ms"], ".3f"),
            fmt(r["p99_ratio"], ".2f"), fmt(wa, ".2f"),
            fmt(r["peak_rss_kib"] / 1024, ".1f")))
    meta = results["meta"]
    lines += [
        "",
        "throughput: MB/s = 10^6 bytes/s; x base: ratio to the baseline "
        "(nbdkit file) on the same workload; higher is better",
        "rounds: %d; each ratio is to the baseline of the same round; "
        "shown: the round of median ratio; range: lowest-highest ratio "
        "of the rounds; p99 x base: the median of the rounds'"
        % meta.get("rounds", 1),
        "p99 ms: 99th percentile completion latency (fio clat; reads and "
        "writes together for rand-rw, writes only for -flush32: flush p99 "
        "in results.json); x base: lower is better",
        "WA: bytes the server wrote to the backing file per byte the client "
        "wrote (plugin: backing_bytes_written; baseline: /proc/PID/io wchar)",
        "RSS: peak (VmHWM) of the server over all its jobs",
    ] + hash_lines(results) + [
        "%s file %d MiB, region %d MiB, %d s per job, %s on %s, %d cpus"
        % (meta["fio"], meta["size_bytes"] >> 20, meta["region_bytes"] >> 20,
           meta["runtime_s"], meta["fstype"], meta["device"], meta["cpus"]),
    ]
    return "\n".join(lines) + "\n"


def hash_lines(results):
    """Footer lines: cryptographic hashes against the cores' speed."""
    meta = results["meta"]
    speeds = meta.get("hash_mb_s_per_core") or {}
    if not speeds:
        return []
    lines = ["hashing: one core tags %s; the cores could hash %d times that"
             % (", ".join("%s %.0f MB/s" % kv for kv in sorted(speeds.items())),
                meta["cpus"])]
    for r in results["results"]:
        if r.get("hash_share") is not None:
            lines.append("  %s %s: %.2f of what the cores could hash"
                         % (r["workload"], r["config"], r["hash_share"]))
    for c in results["configs"]:
        mb_s = c.get("inprocess_read_mb_s")
        speed = speeds.get(c.get("hash"))
        if mb_s and speed:
            lines.append("  in-process reads (disk-speed, %d threads, no "
                         "server) %s: %.0f MB/s, %.2f of what the cores "
                         "could hash" % (meta["cpus"], c["name"], mb_s,
                                         mb_s / (meta["cpus"] * speed)))
    return lines


def write_dat(path, results, key, configs):
    """A gnuplot table: one line per workload, one column per config."""
    cell = {(r["workload"], r["config"]): r[key] for r in results["results"]}
    workloads = []
    for r in results["results"]:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    with open(path, "w") as f:
        f.write("workload " + " ".join(configs) + "\n")
        for w in workloads:
            f.write(w + " " + " ".join(
                fmt(cell.get((w, c)), ".4f") for c in configs) + "\n")


GNUPLOT = """\
set terminal {terminal} size 1200,1000 font ",10"
set output "ratios.png"
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set key outside right top noenhanced
set xtics noenhanced
set grid ytics
# At least up to 1.1, so that the line at 1 (the baseline) shows.
set yrange [0:1.1<*]
set multiplot layout 3,1 title "nbd-integrity against nbdkit file: {title}" noenhanced
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dashtype 2 lw 2 front
# One colour per configuration in every panel: linetype 1 is the baseline
# (grey), which the two ratio panels leave out.
set linetype 1 linecolor rgb "gray60"
set ylabel "throughput / baseline\\n(higher is better)"
plot for [i=2:{n}] "throughput.dat" using i:xtic(1) title columnheader(i) linetype i
set ylabel "p99 latency / baseline\\n(lower is better)"
plot for [i=2:{n}] "p99.dat" using i:xtic(1) title columnheader(i) linetype i
set ylabel "backing bytes written\\nper client byte"
plot for [i=2:{nall}] "wa.dat" using i:xtic(1) title columnheader(i) linetype i-1
unset multiplot
"""


def plot(outdir, results):
    """ratios.png: throughput and p99 ratios of each configuration, and
    the write amplification of all, per workload."""
    if not shutil.which("gnuplot"):
        return "no PNG: gnuplot is not installed"
    names = [c["name"] for c in results["configs"]]
    ours = [n for n in names if n != BASELINE]
    write_dat(os.path.join(outdir, "throughput.dat"), results,
              "value_ratio", ours)
    write_dat(os.path.join(outdir, "p99.dat"), results, "p99_ratio", ours)
    writers = {"results": [r for r in results["results"]
                           if r["client_bytes_written"]]}
    write_dat(os.path.join(outdir, "wa.dat"), writers,
              "write_amplification", names)
    terms = subprocess.run(["gnuplot", "-e", "set terminal"],
                           capture_output=True, text=True)
    terminal = "pngcairo" if "pngcairo" in terms.stdout + terms.stderr \
        else "png"
    meta = results["meta"]
    script = GNUPLOT.format(
        terminal=terminal, n=len(ours) + 1, nall=len(names) + 1,
        title="%s, %d s jobs, %s" % (meta["timestamp"], meta["runtime_s"],
                                     meta["fstype"]))
    with open(os.path.join(outdir, "ratios.gp"), "w") as f:
        f.write(script)
    run = subprocess.run(["gnuplot", "ratios.gp"], cwd=outdir,
                         capture_output=True, text=True)
    if run.returncode != 0:
        return "no PNG: gnuplot failed: " + run.stderr.strip()
    return "plot: " + os.path.join(outdir, "ratios.png")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: bench-report.py RESULTS_DIR")
    outdir = sys.argv[1]
    results = build_results(outdir)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    text = table(results)
    with open(os.path.join(outdir, "table.txt"), "w") as f:
        f.write(text)
    print()
    print(text, end="")
    print(plot(outdir, results))


if __name__ == "__main__":
    main()

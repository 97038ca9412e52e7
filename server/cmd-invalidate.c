/* nbd-integrity invalidate: make sectors of a stale copy fail their reads.
 *
 * When the legs of a mirror differ and the administrator knows which leg
 * is stale (nbd-integrity compare), invalidating its copies of those
 * sectors makes MD rebuild them from the others: on a read, or in its
 * "repair", which rewrites a sector that fails to read.  Until rewritten
 * the sectors read as errors, and verify and the server's log say they
 * were invalidated rather than damaged.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "disk.h"
#include "report.h"
#include "tool.h"

struct span {
  uint64_t first, last;
};

/* Parses "SECTOR" or "FIRST-LAST" into SPAN.  False with the error
 * printed if it is neither. */
static bool
parse_span (const char *text, struct span *span)
{
  g_auto (GStrv) parts = g_strsplit (text, "-", 2);
  bool ok = g_ascii_string_to_unsigned (parts[0], 10, 0, G_MAXUINT64,
                                        &span->first, NULL);

  span->last = span->first;
  if (ok && parts[1])
    ok = g_ascii_string_to_unsigned (parts[1], 10, span->first, G_MAXUINT64,
                                     &span->last, NULL);
  if (!ok)
    tool_error ("invalidate",
                "'%s' is neither a sector number nor a range FIRST-LAST "
                "with FIRST <= LAST",
                text);
  return ok;
}

/* Parses every span before anything changes, so that a typo in the last
 * argument does not leave the first ones done (spans_on_disk checks them
 * against the disk's size). */
static GArray *
parse_spans (int n, char **args)
{
  GArray *spans = g_array_new (FALSE, FALSE, sizeof (struct span));

  for (int i = 0; i < n; i++) {
    struct span s;
    if (!parse_span (args[i], &s)) {
      g_array_free (spans, TRUE);
      return NULL;
    }
    g_array_append_val (spans, s);
  }
  return spans;
}

/* Checks every span of SPANS against the sectors of DISK, reading only
 * its superblock, so that nothing changes if one is past the end.  False
 * with the error printed if one is, or the superblock cannot be read. */
static bool
spans_on_disk (const char *disk, const GArray *spans)
{
  struct superblock sb;
  struct backing *b = open_superblock ("invalidate", disk, &sb);

  if (b == NULL)
    return false;
  backing_close (b);
  for (guint i = 0; i < spans->len; i++) {
    const struct span *s = &g_array_index (spans, struct span, i);
    if (s->last >= sb.data_sectors) {
      tool_error ("invalidate",
                  "%s: sector %" PRIu64 " is past the end of the disk, "
                  "which has sectors 0 to %" PRIu64 "; nothing was changed",
                  disk, s->last, sb.data_sectors - 1);
      return false;
    }
  }
  return true;
}

/* Invalidates every span of SPANS on D.  False with the error printed on
 * the first that fails (those before it are invalidated). */
static bool
invalidate_spans (struct disk *d, const char *path, const GArray *spans)
{
  uint64_t total = 0;

  for (guint i = 0; i < spans->len; i++) {
    const struct span *s = &g_array_index (spans, struct span, i);
    uint64_t n = s->last - s->first + 1;

    if (disk_invalidate (d, s->first, n) == -1) {
      tool_error ("invalidate", "%s%s", ni_error (),
                  i ? "; the sectors before them were invalidated" : "");
      return false;
    }
    total += n;
  }
  printf ("%s: %" PRIu64 " sectors invalidated: they fail their reads "
          "until rewritten\n",
          path, total);
  return true;
}

int
cmd_invalidate (int argc, char **argv)
{
  g_autofree char *keyfile = NULL;
  GOptionEntry entries[] = {
      keyfile_option (&keyfile),
      G_OPTION_ENTRY_NULL,
  };
  /* In the mode it was last served in, which opening it records again. */
  struct disk_options opts = {.mode = DISK_MODE_RECORDED};
  g_autoptr (GArray) spans = NULL;
  struct disk *d;
  bool ok;

  if (!parse_command_list (&argc, &argv, "DISK SECTOR|FIRST-LAST...",
                           "Makes the given sectors of DISK fail their reads "
                           "until they are rewritten, durably, so that MD "
                           "rebuilds them from the other copies.  The disk "
                           "must not be served.",
                           entries))
    return EXIT_TROUBLE;
  if (argc < 3) {
    tool_error ("invalidate", "expected DISK and at least one SECTOR");
    return EXIT_TROUBLE;
  }
  if ((spans = parse_spans (argc - 2, argv + 2)) == NULL ||
      !spans_on_disk (argv[1], spans))
    return EXIT_TROUBLE;
  opts.path = argv[1];
  opts.keyfile = keyfile;
  if ((d = disk_open (&opts)) == NULL) {
    tool_error ("invalidate", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  ok = invalidate_spans (d, opts.path, spans);
  if (disk_close (d) == -1) {
    tool_error ("invalidate", "%s: cannot close the disk cleanly: %s",
                opts.path, ni_error ());
    return EXIT_TROUBLE;
  }
  return ok ? EXIT_OK : EXIT_TROUBLE;
}

/* nbd-integrity: format, inspect, verify and recover integrity-tagged
 * disks. */
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tool.h"

static bool verbose;

static const struct command {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *help;
} commands[] = {
    {"format", cmd_format, "write a new format on a disk or image"},
    {"dump", cmd_dump, "print the superblock (--json for scripts)"},
    {"verify", cmd_verify, "check every sector against its tag, offline"},
    {"locate", cmd_locate, "where a sector's data and tag are on the disk"},
    {"recover", cmd_recover, "replay the journal offline and report it"},
    {"check", cmd_check, "check superblocks and journal, reading no data"},
};

static void
log_to_stderr (enum ni_log_level level, const char *msg)
{
  if (level != NI_LOG_DEBUG || verbose)
    fprintf (stderr, "nbd-integrity: %s\n", msg);
}

static void
usage (FILE *f)
{
  fprintf (f, "Usage: nbd-integrity COMMAND [OPTIONS] DISK\n\nCommands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    fprintf (f, "  %-8s %s\n", commands[i].name, commands[i].help);
  fprintf (f, "\nnbd-integrity COMMAND --help shows a command's options.\n"
              "See nbd-integrity(8).\n");
}

int
main (int argc, char **argv)
{
  ni_log_set (log_to_stderr);
  verbose = getenv ("NBD_INTEGRITY_VERBOSE") != NULL;
  if (argc < 2) {
    usage (stderr);
    return EXIT_TROUBLE;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (stdout);
    return EXIT_OK;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("nbd-integrity %s\n", PACKAGE_VERSION);
    return EXIT_OK;
  }
  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);
  fprintf (stderr, "nbd-integrity: unknown command '%s'\n\n", argv[1]);
  usage (stderr);
  return EXIT_TROUBLE;
}

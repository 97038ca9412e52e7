/* Shared pieces of the nbd-integrity command. */
#ifndef NBD_INTEGRITY_TOOL_H
#define NBD_INTEGRITY_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_MISMATCH 1 /* verify found bad sectors */
#define EXIT_TROUBLE 2  /* could not do what was asked */

/* Each command: argv[0] is the command name. */
int cmd_format (int argc, char **argv);
int cmd_dump (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_locate (int argc, char **argv);
int cmd_recover (int argc, char **argv);
int cmd_check (int argc, char **argv);

/* Parses the options of a command with one positional DISK (and NEXTRA
 * more); on error prints it and returns false. */
bool parse_command (int *argc, char ***argv, const char *params,
                    const char *summary, GOptionEntry *entries, int nextra);

/* Parses a size with an optional K, M, G or T suffix (powers of 1024). */
bool parse_size (const char *s, uint64_t *size);

/* Prints an error about DISK-less failures as "nbd-integrity: CMD: MSG". */
void tool_error (const char *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* A progress bar on stderr, shown only on a terminal and only once the
 * work has taken more than a second. */
struct progress {
  const char *what;
  gint64 start;
  int shown; /* last permille printed, -1 none */
};
void progress_init (struct progress *p, const char *what);
void progress_update (struct progress *p, uint64_t done, uint64_t total);
void progress_done (struct progress *p);

/* JSON output: a string with escapes. */
void json_string (FILE *f, const char *s);

#endif

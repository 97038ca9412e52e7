/* Shared pieces of the nbd-integrity tool.
 *
 * main.c picks the command; each cmd-*.c parses its own options with
 * parse_command, does its work through lib/, and returns one of the exit
 * codes below.  A failure is printed once, as "nbd-integrity: COMMAND:
 * MESSAGE", where MESSAGE is usually ni_error() (which names the disk).
 */
#ifndef NBD_INTEGRITY_TOOL_H
#define NBD_INTEGRITY_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

#include "backing.h"
#include "disk.h"
#include "params.h" /* parse_size */
#include "superblock.h"

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_MISMATCH                                                          \
  1                    /* verify found bad sectors, check found problems,      \
                        status found mismatches or I/O errors */
#define EXIT_TROUBLE 2 /* could not do what was asked */

/* Set by -v / --verbose: debug messages from lib/ are printed too. */
extern gboolean tool_verbose;

/* Each command: argv[0] is the command name; returns an exit code. */
int cmd_format (int argc, char **argv);
int cmd_dump (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_locate (int argc, char **argv);
int cmd_compare (int argc, char **argv);
int cmd_invalidate (int argc, char **argv);
int cmd_recover (int argc, char **argv);
int cmd_check (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_serve (int argc, char **argv);
int cmd_attach (int argc, char **argv);
int cmd_detach (int argc, char **argv);

/* Option table entries that several commands share. */
GOptionEntry verbose_option (void);
GOptionEntry json_option (gboolean *json);
GOptionEntry keyfile_option (char **keyfile);

/* Parses a command's ENTRIES (plus -v) and checks that exactly the
 * positional arguments PARAMS (e.g. "DISK SECTOR", NPARAMS of them) are
 * left in argv[1..].  Prints the error and returns false on failure. */
bool parse_command (int *argc, char ***argv, const char *params, int nparams,
                    const char *summary, GOptionEntry *entries);

/* The same for a command that takes one or more positional arguments. */
bool parse_command_list (int *argc, char ***argv, const char *params,
                         const char *summary, GOptionEntry *entries);

/* Prints "nbd-integrity: CMD: MESSAGE" on stderr. */
void tool_error (const char *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* Appends a printf-formatted argument to ARGV, a GPtrArray of strings
 * that owns them. */
void argv_add (GPtrArray *argv, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* ARGV (NULL-terminated) as one line a shell would run: words quoted
 * only where they need it. */
char *command_line (char *const *argv);

/* Reads PATH, a regular file the user named, whole: *TEXT (NUL-terminated,
 * for g_free) and its length.  Prints the error and returns false on
 * failure; a FIFO or a device is refused, not waited on. */
bool read_user_file (const char *cmd, const char *path, char **text,
                     gsize *len);

/* A sector that failed its check, as verify and compare collect them:
 * collect_bad_sector is a disk_mismatch_fn appending to a GArray of them
 * (its OPAQUE). */
struct bad_sector {
  uint64_t sector;
  enum sector_check why;
};
void collect_bad_sector (void *opaque, uint64_t sector, enum sector_check why);

/* Opens DISK read-only and reads its newest superblock, without the key
 * and whatever its state.  NULL, with the error printed, on failure. */
struct backing *open_superblock (const char *cmd, const char *disk,
                                 struct superblock *sb);

#endif

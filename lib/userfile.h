/* Files the user names: a disk, a key file, a status or configuration file.
 *
 * Notes on the design.
 *
 * Any of these paths may name a FIFO, and opening a FIFO for reading
 * waits for a writer: a tool given one would hang in open(), before it
 * could look at what it had opened.  So userfile_open opens with
 * O_NONBLOCK, which a FIFO honours and a regular file or a block device
 * ignores, checks the file's type with fstat, and only then clears
 * O_NONBLOCK.  A path that stat shows to be of the wrong kind is not
 * even opened: opening a device may do something.  O_NOCTTY keeps a
 * terminal given by mistake from becoming the controlling terminal.
 *
 * Every function returns -1 with errno set and a message from
 * ni_error_set naming the file, as the rest of lib/.
 */
#ifndef NBD_INTEGRITY_USERFILE_H
#define NBD_INTEGRITY_USERFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The kinds of file userfile_open accepts, or'd together. */
#define USERFILE_REGULAR 1u
#define USERFILE_BLOCK 2u

/* Opens PATH with FLAGS (and MODE, with O_CREAT), close-on-exec, and
 * refuses it unless it is one of KINDS.  ROLE names the file in messages
 * ("key file"), or is NULL.  The descriptor, blocking; -1 with errno and
 * ni_error() ("key file PATH is a FIFO, not a regular file") on failure. */
int userfile_open (const char *path, int flags, mode_t mode, unsigned kinds,
                   const char *role);

/* Reads LEN bytes from FD, fewer only at the end of the file.  The number
 * read, or -1 with errno (no message) on failure. */
ssize_t userfile_read (int fd, void *buf, size_t len);

/* Whether A and B are the same file: the same inode, or the same block
 * device, if both exist (so a link to a file is that file), else the
 * same path once resolved as far as it can be (a file not there yet has
 * its directory resolved). */
bool userfile_same (const char *a, const char *b);

#endif

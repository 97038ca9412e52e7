/* The pieces of nbd-integrity serve, and all that passes between them.
 *
 * cmd-serve.c        the command, and the supervision of its children
 * serve-nbdkit.c     the nbdkit command line of an export
 */
#ifndef NBD_INTEGRITY_SERVE_H
#define NBD_INTEGRITY_SERVE_H

#include "config.h"

/* serve-nbdkit.c */

/* Export E's nbdkit, in the foreground and stopping with its parent,
 * listening where E says: for g_strfreev. */
char **nbdkit_argv (const struct config *cfg, const struct export_config *e);

/* Export E's nbdkit, serving the socket systemd passes: for g_strfreev. */
char **nbdkit_socket_activated_argv (const struct config *cfg,
                                     const struct export_config *e);

#endif

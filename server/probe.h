/* Whether a server takes connections: serve asks before removing a
 * socket file, attach while it waits for the servers to come up.
 *
 * Once connected, the probe leaves as an NBD client should, with
 * NBD_OPT_ABORT: nbdkit logs a connection closed in its handshake as an
 * error.  Whatever the server says, it was listening.
 */
#ifndef NBD_INTEGRITY_PROBE_H
#define NBD_INTEGRITY_PROBE_H

#include <stdbool.h>

/* Whether a server accepts connections on the Unix socket PATH. */
bool probe_unix (const char *path);

/* Whether a server accepts connections on HOST's TCP PORT, within
 * TIMEOUT_MS for each of HOST's addresses. */
bool probe_tcp (const char *host, unsigned port, int timeout_ms);

#endif

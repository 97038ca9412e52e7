/* The configuration file of serve, attach and detach.
 *
 * A glib key file (GKeyFile syntax): an optional [server] group with the
 * settings of the host, one [export NAME] group for each disk, and one
 * [array NAME] group for each MD array built on the exports.
 * nbd-integrity(8) describes every key.
 *
 * config_load reads the file and checks it whole, reporting every problem
 * as "FILE:LINE: reason", so that a configuration it returns is consistent
 * and serve and attach need not check it again.  Relative paths in the
 * file are taken from the file's directory, not from the current one
 * (which is / under systemd).
 */
#ifndef NBD_INTEGRITY_CONFIG_H
#define NBD_INTEGRITY_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* What the configuration is loaded for: a host that serves needs the
 * disks, a client may know an export only by where it listens. */
enum config_role {
  CONFIG_SERVE,
  CONFIG_ATTACH,
};

enum tls_mode { TLS_OFF, TLS_ON, TLS_REQUIRE };

/* One [export NAME] group.  Optional strings are NULL when not given. */
struct export_config {
  char *name;
  int line; /* of the [export NAME] line, for messages */

  /* The plugin's parameters. */
  char *disk; /* NULL only for CONFIG_ATTACH */
  char *keyfile, *hash, *mode;
  int64_t tag_cache, write_buffer; /* bytes; -1: the plugin's default */
  bool lock_memory;
  bool core_dumps; /* a keyed disk's server may dump core (plugin's) */

  /* Where nbdkit listens: socket, or port on address (NULL: all). */
  char *socket;
  char *address;
  unsigned port; /* 0 with socket */
  enum tls_mode tls;
  char *tls_certificates;
  bool tls_verify_peer;
  /* nbdkit --threads: 1 serves each connection's requests one at a time;
   * 0: nbdkit's default. */
  unsigned threads;

  /* How nbd-client attaches it. */
  char *device;
  char *host; /* NULL: address, or localhost */
  unsigned timeout;
  char *tls_certfile, *tls_keyfile, *tls_cacertfile, *tls_hostname;
};

/* One [array NAME] group. */
struct array_config {
  char *name;
  int line;
  char *device;
  char *level;
  GPtrArray *members; /* struct export_config *, in the order given */
  bool assume_clean;
};

struct config {
  char *file;
  char *nbdkit;     /* program name or path */
  char *plugin;     /* plugin name or path */
  char *status_dir; /* where each export's NAME.status goes */
  bool syslog;      /* log=syslog */
  unsigned restart_delay;
  unsigned timeout;   /* nbd-client -timeout of exports that give none */
  GPtrArray *exports; /* struct export_config *, in file order */
  GPtrArray *arrays;  /* struct array_config *, in file order */
};

/* Reads and checks FILE.  Prints every problem, as "nbd-integrity: CMD:
 * FILE:LINE: reason", and returns NULL if there was any. */
struct config *config_load (const char *cmd, const char *file,
                            enum config_role role);

void config_free (struct config *cfg);

/* The export called NAME, or NULL. */
struct export_config *config_export (const struct config *cfg,
                                     const char *name);

/* Where export E's nbdkit keeps its counters (status=PATH). */
char *config_status_path (const struct config *cfg,
                          const struct export_config *e);

/* The host nbd-client connects to for the TCP export E: host=, else
 * address= unless it is every address, else localhost. */
const char *config_client_host (const struct export_config *e);

/* The name of a tls_mode, as in tls= and nbdkit's --tls=. */
const char *tls_mode_name (enum tls_mode tls);

#endif

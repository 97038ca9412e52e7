/* The nbdkit command line of an export: the same plugin parameters and
 * server options whether serve supervises nbdkit or systemd's socket
 * starts it, so that the two serve a disk alike.
 */
#include "serve.h"
#include "tool.h"

static void
add_listener (GPtrArray *a, const struct export_config *e)
{
  if (e->socket) {
    argv_add (a, "-U");
    argv_add (a, "%s", e->socket);
    return;
  }
  if (e->address) {
    argv_add (a, "-i");
    argv_add (a, "%s", e->address);
  }
  argv_add (a, "-p");
  argv_add (a, "%u", e->port);
}

static void
add_tls (GPtrArray *a, const struct export_config *e)
{
  if (e->tls == TLS_OFF)
    return;
  argv_add (a, "--tls=%s", tls_mode_name (e->tls));
  if (e->tls_certificates)
    argv_add (a, "--tls-certificates=%s", e->tls_certificates);
  if (e->tls_verify_peer)
    argv_add (a, "--tls-verify-peer");
}

/* nbdkit's options other than where it listens: the same whether serve
 * starts it or systemd's socket does. */
static void
add_server_options (GPtrArray *a, const struct export_config *e)
{
  if (e->threads)
    argv_add (a, "--threads=%u", e->threads);
  add_tls (a, e);
}

static void
add_plugin_params (GPtrArray *a, const struct config *cfg,
                   const struct export_config *e)
{
  g_autofree char *status = config_status_path (cfg, e);

  argv_add (a, "file=%s", e->disk);
  if (e->keyfile)
    argv_add (a, "keyfile=%s", e->keyfile);
  if (e->hash)
    argv_add (a, "hash=%s", e->hash);
  if (e->mode)
    argv_add (a, "mode=%s", e->mode);
  if (e->tag_cache >= 0)
    argv_add (a, "tag-cache=%" G_GINT64_FORMAT, e->tag_cache);
  if (e->write_buffer >= 0)
    argv_add (a, "write-buffer=%" G_GINT64_FORMAT, e->write_buffer);
  if (e->lock_memory)
    argv_add (a, "lock-memory=true");
  if (e->core_dumps)
    argv_add (a, "core-dumps=true");
  argv_add (a, "status=%s", status);
}

/* With SUPERVISED, nbdkit in the foreground, logging to the supervisor's
 * pipe (with --log=syslog its messages would not carry the export's
 * name), and listening where E says.  Without, it serves the sockets
 * LISTEN_FDS names, and systemd supervises it. */
static char **
nbdkit_command (const struct config *cfg, const struct export_config *e,
                bool supervised)
{
  GPtrArray *a = g_ptr_array_new ();

  argv_add (a, "%s", cfg->nbdkit);
  if (supervised) {
    argv_add (a, "-f");
    argv_add (a, "--exit-with-parent");
    add_listener (a, e);
  }
  add_server_options (a, e);
  argv_add (a, "%s", cfg->plugin);
  add_plugin_params (a, cfg, e);
  g_ptr_array_add (a, NULL);
  return (char **)g_ptr_array_free (a, FALSE);
}

char **
nbdkit_argv (const struct config *cfg, const struct export_config *e)
{
  return nbdkit_command (cfg, e, true);
}

char **
nbdkit_socket_activated_argv (const struct config *cfg,
                              const struct export_config *e)
{
  return nbdkit_command (cfg, e, false);
}

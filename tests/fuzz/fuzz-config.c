/* Fuzz target: the configuration file of serve and attach (config_load).
 *
 * The input is the file, loaded for serving and for attaching.  What
 * config_load returns must be what config.h promises: every group of the
 * file read (GKeyFile, loading the same bytes, finds no group the
 * configuration lacks), each export named once, listening on a socket or
 * a port but not both, with its disk when served; each array of two
 * members or more, exports of this configuration that have a device.
 *
 * config_load prints every problem on stderr: scripts/fuzz runs this
 * target with stderr closed (-close_fd_mask=2).
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

/* config_load reads a file: the input, in a file in memory. */
static const char *
write_scratch (const uint8_t *data, size_t size)
{
  static char path[64];
  static int fd = -1;

  if (fd == -1) {
    fd = memfd_create ("fuzz-config", 0);
    fuzz_assert (fd != -1);
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  }
  fuzz_assert (ftruncate (fd, 0) == 0);
  fuzz_assert (size == 0 || pwrite (fd, data, size, 0) == (ssize_t)size);
  return path;
}

static void
check_export (const struct config *cfg, const struct export_config *e,
              enum config_role role, GKeyFile *kf)
{
  g_autofree char *group = g_strdup_printf ("export %s", e->name);
  g_autofree char *status = config_status_path (cfg, e);

  fuzz_assert (g_key_file_has_group (kf, group));
  fuzz_assert (config_export (cfg, e->name) == e);
  fuzz_assert (role != CONFIG_SERVE || e->disk != NULL);
  fuzz_assert ((e->socket != NULL) != (e->port != 0));
  fuzz_assert (e->tls <= TLS_REQUIRE && tls_mode_name (e->tls) != NULL);
  fuzz_assert (status != NULL && config_client_host (e) != NULL);
}

static void
check_array (const struct config *cfg, const struct array_config *a,
             GKeyFile *kf)
{
  g_autofree char *group = g_strdup_printf ("array %s", a->name);

  fuzz_assert (g_key_file_has_group (kf, group));
  fuzz_assert (a->device != NULL && a->level != NULL);
  fuzz_assert (a->members->len >= 2);
  for (guint i = 0; i < a->members->len; i++) {
    const struct export_config *e = g_ptr_array_index (a->members, i);

    fuzz_assert (config_export (cfg, e->name) == e && e->device != NULL);
  }
}

static void
check_config (const struct config *cfg, enum config_role role,
              const uint8_t *data, size_t size)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_auto (GStrv) groups = NULL;
  gsize nr_groups;

  fuzz_assert (g_key_file_load_from_data (kf, (const char *)data, size,
                                          G_KEY_FILE_NONE, NULL));
  groups = g_key_file_get_groups (kf, &nr_groups);
  fuzz_assert (nr_groups == g_key_file_has_group (kf, "server") +
                                cfg->exports->len + cfg->arrays->len);
  fuzz_assert (cfg->nbdkit && cfg->plugin && cfg->status_dir);
  for (guint i = 0; i < cfg->exports->len; i++)
    check_export (cfg, g_ptr_array_index (cfg->exports, i), role, kf);
  for (guint i = 0; i < cfg->arrays->len; i++)
    check_array (cfg, g_ptr_array_index (cfg->arrays, i), kf);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static const enum config_role roles[] = {CONFIG_SERVE, CONFIG_ATTACH};
  const char *file = write_scratch (data, size);

  for (size_t i = 0; i < G_N_ELEMENTS (roles); i++) {
    struct config *cfg = config_load ("fuzz", file, roles[i]);

    if (cfg)
      check_config (cfg, roles[i], data, size);
    config_free (cfg);
  }
  return 0;
}

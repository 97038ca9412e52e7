/* The configuration's checks across keys and across groups: where an
 * export listens, its TLS keys, an array's members, and what two exports
 * must not share.  Each key's own value is checked by its row of the
 * table (config-keys.c).
 */
#include <string.h>
#include <sys/un.h>

#include "config-internal.h"
#include "report.h"
#include "status.h"
#include "userfile.h"

/* Keys of one export. */

void
check_listener (struct parser *p, const char *group, void *obj)
{
  const struct export_config *e = obj;
  bool has_socket = has_key (p, group, "socket");
  bool has_port = has_key (p, group, "port");
  size_t max_socket = sizeof (((struct sockaddr_un *)NULL)->sun_path) - 1;

  if (has_socket && has_port)
    problem_at (p,
                MAX (line_of (p, group, "socket"), line_of (p, group, "port")),
                "socket= and port= both given: an export listens on a Unix "
                "socket or on a TCP port");
  else if (!has_socket && !has_port)
    problem (p, group, NULL,
             "[%s] listens nowhere: give socket=PATH or port=NUMBER", group);
  if (has_key (p, group, "address") && !has_port)
    problem (p, group, "address", "address= goes with port=");
  if (e->socket && strlen (e->socket) > max_socket)
    problem (p, group, "socket",
             "socket=%s: longer than the %zu bytes a Unix "
             "socket's path may have",
             e->socket, max_socket);
}

void
check_tls (struct parser *p, const char *group, void *obj)
{
  const struct export_config *e = obj;

  for (size_t i = 0; i < nr_config_keys && e->tls == TLS_OFF; i++) {
    const char *key = config_keys[i].name;

    if (config_keys[i].needs_tls && has_key (p, group, key))
      problem (p, group, key, "%s= needs tls=on or tls=require", key);
  }
  if (has_key (p, group, "tls-certfile") != has_key (p, group, "tls-keyfile"))
    problem (p, group,
             has_key (p, group, "tls-certfile") ? "tls-certfile"
                                                : "tls-keyfile",
             "tls-certfile= and tls-keyfile= go together: the client's "
             "certificate and its key");
}

void
check_client_host (struct parser *p, const char *group, void *obj)
{
  const struct export_config *e = obj;

  if (e->host && has_key (p, group, "socket"))
    problem (p, group, "host",
             "host= is for an export on a TCP port; a client attaches "
             "socket= on this host");
}

/* What the plugin would refuse at start: a status file that would
 * replace the export's disk, its key or another file. */
void
check_status_path (struct parser *p, const char *group,
                   const struct export_config *e)
{
  g_autofree char *status = config_status_path (p->cfg, e);

  if (p->role == CONFIG_SERVE && e->disk &&
      status_check_path (status, e->disk, e->keyfile) == -1)
    problem (p, group, NULL, "%s", ni_error ());
}

/* An array's members. */

/* The array that already has export E as a member, or NULL. */
static const struct array_config *
array_of (const struct config *cfg, const struct export_config *e)
{
  for (guint i = 0; i < cfg->arrays->len; i++) {
    const struct array_config *a = g_ptr_array_index (cfg->arrays, i);
    guint index;

    if (g_ptr_array_find (a->members, e, &index))
      return a;
  }
  return NULL;
}

static void
add_member (struct parser *p, const char *group, GPtrArray *members,
            const char *name)
{
  struct export_config *e = config_export (p->cfg, name);
  const struct array_config *other;

  if (e == NULL)
    problem (p, group, "members", "members=: there is no [export %s]", name);
  else if (g_ptr_array_find (members, e, NULL))
    problem (p, group, "members", "members=: %s is listed twice", name);
  else if ((other = array_of (p->cfg, e)) != NULL)
    problem (p, group, "members",
             "members=: %s is already a member of [array %s]", name,
             other->name);
  else if (e->device == NULL)
    problem (p, group, "members",
             "members=: [export %s] (line %d) has no device= to build "
             "the array on",
             name, e->line);
  else
    g_ptr_array_add (members, e);
}

void
add_members (struct parser *p, const char *group, GPtrArray *members,
             const char *value)
{
  g_auto (GStrv) names = g_strsplit (value, ",", -1);
  guint n = 0;

  for (int i = 0; names[i]; i++) {
    const char *name = g_strstrip (names[i]);
    if (*name) {
      add_member (p, group, members, name);
      n++;
    }
  }
  if (n < 2)
    problem (p, group, "members",
             "members=%s: an array needs 2 members or "
             "more",
             value);
}

/* What two exports must not share. */

bool
any_address (const char *address)
{
  return address == NULL || strcmp (address, "0.0.0.0") == 0 ||
         strcmp (address, "::") == 0;
}

/* Whether A and B would listen on the same TCP port.  Exports on other
 * hosts (host=) of a client's configuration may share a port. */
static bool
same_port (const struct export_config *a, const struct export_config *b)
{
  if (a->port == 0 || a->port != b->port)
    return false;
  if (a->host && b->host && strcmp (a->host, b->host) != 0)
    return false;
  return any_address (a->address) || any_address (b->address) ||
         strcmp (a->address, b->address) == 0;
}

/* Reports what export B shares with export A, which comes before it. */
static void
check_pair (struct parser *p, const struct export_config *a,
            const struct export_config *b)
{
  g_autofree char *group = g_strdup_printf ("export %s", b->name);

  if (a->socket && b->socket && strcmp (a->socket, b->socket) == 0)
    problem (p, group, "socket", "socket %s is also [export %s]'s (line %d)",
             b->socket, a->name, a->line);
  if (same_port (a, b))
    problem (p, group, "port", "port %u is also [export %s]'s (line %d)",
             b->port, a->name, a->line);
  if (a->disk && b->disk && userfile_same (a->disk, b->disk))
    problem (p, group, "disk",
             "disk %s is also [export %s]'s (line %d): two servers "
             "would corrupt it",
             b->disk, a->name, a->line);
  if (a->device && b->device && userfile_same (a->device, b->device))
    problem (p, group, "device", "device %s is also [export %s]'s (line %d)",
             b->device, a->name, a->line);
}

void
check_exports_apart (struct parser *p)
{
  const GPtrArray *exports = p->cfg->exports;

  for (guint j = 1; j < exports->len; j++)
    for (guint i = 0; i < j; i++)
      check_pair (p, g_ptr_array_index (exports, i),
                  g_ptr_array_index (exports, j));
}

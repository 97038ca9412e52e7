/* The table of configuration keys, and reading a group's keys by it.
 *
 * Each key of each group is one row of config_keys: its name and group,
 * the type of its value with its bounds or choices, or the plugin's
 * parameter whose validator (params.h) checks it, whether it must be
 * given, whether it means nothing without TLS, and the field of struct
 * config, export_config or array_config it goes in.  The row is all there
 * is of a key: the check for unknown keys, the reading and checking of
 * values, the TLS check (config-check.c), freeing what the structures
 * hold, and nbd-integrity(8)'s list of keys (which
 * tests/unit/test-config-doc.c holds to the table) all go by it.
 *
 * A group's keys are read in the table's order, and a row's `then' check
 * runs once the keys it looks at are read, so that every problem is
 * reported in the order it always was.
 */
#include <string.h>

#include "config-internal.h"
#include "params.h"
#include "report.h"

/* Where member M of TYPE is, and its type.  (An enum without negative
 * values is an unsigned to gcc and clang; a compiler for which it is not
 * refuses the row here rather than store it wrong.) */
#define FIELD_OF(type, m)                                                      \
  .offset = offsetof (type, m),                                                \
  .field = _Generic (((type *)0)->m,                                           \
      char *: FIELD_STRING,                                                    \
      bool: FIELD_BOOL,                                                        \
      unsigned: FIELD_UINT,                                                    \
      int64_t: FIELD_SIZE,                                                     \
      GPtrArray *: FIELD_MEMBERS)
#define SERVER(m) FIELD_OF (struct config, m)
#define EXPORT(m) FIELD_OF (struct export_config, m)
#define ARRAY(m) FIELD_OF (struct array_config, m)

#define UINT(lo, hi) .type = KEY_UINT, .min = (lo), .max = (hi)
#define CHOICE(list) .type = KEY_CHOICE, .choices = (list)
#define PARAM(name) .type = KEY_PARAM, .param = (name)
#define NEEDED(when, what) .need = (when), .missing = (what)

static const char *const logs[] = {"stderr", "syslog", NULL};
static const char *const tls_modes[] = {"off", "on", "require", NULL};
/* The levels mdadm --create takes that make sense over exports. */
static const char *const array_levels[] = {
    "linear", "0", "1", "4", "5", "6", "10", NULL,
};

const struct config_key config_keys[] = {
    {"nbdkit", GROUP_SERVER, .type = KEY_PROGRAM, SERVER (nbdkit)},
    {"plugin", GROUP_SERVER, .type = KEY_PROGRAM, SERVER (plugin)},
    {"log", GROUP_SERVER, CHOICE (logs), SERVER (syslog)},
    {"restart-delay", GROUP_SERVER, UINT (0, 3600), SERVER (restart_delay)},
    {"status-dir", GROUP_SERVER, .type = KEY_PATH, SERVER (status_dir)},
    {"timeout", GROUP_SERVER, UINT (1, 86400), SERVER (timeout)},

    /* What nbdkit serves. */
    {"disk", GROUP_EXPORT, PARAM ("file"), EXPORT (disk),
     NEEDED (REQUIRED_TO_SERVE, "give the disk to serve")},
    {"keyfile", GROUP_EXPORT, PARAM ("keyfile"), EXPORT (keyfile)},
    {"hash", GROUP_EXPORT, PARAM ("hash"), EXPORT (hash)},
    {"mode", GROUP_EXPORT, PARAM ("mode"), EXPORT (mode)},
    {"tag-cache", GROUP_EXPORT, PARAM ("tag-cache"), EXPORT (tag_cache)},
    {"write-buffer", GROUP_EXPORT, PARAM ("write-buffer"),
     EXPORT (write_buffer)},
    {"lock-memory", GROUP_EXPORT, PARAM ("lock-memory"), EXPORT (lock_memory)},
    {"core-dumps", GROUP_EXPORT, PARAM ("core-dumps"), EXPORT (core_dumps)},
    /* Where it listens. */
    {"socket", GROUP_EXPORT, .type = KEY_PATH, EXPORT (socket)},
    {"address", GROUP_EXPORT, .type = KEY_STRING, EXPORT (address)},
    {"port", GROUP_EXPORT, UINT (1, 65535), EXPORT (port),
     .then = check_listener},
    {"threads", GROUP_EXPORT, UINT (1, 1024), EXPORT (threads)},
    {"tls", GROUP_EXPORT, CHOICE (tls_modes), EXPORT (tls)},
    {"tls-certificates", GROUP_EXPORT, .type = KEY_PATH,
     EXPORT (tls_certificates), .needs_tls = true},
    {"tls-verify-peer", GROUP_EXPORT, .type = KEY_BOOL,
     EXPORT (tls_verify_peer), .needs_tls = true},
    /* How a client attaches it. */
    {"tls-certfile", GROUP_EXPORT, .type = KEY_PATH, EXPORT (tls_certfile),
     .needs_tls = true},
    {"tls-keyfile", GROUP_EXPORT, .type = KEY_PATH, EXPORT (tls_keyfile),
     .needs_tls = true},
    {"tls-cacertfile", GROUP_EXPORT, .type = KEY_PATH, EXPORT (tls_cacertfile),
     .needs_tls = true},
    {"tls-hostname", GROUP_EXPORT, .type = KEY_STRING, EXPORT (tls_hostname),
     .needs_tls = true, .then = check_tls},
    {"device", GROUP_EXPORT, .type = KEY_PATH, EXPORT (device)},
    {"host", GROUP_EXPORT, .type = KEY_STRING, EXPORT (host)},
    {"timeout", GROUP_EXPORT, UINT (1, 86400), EXPORT (timeout),
     .then = check_client_host},

    {"device", GROUP_ARRAY, .type = KEY_PATH, ARRAY (device),
     NEEDED (REQUIRED, "give the array's device, such as /dev/md0")},
    {"level", GROUP_ARRAY, CHOICE (array_levels), ARRAY (level),
     .give = "give linear, 0, 1, 4, 5, 6 or 10",
     NEEDED (REQUIRED, "give its RAID level")},
    {"assume-clean", GROUP_ARRAY, .type = KEY_BOOL, ARRAY (assume_clean)},
    {"members", GROUP_ARRAY, .type = KEY_MEMBERS, ARRAY (members),
     NEEDED (REQUIRED, "give its exports, such as members=d0,d1,d2")},
};

const size_t nr_config_keys = G_N_ELEMENTS (config_keys);

const char *
group_kind_name (enum group_kind kind)
{
  static const char *const names[] = {
      [GROUP_SERVER] = "server",
      [GROUP_EXPORT] = "export",
      [GROUP_ARRAY] = "array",
  };

  return names[kind];
}

/* What a value means: a string for FIELD_STRING, else a number. */
struct value {
  char *string;
  uint64_t number;
};

static bool
parse_bool_value (struct parser *p, const char *group,
                  const struct config_key *k, const char *value,
                  struct value *v)
{
  int r = parse_bool (value);

  if (r == -1) {
    problem (p, group, k->name, "%s=%s: give true or false", k->name, value);
    return false;
  }
  v->number = r;
  return true;
}

static bool
parse_uint (struct parser *p, const char *group, const struct config_key *k,
            const char *value, struct value *v)
{
  if (g_ascii_string_to_unsigned (value, 10, k->min, k->max, &v->number, NULL))
    return true;
  problem (p, group, k->name, "%s=%s: give a whole number from %u to %u",
           k->name, value, k->min, k->max);
  return false;
}

/* The index of VALUE in the choices, and VALUE itself. */
static bool
parse_choice (struct parser *p, const char *group, const struct config_key *k,
              const char *value, struct value *v)
{
  g_autofree char *list = NULL;

  for (int i = 0; k->choices[i]; i++)
    if (strcmp (value, k->choices[i]) == 0) {
      v->string = g_strdup (value);
      v->number = i;
      return true;
    }
  if (k->give) {
    problem (p, group, k->name, "%s=%s: %s", k->name, value, k->give);
    return false;
  }
  list = g_strjoinv (", ", (char **)k->choices);
  problem (p, group, k->name, "%s=%s: give one of %s", k->name, value, list);
  return false;
}

/* Checks VALUE as the plugin will: a file this accepts starts its
 * exports. */
static bool
parse_param (struct parser *p, const char *group, const struct config_key *k,
             const char *value, struct value *v)
{
  const struct param *param = param_by_name (k->param);
  union param_value pv;

  if (param_parse (param, value, &pv) == -1) {
    problem (p, group, k->name, "%s", ni_error ());
    return false;
  }
  switch (param->kind) {
  case PARAM_PATH:
    v->string = g_canonicalize_filename (value, p->dir);
    break;
  case PARAM_HASH:
  case PARAM_MODE:
    v->string = g_strdup (value);
    break;
  case PARAM_SIZE:
    v->number = pv.size;
    break;
  case PARAM_BOOL:
    v->number = pv.flag;
    break;
  }
  return true;
}

/* Reads VALUE, not empty, of key K into *V; false, reported, if it is
 * not one K takes. */
static bool
parse_value (struct parser *p, const char *group, const struct config_key *k,
             const char *value, struct value *v)
{
  switch (k->type) {
  case KEY_STRING:
  case KEY_MEMBERS:
    v->string = g_strdup (value);
    return true;
  case KEY_PATH:
    v->string = g_canonicalize_filename (value, p->dir);
    return true;
  case KEY_PROGRAM:
    v->string = strchr (value, '/') ? g_canonicalize_filename (value, p->dir)
                                    : g_strdup (value);
    return true;
  case KEY_BOOL:
    return parse_bool_value (p, group, k, value, v);
  case KEY_UINT:
    return parse_uint (p, group, k, value, v);
  case KEY_CHOICE:
    return parse_choice (p, group, k, value, v);
  case KEY_PARAM:
    return parse_param (p, group, k, value, v);
  }
  return false;
}

/* Puts V in key K's field of OBJ, taking its string. */
static void
store (struct parser *p, const char *group, const struct config_key *k,
       void *obj, struct value *v)
{
  void *field = (char *)obj + k->offset;

  switch (k->field) {
  case FIELD_STRING:
    g_free (*(char **)field);
    *(char **)field = g_steal_pointer (&v->string);
    break;
  case FIELD_BOOL:
    *(bool *)field = v->number != 0;
    break;
  case FIELD_UINT:
    *(unsigned *)field = v->number;
    break;
  case FIELD_SIZE:
    *(int64_t *)field = v->number;
    break;
  case FIELD_MEMBERS:
    add_members (p, group, *(GPtrArray **)field, v->string);
    break;
  }
}

static bool
needed (const struct parser *p, const struct config_key *k)
{
  return k->need == REQUIRED ||
         (k->need == REQUIRED_TO_SERVE && p->role == CONFIG_SERVE);
}

static void
read_key (struct parser *p, const char *group, const struct config_key *k,
          void *obj)
{
  g_autofree char *value = get_string (p, group, k->name);
  struct value v = {NULL, 0};

  if (value == NULL) {
    if (!has_key (p, group, k->name) && needed (p, k))
      problem (p, group, NULL, "[%s] has no %s=: %s", group, k->name,
               k->missing);
  } else if (parse_value (p, group, k, value, &v))
    store (p, group, k, obj, &v);
  g_free (v.string);
  if (k->then)
    k->then (p, group, obj);
}

const struct config_key *
config_key_find (enum group_kind kind, const char *name)
{
  for (size_t i = 0; i < nr_config_keys; i++)
    if (config_keys[i].group == kind && strcmp (config_keys[i].name, name) == 0)
      return &config_keys[i];
  return NULL;
}

/* Reports each key of GROUP that is not one of KIND's. */
static void
check_keys (struct parser *p, const char *group, enum group_kind kind)
{
  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);

    if (e->key && strcmp (e->group, group) == 0 &&
        !config_key_find (kind, e->key))
      problem_at (p, e->line, "unknown key %s= in [%s]", e->key, group);
  }
}

void
read_keys (struct parser *p, const char *group, enum group_kind kind, void *obj)
{
  check_keys (p, group, kind);
  for (size_t i = 0; i < nr_config_keys; i++)
    if (config_keys[i].group == kind)
      read_key (p, group, &config_keys[i], obj);
}

void
config_fields_free (enum group_kind kind, void *obj)
{
  for (size_t i = 0; i < nr_config_keys; i++) {
    const struct config_key *k = &config_keys[i];
    void *field = (char *)obj + k->offset;

    if (k->group == kind && k->field == FIELD_STRING)
      g_free (*(char **)field);
    else if (k->group == kind && k->field == FIELD_MEMBERS)
      g_clear_pointer ((GPtrArray **)field, g_ptr_array_unref);
  }
}

const char *
tls_mode_name (enum tls_mode tls)
{
  return tls_modes[tls];
}

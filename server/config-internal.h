/* What the three files of the configuration parser share; config.h is
 * the parser's interface to the rest of the tool.
 *
 * config.c loads the file, learns the line of every group and key, and
 * reads the groups in order; config-keys.c holds the table of every
 * group's keys and reads a group by it; config-check.c checks keys
 * against each other and exports against each other.
 */
#ifndef NBD_INTEGRITY_CONFIG_INTERNAL_H
#define NBD_INTEGRITY_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* A [GROUP] or KEY=VALUE line of the file. */
struct entry {
  char *group;
  char *key; /* NULL for the [GROUP] line */
  int line;
};

struct parser {
  const char *cmd, *file;
  enum config_role role;
  char *dir; /* the file's directory, for relative paths */
  GKeyFile *kf;
  GPtrArray *entries; /* struct entry, in file order */
  GHashTable *lines;  /* "GROUP" or "GROUP\nKEY" -> its line */
  struct config *cfg; /* what is read so far: members= names its exports */
  unsigned problems;
};

/* Reports a problem at LINE of the file, and counts it. */
void problem_at (struct parser *p, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* The same at the line of KEY in GROUP (see line_of). */
void problem (struct parser *p, const char *group, const char *key,
              const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

/* The line of KEY in GROUP, or of the [GROUP] line if KEY is NULL or not
 * there. */
int line_of (struct parser *p, const char *group, const char *key);

bool has_key (struct parser *p, const char *group, const char *key);

/* KEY's value in GROUP: NULL if it is not there, or (reported) empty or
 * not decodable. */
char *get_string (struct parser *p, const char *group, const char *key);

/* The table of keys (config-keys.c). */

enum group_kind { GROUP_SERVER, GROUP_EXPORT, GROUP_ARRAY };

enum key_type {
  KEY_STRING,
  KEY_PATH,    /* relative to the file's directory */
  KEY_PROGRAM, /* a name looked for on PATH, or a path */
  KEY_BOOL,    /* the plugin's spellings (parse_bool) */
  KEY_UINT,    /* from min to max */
  KEY_CHOICE,  /* one of choices: its index, or the string itself */
  KEY_PARAM,   /* the plugin's parameter param, checked by param_parse */
  KEY_MEMBERS, /* an array's exports, separated by commas */
};

/* The type of the field a key's value goes in. */
enum field_type {
  FIELD_STRING,  /* char *, g_free'd */
  FIELD_BOOL,    /* bool */
  FIELD_UINT,    /* unsigned, or an enum */
  FIELD_SIZE,    /* int64_t */
  FIELD_MEMBERS, /* GPtrArray * of struct export_config * */
};

enum key_need { OPTIONAL, REQUIRED, REQUIRED_TO_SERVE };

struct config_key {
  const char *name;
  enum group_kind group;
  enum key_type type;
  unsigned min, max;          /* KEY_UINT */
  const char *const *choices; /* KEY_CHOICE, NULL-terminated */
  const char *give;           /* KEY_CHOICE: what to give, if not "one of" */
  const char *param;          /* KEY_PARAM: the plugin's name for it */
  enum key_need need;
  const char *missing; /* not OPTIONAL: what to give, said when missing */
  bool needs_tls;      /* means nothing without tls=on or tls=require */
  /* Where the value goes in the group's struct config, export_config or
   * array_config; a refused value leaves the field as it was. */
  size_t offset;
  enum field_type field;
  /* Checks run once the key is read: it and the keys before it. */
  void (*then) (struct parser *p, const char *group, void *obj);
};

/* Every key of every group, in the order a group's are read. */
extern const struct config_key config_keys[];
extern const size_t nr_config_keys;

/* The row of key NAME of groups of KIND, or NULL. */
const struct config_key *config_key_find (enum group_kind kind,
                                          const char *name);

/* The name of groups of KIND: "server", "export", "array". */
const char *group_kind_name (enum group_kind kind);

/* Reads GROUP, of KIND, into OBJ (holding its defaults): reports each key
 * that is not KIND's, then reads KIND's keys, in the table's order. */
void read_keys (struct parser *p, const char *group, enum group_kind kind,
                void *obj);

/* Frees what the keys of KIND put in OBJ: their strings, and an array's
 * list of members. */
void config_fields_free (enum group_kind kind, void *obj);

/* Checks across keys and groups (config-check.c). */

/* The `then' checks of the table's rows, each on a struct export_config:
 * where it listens, its TLS keys, and the host a client attaches. */
void check_listener (struct parser *p, const char *group, void *obj);
void check_tls (struct parser *p, const char *group, void *obj);
void check_client_host (struct parser *p, const char *group, void *obj);

/* Adds the exports VALUE names to MEMBERS, reporting those that cannot be
 * an array's member, and fewer than two. */
void add_members (struct parser *p, const char *group, GPtrArray *members,
                  const char *value);

/* Reports a status file of export E that would replace another file. */
void check_status_path (struct parser *p, const char *group,
                        const struct export_config *e);

/* Reports what two exports of P->cfg share. */
void check_exports_apart (struct parser *p);

/* Whether ADDRESS (NULL: not given) is every address of the host. */
bool any_address (const char *address);

#endif

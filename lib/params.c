/* The plugin's parameters: see params.h. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hash.h"
#include "params.h"
#include "report.h"

const struct param params[] = {
    {"file", PARAM_PATH, 0, NULL},
    {"keyfile", PARAM_PATH, 0, NULL},
    {"status", PARAM_PATH, 0, NULL},
    {"hash", PARAM_HASH, 0, NULL},
    {"mode", PARAM_MODE, 0, NULL},
    {"tag-cache", PARAM_SIZE, 0, "the default"},
    /* Less would not hold one deferred write of the largest chunk. */
    {"write-buffer", PARAM_SIZE, 64 * 1024, "no deferred writes"},
    {"lock-memory", PARAM_BOOL, 0, NULL},
    {"core-dumps", PARAM_BOOL, 0, NULL},
};

const unsigned nr_params = sizeof params / sizeof params[0];

const struct param *
param_by_name (const char *name)
{
  for (unsigned i = 0; i < nr_params; i++)
    if (strcmp (params[i].name, name) == 0)
      return &params[i];
  return NULL;
}

bool
parse_size (const char *s, uint64_t *size)
{
  static const char suffixes[] = "KMGT";
  const char *suffix;
  unsigned shift = 0;
  uint64_t n;
  char *end;

  if (!isdigit ((unsigned char)*s))
    return false;
  errno = 0;
  n = strtoull (s, &end, 10);
  if (errno)
    return false;
  if (*end && (suffix = strchr (suffixes, toupper ((unsigned char)*end)))) {
    shift = 10 * (suffix - suffixes + 1);
    end++;
  }
  if (*end != '\0' || n > (UINT64_MAX >> shift))
    return false;
  *size = n << shift;
  return true;
}

int
parse_bool (const char *s)
{
  static const char *const yes[] = {"1", "true", "yes", "on"};
  static const char *const no[] = {"0", "false", "no", "off"};

  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
    if (strcasecmp (s, yes[i]) == 0)
      return 1;
    if (strcasecmp (s, no[i]) == 0)
      return 0;
  }
  return -1;
}

static int
bad_value (const struct param *p, const char *value, const char *what)
{
  ni_error_set ("%s=%s: %s", p->name, value, what);
  errno = EINVAL;
  return -1;
}

static int
parse_size_param (const struct param *p, const char *value, uint64_t *size)
{
  char what[160];

  if (!parse_size (value, size) || *size > INT64_MAX)
    return bad_value (p, value,
                      "give a size in bytes, optionally with K, M, G or T");
  if (*size == 0 || *size >= p->min_size)
    return 0;
  snprintf (what, sizeof what,
            "too small: give at least %" PRIu64 "K, or 0 for %s",
            p->min_size / 1024, p->zero_means);
  return bad_value (p, value, what);
}

int
param_parse (const struct param *p, const char *value, union param_value *v)
{
  int r;

  ni_error_clear ();
  switch (p->kind) {
  case PARAM_PATH:
    v->string = value;
    return *value ? 0 : bad_value (p, value, "give a path");
  case PARAM_HASH:
    v->string = value;
    if (hash_by_name (value))
      return 0;
    ni_error_set ("%s=%s: unknown algorithm; give one of %s", p->name, value,
                  hash_names ());
    errno = EINVAL;
    return -1;
  case PARAM_MODE:
    if ((r = disk_mode_by_name (value)) == -1)
      return bad_value (p, value, "give tags, full, none or recovery");
    v->mode = r;
    return 0;
  case PARAM_SIZE:
    return parse_size_param (p, value, &v->size);
  case PARAM_BOOL:
    if ((r = parse_bool (value)) == -1)
      return bad_value (p, value, "give true or false");
    v->flag = r;
    return 0;
  }
  return bad_value (p, value, "unknown kind of parameter");
}

/* The plugin's parameters, and the one check of their values.
 *
 * The plugin takes them as KEY=VALUE on nbdkit's command line;
 * nbd-integrity serve takes the same keys from a configuration file and
 * checks it before it starts anything, promising a file it accepts
 * starts.  Both check values here, so that each accepts exactly what the
 * other does.  Paths are resolved by the caller (nbdkit's directory, or
 * the configuration file's); here they need only be non-empty.
 */
#ifndef NBD_INTEGRITY_PARAMS_H
#define NBD_INTEGRITY_PARAMS_H

#include <stdbool.h>
#include <stdint.h>

#include "disk.h"

enum param_kind {
  PARAM_PATH,
  PARAM_HASH, /* an algorithm's name */
  PARAM_MODE, /* a crash mode's name */
  PARAM_SIZE, /* bytes, with an optional K, M, G or T */
  PARAM_BOOL,
};

struct param {
  const char *name; /* as the plugin takes it */
  enum param_kind kind;
  /* PARAM_SIZE: the least size other than 0 (0: any); 0 itself means
   * "the default" or "none", as the parameter says. */
  uint64_t min_size;
  const char *zero_means; /* PARAM_SIZE: for messages */
};

/* Every parameter, and how many. */
extern const struct param params[];
extern const unsigned nr_params;

/* The parameter called NAME, or NULL. */
const struct param *param_by_name (const char *name);

union param_value {
  const char *string; /* PARAM_PATH, PARAM_HASH: VALUE itself */
  enum disk_mode mode;
  uint64_t size;
  bool flag;
};

/* Checks VALUE for P and stores what it means in *V.  -1 with ni_error()
 * saying what is wrong and what to give, naming the parameter. */
int param_parse (const struct param *p, const char *value,
                 union param_value *v);

/* Parses a size: decimal digits with an optional suffix K, M, G or T
 * (either case; powers of 1024).  False if it is not one, or overflows. */
bool parse_size (const char *s, uint64_t *size);

/* Parses a boolean: 1, true, yes, on, or 0, false, no, off (any case).
 * -1 if it is neither. */
int parse_bool (const char *s);

#endif

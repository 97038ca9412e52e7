/* Preloaded into nbdkit after the sanitizer runtime by scripts/sanitize
 * (tests/integration/helpers.py), never linked into anything we ship.
 *
 * nbdkit links libp11-kit, whose constructor calls newlocale before the
 * preloaded runtime's own constructor has run.  glibc's newlocale mallocs
 * with its locale lock held; that first malloc initializes ASan or TSan,
 * whose initialization calls dlerror, which takes the same lock and
 * leaves it broken.  The next strerror (any "%m" message) then makes the
 * exit deadlock in p11-kit's destructor, in freelocale.  It happens with
 * any program that links libp11-kit; it is none of our code.
 *
 * This newlocale makes a malloc of its own first, with no lock held, so
 * that the runtime is initialized before glibc's newlocale runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

typedef locale_t (*newlocale_fn) (int, const char *, locale_t);

locale_t
newlocale (int category_mask, const char *locale, locale_t base)
{
  static newlocale_fn real;

  if (real == NULL) {
    void *volatile first = malloc (1);

    free (first);
    real = (newlocale_fn)dlsym (RTLD_NEXT, "newlocale");
  }
  return real (category_mask, locale, base);
}

/* Key files: see key.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "key.h"
#include "report.h"
#include "userfile.h"

/* Refuses a key that others can read, as ssh refuses such a private key:
 * whoever reads it can forge every tag. */
static int
check_private (int fd, const char *path)
{
  struct stat st;

  if (fstat (fd, &st) == -1) {
    ni_error_set ("key file %s: %m", path);
    return -1;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) == 0)
    return 0;
  ni_error_set ("key file %s can be read or written by others (mode %04o): "
                "whoever reads the key can forge tags; run chmod 600 %s",
                path, (unsigned)(st.st_mode & 07777), path);
  errno = EACCES;
  return -1;
}

struct key *
key_load (const char *path)
{
  struct key *key = NULL;
  uint8_t *buf;
  ssize_t len;
  int fd;

  if (hash_init_sodium () == -1)
    return NULL;
  buf = sodium_malloc (KEY_MAX_SIZE + 1);
  if (buf == NULL) {
    ni_error_set ("key file %s: cannot allocate locked memory for it: %m",
                  path);
    return NULL;
  }
  fd = userfile_open (path, O_RDONLY, 0, USERFILE_REGULAR, "key file");
  if (fd == -1)
    goto out;
  if (check_private (fd, path) == -1) {
    close (fd);
    goto out;
  }
  len = userfile_read (fd, buf, KEY_MAX_SIZE + 1);
  close (fd);
  if (len == -1) {
    ni_error_set ("key file %s: read: %m", path);
    goto out;
  }
  if (len < KEY_MIN_SIZE || len > KEY_MAX_SIZE) {
    ni_error_set ("key file %s: holds %s bytes; a key is %d to %d bytes "
                  "(make one with: head -c 32 /dev/urandom > %s)",
                  path, len > KEY_MAX_SIZE ? "too many" : "too few",
                  KEY_MIN_SIZE, KEY_MAX_SIZE, path);
    errno = EINVAL;
    goto out;
  }
  key = malloc (sizeof *key);
  if (key == NULL) {
    ni_error_set ("key file %s: cannot allocate the key: %m", path);
    goto out;
  }
  key->bytes = buf;
  key->len = len;
  return key;

out:
  sodium_free (buf);
  return NULL;
}

void
key_free (struct key *key)
{
  if (key == NULL)
    return;
  sodium_free (key->bytes);
  free (key);
}

struct hasher *
hasher_with_keyfile (const struct hash_alg *alg, const char *keyfile)
{
  struct key *key = NULL;
  struct hasher *h;

  errno = EINVAL;
  if (alg->keyed && keyfile == NULL) {
    ni_error_set ("%s is a keyed algorithm: give its key file "
                  "(keyfile=FILE when serving, --keyfile for the tool)",
                  alg->name);
    return NULL;
  }
  if (!alg->keyed && keyfile) {
    ni_error_set ("%s takes no key: leave the key file out (or use "
                  "blake2b-256-keyed or hmac-sha256)",
                  alg->name);
    return NULL;
  }
  if (keyfile && (key = key_load (keyfile)) == NULL)
    return NULL;
  h = hasher_new (alg, key ? key->bytes : NULL, key ? key->len : 0);
  key_free (key);
  return h;
}

/* Replays saved inputs through a fuzz target, as a unit test: every file
 * of each DIRECTORY, in name order, goes to LLVMFuzzerTestOneInput as
 * libFuzzer would give it.  A directory that does not exist holds none;
 * names starting with '.' are skipped.  An input that crashes the target
 * aborts the run, its name printed first.
 *
 *   replay-TARGET DIRECTORY...
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static uint8_t *
read_input (const char *path, size_t *size)
{
  FILE *f = fopen (path, "rb");
  uint8_t *data = NULL;
  long len;

  if (f == NULL || fseek (f, 0, SEEK_END) == -1 || (len = ftell (f)) < 0 ||
      fseek (f, 0, SEEK_SET) == -1 || (data = malloc (len + 1)) == NULL ||
      fread (data, 1, len, f) != (size_t)len) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  fclose (f);
  *size = len;
  return data;
}

static int
visible (const struct dirent *e)
{
  return e->d_name[0] != '.';
}

/* Replays every input in DIR; returns how many. */
static int
replay_dir (const char *dir)
{
  struct dirent **names;
  int n = scandir (dir, &names, visible, alphasort);

  if (n == -1 && errno == ENOENT)
    return 0;
  if (n == -1) {
    perror (dir);
    exit (EXIT_FAILURE);
  }
  for (int i = 0; i < n; i++) {
    char path[4096];
    size_t size;
    uint8_t *data;

    snprintf (path, sizeof path, "%s/%s", dir, names[i]->d_name);
    fprintf (stderr, "replaying %s\n", path);
    data = read_input (path, &size);
    LLVMFuzzerTestOneInput (data, size);
    free (data);
    free (names[i]);
  }
  free (names);
  return n;
}

int
main (int argc, char **argv)
{
  int total = 0;

  for (int i = 1; i < argc; i++)
    total += replay_dir (argv[i]);
  printf ("%d inputs replayed\n", total);
  return EXIT_SUCCESS;
}

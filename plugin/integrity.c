/* nbdkit integrity plugin: per-sector tags verified on every read.
 *
 * Thin glue: the disk (lib/disk.h) does the work.  One disk is opened in
 * get_ready and shared by every connection; requests on any connection
 * see every other connection's flushed writes, so multi-conn is safe.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "disk.h"
#include "publisher.h"
#include "params.h"
#include "report.h"
#include "status.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* -D integrity.journal=1: journal fill and commits on every flush. */
NBDKIT_DLL_PUBLIC int integrity_debug_journal;

static char *filename;
static char *keyfile;
static char *hash;
static char *status_path;
static int64_t tag_cache;
static int64_t write_buffer = -1; /* -1: the default; 0: write through */
static bool lock_memory;
static bool core_dumps; /* of a keyed disk's server */
static enum disk_mode mode = DISK_MODE_TAGS;
static struct disk *disk;
static struct publisher *publisher; /* NULL without status= */

static void
log_to_nbdkit (enum ni_log_level level, const char *msg)
{
  if (level == NI_LOG_DEBUG || level == NI_LOG_INFO)
    nbdkit_debug ("%s", msg);
  else
    nbdkit_error ("%s", msg);
}

static void
integrity_load (void)
{
  ni_log_set (log_to_nbdkit);
}

static void
integrity_unload (void)
{
  free (filename);
  free (keyfile);
  free (hash);
  free (status_path);
}

static int
set_path (char **dst, const char *value)
{
  free (*dst);
  *dst = nbdkit_absolute_path (value);
  return *dst ? 0 : -1;
}

/* Keeps parameter KEY's checked value V. */
static int
keep_param (const char *key, const union param_value *v)
{
  if (strcmp (key, "file") == 0)
    return set_path (&filename, v->string);
  if (strcmp (key, "keyfile") == 0)
    return set_path (&keyfile, v->string);
  if (strcmp (key, "status") == 0)
    return set_path (&status_path, v->string);
  if (strcmp (key, "hash") == 0) {
    free (hash);
    hash = strdup (v->string);
    return hash ? 0 : -1;
  }
  if (strcmp (key, "mode") == 0)
    mode = v->mode;
  else if (strcmp (key, "lock-memory") == 0)
    lock_memory = v->flag;
  else if (strcmp (key, "core-dumps") == 0)
    core_dumps = v->flag;
  else if (strcmp (key, "tag-cache") == 0)
    tag_cache = v->size;
  else
    write_buffer = v->size;
  return 0;
}

/* Every value is checked by lib's params.h, as nbd-integrity serve's
 * configuration check does: a file it accepts starts the plugin. */
static int
integrity_config (const char *key, const char *value)
{
  const struct param *p = param_by_name (key);
  union param_value v;

  if (p == NULL) {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  if (param_parse (p, value, &v) == -1) {
    nbdkit_error ("%s", ni_error ());
    return -1;
  }
  return keep_param (key, &v);
}

static int
integrity_config_complete (void)
{
  if (filename == NULL) {
    nbdkit_error ("you must give the disk to serve: file=DISK");
    return -1;
  }
  /* Before anything is opened: the status would replace what is there. */
  if (status_path && status_check_path (status_path, filename, keyfile) == -1) {
    nbdkit_error ("%s", ni_error ());
    return -1;
  }
  return 0;
}

#define integrity_config_help                                                  \
  "[file=]DISK           (required) The formatted disk or image to serve.\n"   \
  "keyfile=FILE          Key file of a keyed disk.\n"                          \
  "hash=ALG              Refuse to start unless the disk uses ALG.\n"          \
  "mode=MODE             Crash mode: tags (default), full, none, recovery.\n"  \
  "tag-cache=SIZE        Memory for cached tags (default 64M).\n"              \
  "write-buffer=SIZE     Memory for deferred writes (default 16M; 0: none).\n" \
  "status=PATH           Keep live counters in PATH (nbd-integrity status).\n" \
  "lock-memory=true      Keep the server in memory (for a client on this "     \
  "host).\n"                                                                   \
  "core-dumps=true       Let a keyed disk's server dump core (keys are left "  \
  "out)."

/* What recovery did, in the log; what it had to fail or repair, as an
 * error an administrator sees (each sector and block was logged too). */
static void
report_recovery (void)
{
  const struct recovery_report *r = disk_recovery_report (disk);

  if (r->sectors)
    nbdkit_debug ("%s: recovery: %" PRIu64 " journaled sectors: %" PRIu64
                  " new, %" PRIu64 " old, %" PRIu64 " neither",
                  filename, r->sectors, r->kept_new, r->kept_old, r->neither);
  if (r->neither || r->repaired || r->unflushed_lost)
    nbdkit_error ("%s: recovery: %" PRIu64 " sectors fail until rewritten, "
                  "%" PRIu64 " damaged journal blocks read from their "
                  "copies, %" PRIu64 " unflushed journal blocks lost; "
                  "served all the same (see the messages above)",
                  filename, r->neither, r->repaired, r->unflushed_lost);
}

/* The key and the states keyed with it are kept out of core dumps
 * (lib/hash.c), but a core made while a tag is computed may catch the
 * working copy on a thread's stack.  Unless core-dumps=true, a keyed
 * disk's server makes no core and cannot be traced by its user's
 * debuggers (PR_SET_DUMPABLE 0); root's still can. */
static int
forbid_core_dumps (void)
{
  if (keyfile == NULL || core_dumps)
    return 0;
  if (prctl (PR_SET_DUMPABLE, 0, 0, 0, 0) == -1) {
    nbdkit_error ("prctl: PR_SET_DUMPABLE: %m");
    return -1;
  }
  return 0;
}

static int
integrity_get_ready (void)
{
  struct disk_options opts = {
      .path = filename,
      .keyfile = keyfile,
      .hash = hash,
      .tag_cache_bytes = tag_cache,
      .write_buffer_bytes = write_buffer > 0 ? write_buffer : 0,
      .write_through = write_buffer == 0,
      .mode = mode,
  };

  if (forbid_core_dumps () == -1)
    return -1;
  disk = disk_open (&opts);
  if (disk == NULL) {
    nbdkit_error ("%s", ni_error ());
    return -1;
  }
  report_recovery ();
  return 0;
}

/* A server whose client is on the same host sits in the kernel's path to
 * free memory: dirty pages of a file system on our export are written
 * through us.  As an I/O flusher (inherited by every thread made after
 * this) our own allocations cannot wait for that writeback.  Needs
 * CAP_SYS_RESOURCE; without it, a local stack may deadlock under memory
 * pressure (see LOCAL STACKS in the man page). */
static void
become_io_flusher (void)
{
  if (prctl (PR_SET_IO_FLUSHER, 1, 0, 0, 0) == -1)
    nbdkit_debug ("%s: not an I/O flusher (%m): do not serve a client on "
                  "this host under memory pressure",
                  filename);
}

static int
start_threads (void)
{
  if (disk_start_background (disk) == -1)
    return -1;
  if (status_path)
    publisher = publisher_start (disk, status_path);
  return status_path && publisher == NULL ? -1 : 0;
}

/* lock-memory=true: no page of the server is paged out, so serving never
 * waits for a page to be read back in while memory is short.  Only pages
 * in use are locked (MCL_ONFAULT): locking every thread's whole stack, as
 * nbdkit --swap does, needs hundreds of MB per server. */
static int
lock_pages (void)
{
  if (!lock_memory)
    return 0;
  if (mlockall (MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == -1) {
    nbdkit_error ("%s: lock-memory: mlockall: %m: run as root, or raise "
                  "RLIMIT_MEMLOCK (ulimit -l)",
                  filename);
    return -1;
  }
  return 0;
}

/* Threads do not survive nbdkit's fork into the background: start the
 * checkpointer and the status publisher in the process that serves. */
static int
integrity_after_fork (void)
{
  become_io_flusher ();
  if (lock_pages () == -1)
    return -1;
  if (start_threads () == -1) {
    nbdkit_error ("%s", ni_error ());
    return -1;
  }
  return 0;
}

static void
integrity_cleanup (void)
{
  if (publisher && publisher_stop (publisher) == -1)
    nbdkit_error ("%s", ni_error ());
  publisher = NULL;
  if (disk && disk_close (disk) == -1)
    nbdkit_error ("%s: could not close cleanly: %s; the journal will be "
                  "replayed when it is next opened",
                  filename, ni_error ());
  disk = NULL;
}

static void *
integrity_open (int readonly)
{
  static int handle; /* every connection shares the one disk */

  (void)readonly;
  return &handle;
}

static int64_t
integrity_get_size (void *handle)
{
  (void)handle;
  return disk_size (disk);
}

static int
integrity_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                      uint32_t *maximum)
{
  uint32_t ss = disk_superblock (disk)->sector_size;

  (void)handle;
  *minimum = 1; /* unaligned requests are read-modify-written */
  *preferred = ss > 4096 ? ss : 4096;
  *maximum = 0xffffffff;
  return 0;
}

static int
integrity_can_multi_conn (void *handle)
{
  (void)handle;
  return 1;
}

static int
integrity_can_fua (void *handle)
{
  (void)handle;
  return NBDKIT_FUA_NATIVE;
}

static int
integrity_can_cache (void *handle)
{
  (void)handle;
  return NBDKIT_CACHE_EMULATE;
}

static int
integrity_can_do (void *handle)
{
  (void)handle;
  return 1;
}

/* Fast zero is advertised because the answer is always fast: a zero that
 * would write zeroes fails at once with ENOTSUP (disk_zero_fast).  Not
 * advertising it is no protection: nbdkit 1.32 aborts when a client sends
 * the flag anyway to a plugin that does not (backend.c, backend_zero). */
static int
integrity_can_fast_zero (void *handle)
{
  (void)handle;
  return 1;
}

static int
integrity_can_write (void *handle)
{
  (void)handle;
  return mode != DISK_MODE_RECOVERY; /* recovery mode is read-only */
}

static int
integrity_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
                 uint32_t flags)
{
  (void)handle;
  (void)flags;
  return disk_read (disk, buf, count, offset);
}

static int
integrity_pwrite (void *handle, const void *buf, uint32_t count,
                  uint64_t offset, uint32_t flags)
{
  (void)handle;
  return disk_write (disk, buf, count, offset, flags & NBDKIT_FLAG_FUA);
}

static void
debug_journal (void)
{
  struct journal_stats js;

  if (!integrity_debug_journal)
    return;
  disk_journal_stats (disk, &js);
  nbdkit_debug (
      "journal: %" PRIu64 "/%" PRIu64 " blocks used (%.1f%%), "
      "%" PRIu64 " commits of %" PRIu64 " records, %" PRIu64 " checkpoints",
      js.used_blocks, js.total_blocks,
      js.total_blocks ? 100.0 * js.used_blocks / js.total_blocks : 0.0,
      js.commits, js.records, js.checkpoints);
}

static int
integrity_flush (void *handle, uint32_t flags)
{
  (void)handle;
  (void)flags;
  debug_journal ();
  return disk_flush (disk);
}

static int
integrity_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void)handle;
  return disk_trim (disk, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int
integrity_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  bool fua = flags & NBDKIT_FLAG_FUA;

  (void)handle;
  if (flags & NBDKIT_FLAG_FAST_ZERO)
    return disk_zero_fast (disk, count, offset, fua);
  return disk_zero (disk, count, offset, fua);
}

static struct nbdkit_plugin plugin = {
    .name = "integrity",
    .longname = "nbdkit integrity plugin",
    .version = PACKAGE_VERSION,
    .description = "Per-sector integrity tags verified on every read",
    .load = integrity_load,
    .unload = integrity_unload,
    .config = integrity_config,
    .config_complete = integrity_config_complete,
    .config_help = integrity_config_help,
    .magic_config_key = "file",
    .get_ready = integrity_get_ready,
    .after_fork = integrity_after_fork,
    .cleanup = integrity_cleanup,
    .open = integrity_open,
    .get_size = integrity_get_size,
    .block_size = integrity_block_size,
    .can_write = integrity_can_write,
    .can_flush = integrity_can_do,
    .can_trim = integrity_can_do,
    .can_zero = integrity_can_do,
    .can_fast_zero = integrity_can_fast_zero,
    .can_fua = integrity_can_fua,
    .can_multi_conn = integrity_can_multi_conn,
    .can_cache = integrity_can_cache,
    .pread = integrity_pread,
    .pwrite = integrity_pwrite,
    .flush = integrity_flush,
    .trim = integrity_trim,
    .zero = integrity_zero,
    .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)

/* Probing servers: see probe.h. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "probe.h"

/* Just enough of NBD's fixed newstyle handshake to leave (see the NBD
 * project's doc/proto.md). */
#define NBD_GREETING "NBDMAGICIHAVEOPT"
#define NBD_OPT_MAGIC UINT64_C (0x49484156454f5054) /* "IHAVEOPT" */
#define NBD_FLAG_C_FIXED_NEWSTYLE 1
#define NBD_OPT_ABORT 2
#define NBD_GREETING_SIZE 18     /* magic, magic, handshake flags */
#define NBD_OPTION_REPLY_SIZE 20 /* magic, option, type, length */

struct __attribute__ ((packed)) nbd_abort {
  uint32_t client_flags;
  uint64_t magic;
  uint32_t option;
  uint32_t length;
};

/* Reads the greeting, asks to abort and waits for the answer, each
 * within TIMEOUT_MS; gives up quietly at the first surprise. */
static void
leave_politely (int fd, int timeout_ms)
{
  struct timeval tv = {.tv_sec = timeout_ms / 1000,
                       .tv_usec = timeout_ms % 1000 * 1000};
  const struct nbd_abort req = {
      .client_flags = htobe32 (NBD_FLAG_C_FIXED_NEWSTYLE),
      .magic = htobe64 (NBD_OPT_MAGIC),
      .option = htobe32 (NBD_OPT_ABORT),
      .length = 0,
  };
  char buf[NBD_OPTION_REPLY_SIZE];

  if (fcntl (fd, F_SETFL, 0) == -1 ||
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
    return;
  if (recv (fd, buf, NBD_GREETING_SIZE, MSG_WAITALL) != NBD_GREETING_SIZE ||
      memcmp (buf, NBD_GREETING, strlen (NBD_GREETING)) != 0)
    return;
  if (send (fd, &req, sizeof req, MSG_NOSIGNAL) == sizeof req)
    recv (fd, buf, NBD_OPTION_REPLY_SIZE, MSG_WAITALL);
}

/* A non-blocking connect, so that an address that drops packets costs
 * TIMEOUT_MS rather than the kernel's minutes. */
static bool
connects (int family, const struct sockaddr *addr, socklen_t len,
          int timeout_ms)
{
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct pollfd pfd = {.fd = fd, .events = POLLOUT};
  socklen_t errlen = sizeof (int);
  int err = 0;
  bool ok;

  if (fd == -1)
    return false;
  /* EAGAIN: a Unix socket's queue is full, so a server listens. */
  if (connect (fd, addr, len) == 0 || errno == EAGAIN)
    ok = true;
  else
    ok = errno == EINPROGRESS && poll (&pfd, 1, timeout_ms) == 1 &&
         getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == 0 && err == 0;
  if (ok)
    leave_politely (fd, timeout_ms);
  close (fd);
  return ok;
}

bool
probe_unix (const char *path)
{
  struct sockaddr_un addr = {.sun_family = AF_UNIX};

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  return connects (AF_UNIX, (struct sockaddr *)&addr, sizeof addr, 1000);
}

bool
probe_tcp (const char *host, unsigned port, int timeout_ms)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
  char service[16];
  bool ok = false;

  snprintf (service, sizeof service, "%u", port);
  if (getaddrinfo (host, service, &hints, &res) != 0)
    return false;
  for (ai = res; ai && !ok; ai = ai->ai_next)
    ok = connects (ai->ai_family, ai->ai_addr, ai->ai_addrlen, timeout_ms);
  freeaddrinfo (res);
  return ok;
}

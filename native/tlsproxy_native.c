/*
 * tlsproxy_native: the few system calls Node cannot make, for running under
 * Postfix's master(8) (see ../shared/spec/postfix-master-dropin.md):
 *
 *   recvFd(fd, max)           recvmsg() with room for SCM_RIGHTS, non-blocking:
 *                             null on EAGAIN, else { data: Buffer, fd: number (-1 = none), truncated }
 *   sendFd(fd, passFd, data)  sendmsg() of `data` with one descriptor (tests, fake requesters)
 *   send(fd, data)            non-blocking send(), MSG_NOSIGNAL: bytes sent, -1 on EAGAIN
 *   accept(fd)                accept4(SOCK_NONBLOCK|SOCK_CLOEXEC): new fd, -1 on EAGAIN
 *   close(fd)
 *   socketpair()              [fd, fd], AF_UNIX stream, close-on-exec
 *   dgramConnect(path)        a connected AF_UNIX datagram socket (postlogd, /dev/log)
 *   dgramBind(path)           a bound one (tests)
 *   listenUnix(path, backlog) a listening AF_UNIX stream socket (tests: an emulated master)
 *   socketInfo(fd)            { type: stream|dgram|other|none, listening, unix }
 *   setCloexec(fd, on) / isCloexec(fd) / setNonblock(fd, on) / isNonblock(fd)
 *   getpwnam(name)            { uid, gid, dir } or null
 *   chroot(path)
 *   alarm(seconds)            the watchdog: SIGALRM's default action ends the process
 *   watchdogStart(timeoutS, prefix) / watchdogBeat() / watchdogStop()
 *                             the one-process daemon's watchdog (supervisor/watchdog.ts): a
 *                             POSIX thread, no JavaScript isolate, that checks every second the
 *                             time of the event loop's last beat; past the timeout it writes
 *                             "<time> <prefix>fatal: watchdog timeout" to stderr and SIGKILLs
 *                             the process.
 *   new Poller(fd, cb, keepFlags)  a uv_poll watcher on the event loop: start(readable, writable),
 *                             stop(), close(), ref(), unref(); cb(status, readable, writable).
 *                             keepFlags: restore the descriptor's file status flags after
 *                             uv_poll_init (which makes it non-blocking), for descriptors whose
 *                             open file description is shared with other processes.
 *
 * AEAD record protection for the node provider: tlsproxy_aead.c.
 *
 * Errors are thrown as Error objects with `code` (EPIPE...), `errno` and `syscall`.
 */

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CHECK(call)                                                  \
  do {                                                               \
    if ((call) != napi_ok) {                                         \
      napi_throw_error(env, NULL, "tlsproxy_native: " #call);        \
      return NULL;                                                   \
    }                                                                \
  } while (0)

static const char *errno_code(int e) {
  switch (e) {
    case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE";
    case ECONNRESET: return "ECONNRESET";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    case EINVAL: return "EINVAL";
    case ENOTSOCK: return "ENOTSOCK";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case ENOMEM: return "ENOMEM";
    case EMSGSIZE: return "EMSGSIZE";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EADDRINUSE: return "EADDRINUSE";
    case ENOTCONN: return "ENOTCONN";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ENOTDIR: return "ENOTDIR";
    case EEXIST: return "EEXIST";
    case EINTR: return "EINTR";
    default: return "EUNKNOWN";
  }
}

static napi_value throw_errno(napi_env env, int e, const char *syscall) {
  char text[256];
  napi_value msg, code, err, num, sys;
  snprintf(text, sizeof(text), "%s: %s", syscall, strerror(e));
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, msg, &err);
  napi_create_int32(env, e, &num);
  napi_set_named_property(env, err, "errno", num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, err, "syscall", sys);
  napi_throw(env, err);
  return NULL;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < want) {
    napi_throw_type_error(env, NULL, "tlsproxy_native: missing arguments");
    return -1;
  }
  return 0;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  if (napi_get_value_int32(env, v, out) != napi_ok) {
    napi_throw_type_error(env, NULL, "tlsproxy_native: expected an integer");
    return -1;
  }
  return 0;
}

/* A string argument into a fixed buffer. */
static int get_string(napi_env env, napi_value v, char *buf, size_t size) {
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, size, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "tlsproxy_native: expected a string");
    return -1;
  }
  if (len >= size - 1) {
    napi_throw_range_error(env, NULL, "tlsproxy_native: string too long");
    return -1;
  }
  return 0;
}

static napi_value make_int(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

static napi_value make_bool(napi_env env, int b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

/* ------------------------------------------------------------------ recvFd */

#define MAX_PASSED_FDS 8

static napi_value RecvFd(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd, max;
  if (get_args(env, info, 2, argv) || get_int(env, argv[0], &fd) || get_int(env, argv[1], &max)) return NULL;
  if (max < 1 || max > 1 << 20) {
    napi_throw_range_error(env, NULL, "recvFd: bad size");
    return NULL;
  }
  void *data = malloc((size_t)max);
  if (!data) return throw_errno(env, ENOMEM, "recvmsg");
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_PASSED_FDS)];
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = (size_t)max};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  memset(&control, 0, sizeof(control));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    free(data);
    if (e == EAGAIN || e == EWOULDBLOCK) {
      napi_value nul;
      napi_get_null(env, &nul);
      return nul;
    }
    return throw_errno(env, e, "recvmsg");
  }
  int passed = -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *fds = (int *)CMSG_DATA(c);
    for (size_t i = 0; i < count; i++) {
      /* One descriptor is expected: keep the first, close any others. */
      if (passed < 0) passed = fds[i];
      else close(fds[i]);
    }
  }
  napi_value result, buffer;
  void *copy;
  if (napi_create_buffer_copy(env, (size_t)n, data, &copy, &buffer) != napi_ok) {
    free(data);
    if (passed >= 0) close(passed);
    napi_throw_error(env, NULL, "recvFd: cannot allocate a buffer");
    return NULL;
  }
  free(data);
  CHECK(napi_create_object(env, &result));
  napi_set_named_property(env, result, "data", buffer);
  napi_set_named_property(env, result, "fd", make_int(env, passed));
  napi_set_named_property(env, result, "truncated", make_bool(env, (msg.msg_flags & MSG_CTRUNC) != 0));
  return result;
}

/* ------------------------------------------------------------------ sendFd */

static napi_value SendFd(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int32_t fd, pass;
  void *data;
  size_t len;
  if (get_args(env, info, 3, argv) || get_int(env, argv[0], &fd) || get_int(env, argv[1], &pass)) return NULL;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok || len < 1) {
    napi_throw_type_error(env, NULL, "sendFd: expected a non-empty Buffer");
    return NULL;
  }
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  memset(&control, 0, sizeof(control));
  struct iovec iov = {.iov_base = data, .iov_len = len};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &pass, sizeof(int));
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, errno, "sendmsg");
  return make_int(env, n);
}

/* ------------------------------------------------------------------ send */

static napi_value Send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  void *data;
  size_t len;
  if (get_args(env, info, 2, argv) || get_int(env, argv[0], &fd)) return NULL;
  if (napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "send: expected a Buffer");
    return NULL;
  }
  ssize_t n;
  do {
    n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, errno, "send");
  }
  return make_int(env, n);
}

/* ------------------------------------------------------------------ accept */

static napi_value Accept(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &fd)) return NULL;
  int s;
  do {
    s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (s < 0 && errno == EINTR);
  if (s < 0) {
    /* Another process won the race, or the peer gave up before we got to it. */
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO) return make_int(env, -1);
    return throw_errno(env, errno, "accept");
  }
  return make_int(env, s);
}

static napi_value Close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &fd)) return NULL;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close");
  return NULL;
}

static napi_value SocketPair(napi_env env, napi_callback_info info) {
  (void)info;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) return throw_errno(env, errno, "socketpair");
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, make_int(env, sv[0]));
  napi_set_element(env, arr, 1, make_int(env, sv[1]));
  return arr;
}

/* ------------------------------------------------------------------ datagrams */

static int unix_address(napi_env env, napi_value v, struct sockaddr_un *sun) {
  memset(sun, 0, sizeof(*sun));
  sun->sun_family = AF_UNIX;
  return get_string(env, v, sun->sun_path, sizeof(sun->sun_path));
}

static napi_value DgramConnect(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un sun;
  if (get_args(env, info, 1, argv) || unix_address(env, argv[0], &sun)) return NULL;
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, errno, "socket");
  if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
    int e = errno;
    close(s);
    return throw_errno(env, e, "connect");
  }
  return make_int(env, s);
}

static napi_value DgramBind(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  struct sockaddr_un sun;
  if (get_args(env, info, 1, argv) || unix_address(env, argv[0], &sun)) return NULL;
  int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return throw_errno(env, errno, "socket");
  if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
    int e = errno;
    close(s);
    return throw_errno(env, e, "bind");
  }
  return make_int(env, s);
}

static napi_value ListenUnix(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct sockaddr_un sun;
  int32_t backlog;
  if (get_args(env, info, 2, argv) || unix_address(env, argv[0], &sun) || get_int(env, argv[1], &backlog)) return NULL;
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return throw_errno(env, errno, "socket");
  if (bind(s, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(s, backlog) < 0) {
    int e = errno;
    close(s);
    return throw_errno(env, e, "bind/listen");
  }
  return make_int(env, s);
}

/* "stream", "dgram", "other" or "none" (not a socket / not open), and whether it listens. */
static napi_value SocketInfo(napi_env env, napi_callback_info info) {
  napi_value argv[1], result, type;
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &fd)) return NULL;
  struct stat st;
  const char *kind = "none";
  int listening = 0, family = -1;
  if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
    int v = 0;
    socklen_t len = sizeof(v);
    kind = "other";
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) == 0) kind = v == SOCK_STREAM ? "stream" : v == SOCK_DGRAM ? "dgram" : "other";
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0) listening = v != 0;
    len = sizeof(v);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0) family = v;
  }
  CHECK(napi_create_object(env, &result));
  napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &type);
  napi_set_named_property(env, result, "type", type);
  napi_set_named_property(env, result, "listening", make_bool(env, listening));
  napi_set_named_property(env, result, "unix", make_bool(env, family == AF_UNIX));
  return result;
}

/* ------------------------------------------------------------------ descriptor flags */

static napi_value SetCloexec(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  bool on;
  if (get_args(env, info, 2, argv) || get_int(env, argv[0], &fd)) return NULL;
  napi_get_value_bool(env, argv[1], &on);
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  flags = on ? (flags | FD_CLOEXEC) : (flags & ~FD_CLOEXEC);
  if (fcntl(fd, F_SETFD, flags) < 0) return throw_errno(env, errno, "fcntl");
  return NULL;
}

static napi_value IsCloexec(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &fd)) return NULL;
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  return make_bool(env, (flags & FD_CLOEXEC) != 0);
}

static napi_value SetNonblock(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t fd;
  bool on;
  if (get_args(env, info, 2, argv) || get_int(env, argv[0], &fd)) return NULL;
  napi_get_value_bool(env, argv[1], &on);
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (fcntl(fd, F_SETFL, flags) < 0) return throw_errno(env, errno, "fcntl");
  return NULL;
}

static napi_value IsNonblock(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t fd;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &fd)) return NULL;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return throw_errno(env, errno, "fcntl");
  return make_bool(env, (flags & O_NONBLOCK) != 0);
}

/* ------------------------------------------------------------------ privileges */

static napi_value GetPwnam(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char name[256];
  if (get_args(env, info, 1, argv) || get_string(env, argv[0], name, sizeof(name))) return NULL;
  struct passwd pw, *found = NULL;
  char buf[4096];
  int e = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
  if (e != 0) return throw_errno(env, e, "getpwnam");
  napi_value result;
  if (!found) {
    napi_get_null(env, &result);
    return result;
  }
  napi_value dir;
  CHECK(napi_create_object(env, &result));
  napi_set_named_property(env, result, "uid", make_int(env, pw.pw_uid));
  napi_set_named_property(env, result, "gid", make_int(env, pw.pw_gid));
  napi_create_string_utf8(env, pw.pw_dir ? pw.pw_dir : "", NAPI_AUTO_LENGTH, &dir);
  napi_set_named_property(env, result, "dir", dir);
  return result;
}

static napi_value Chroot(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  char path[4096];
  if (get_args(env, info, 1, argv) || get_string(env, argv[0], path, sizeof(path))) return NULL;
  if (chroot(path) < 0) return throw_errno(env, errno, "chroot");
  if (chdir("/") < 0) return throw_errno(env, errno, "chdir");
  return NULL;
}

static napi_value Alarm(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int32_t seconds;
  if (get_args(env, info, 1, argv) || get_int(env, argv[0], &seconds)) return NULL;
  if (seconds < 0) seconds = 0;
  return make_int(env, alarm((unsigned)seconds));
}

/* ------------------------------------------------------------------ watchdog thread */

static atomic_llong wd_beat;      /* time(NULL) of the last beat */
static atomic_long wd_generation; /* a thread watches while this is the value it was started with */
static atomic_int wd_timeout;
static char wd_prefix[512];       /* written before the thread starts, read-only after */

static void *watchdog_main(void *arg) {
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  long mine = (long)(intptr_t)arg;
  for (;;) {
    sleep(1);
    if (atomic_load(&wd_generation) != mine) break; /* stopped, or replaced by a newer start */
    time_t now = time(NULL);
    if ((long long)now - atomic_load(&wd_beat) > atomic_load(&wd_timeout)) {
      struct tm tm;
      char line[640];
      localtime_r(&now, &tm);
      int n = snprintf(line, sizeof(line), "%s %02d %02d:%02d:%02d %sfatal: watchdog timeout\n", months[tm.tm_mon], tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec, wd_prefix);
      if (n > 0) {
        ssize_t w = write(2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
        (void)w;
      }
      kill(getpid(), SIGKILL);
      break;
    }
  }
  return NULL;
}

static napi_value WatchdogStart(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int32_t seconds;
  char prefix[sizeof(wd_prefix)];
  if (get_args(env, info, 2, argv) || get_int(env, argv[0], &seconds) || get_string(env, argv[1], prefix, sizeof(prefix))) return NULL;
  /* A running thread stops at its next wake-up; the prefix changes only between threads. */
  long mine = atomic_fetch_add(&wd_generation, 1) + 1;
  memcpy(wd_prefix, prefix, sizeof(prefix));
  atomic_store(&wd_timeout, seconds < 1 ? 1 : seconds);
  atomic_store(&wd_beat, (long long)time(NULL));
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  int rc = pthread_create(&t, &attr, watchdog_main, (void *)(intptr_t)mine);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    atomic_fetch_add(&wd_generation, 1);
    return throw_errno(env, rc, "pthread_create");
  }
  return NULL;
}

static napi_value WatchdogBeat(napi_env env, napi_callback_info info) {
  atomic_store(&wd_beat, (long long)time(NULL));
  return NULL;
}

static napi_value WatchdogStop(napi_env env, napi_callback_info info) {
  atomic_fetch_add(&wd_generation, 1);
  return NULL;
}

/* ------------------------------------------------------------------ Poller */

typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref self;      /* strong while the handle is open: keeps the JS object alive */
  napi_ref callback;
  napi_async_context context;
  int fd;
  int open;           /* uv handle initialised and uv_close not yet called */
  int uv_closed;      /* uv_close's callback ran: the handle memory is free to go */
  int finalized;      /* the JS object was collected */
} Poller;

/* The struct lives until both the uv handle is closed and the JS object is gone. */
static void poller_closed(uv_handle_t *h) {
  Poller *p = (Poller *)h->data;
  p->uv_closed = 1;
  if (p->finalized) free(p);
}

static void poller_do_close(Poller *p) {
  if (!p->open) return;
  p->open = 0;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, poller_closed);
  if (p->callback) {
    napi_delete_reference(p->env, p->callback);
    p->callback = NULL;
  }
  if (p->context) {
    napi_async_destroy(p->env, p->context);
    p->context = NULL;
  }
  if (p->self) {
    napi_delete_reference(p->env, p->self);
    p->self = NULL;
  }
}

static void poller_event(uv_poll_t *h, int status, int events) {
  Poller *p = (Poller *)h->data;
  napi_env env = p->env;
  if (!p->open || !p->callback) return;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, self, argv[3], result;
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_reference_value(env, p->self, &self);
  argv[0] = make_int(env, status);
  argv[1] = make_bool(env, (events & UV_READABLE) != 0 || (events & UV_DISCONNECT) != 0);
  argv[2] = make_bool(env, (events & UV_WRITABLE) != 0);
  napi_status s = napi_make_callback(env, p->context, self, cb, 3, argv, &result);
  if (s == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

static void poller_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Poller *p = (Poller *)data;
  p->finalized = 1;
  if (p->open) {
    /* Only at environment teardown (an open poller is strongly referenced). */
    p->open = 0;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, poller_closed);
    return;
  }
  if (p->uv_closed) free(p);
}

static napi_value PollerNew(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, NULL, "Poller(fd, callback, keepFlags)");
    return NULL;
  }
  int32_t fd;
  if (get_int(env, argv[0], &fd)) return NULL;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) {
    napi_throw_type_error(env, NULL, "Poller: callback must be a function");
    return NULL;
  }
  bool keep = false;
  if (argc >= 3) napi_get_value_bool(env, argv[2], &keep);
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  Poller *p = calloc(1, sizeof(Poller));
  if (!p) return throw_errno(env, ENOMEM, "Poller");
  p->env = env;
  p->fd = fd;
  int flags = keep ? fcntl(fd, F_GETFL) : 0;
  if (keep && flags < 0) {
    int e = errno;
    free(p);
    return throw_errno(env, e, "fcntl");
  }
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r != 0) {
    free(p);
    return throw_errno(env, -r, "uv_poll_init");
  }
  if (keep) fcntl(fd, F_SETFL, flags);
  p->handle.data = p;
  p->open = 1;
  napi_value name;
  napi_create_string_utf8(env, "tlsproxy:Poller", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->context);
  napi_create_reference(env, argv[1], 1, &p->callback);
  if (napi_wrap(env, self, p, poller_finalize, NULL, NULL) != napi_ok) {
    p->finalized = 1;
    poller_do_close(p);
    napi_throw_error(env, NULL, "Poller: wrap failed");
    return NULL;
  }
  napi_create_reference(env, self, 1, &p->self);
  return self;
}

static Poller *unwrap(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_error(env, NULL, "Poller: not a Poller");
    return NULL;
  }
  return (Poller *)data;
}

static napi_value PollerStart(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Poller *p = unwrap(env, info, 2, argv);
  if (!p) return NULL;
  if (!p->open) {
    napi_throw_error(env, "ERR_CLOSED", "Poller: closed");
    return NULL;
  }
  bool r = false, w = false;
  napi_get_value_bool(env, argv[0], &r);
  napi_get_value_bool(env, argv[1], &w);
  int events = (r ? UV_READABLE | UV_DISCONNECT : 0) | (w ? UV_WRITABLE : 0);
  if (!events) {
    uv_poll_stop(&p->handle);
    return NULL;
  }
  int e = uv_poll_start(&p->handle, events, poller_event);
  if (e != 0) return throw_errno(env, -e, "uv_poll_start");
  return NULL;
}

static napi_value PollerStop(napi_env env, napi_callback_info info) {
  Poller *p = unwrap(env, info, 0, NULL);
  if (!p) return NULL;
  if (p->open) uv_poll_stop(&p->handle);
  return NULL;
}

static napi_value PollerClose(napi_env env, napi_callback_info info) {
  Poller *p = unwrap(env, info, 0, NULL);
  if (!p) return NULL;
  poller_do_close(p);
  return NULL;
}

static napi_value PollerRef(napi_env env, napi_callback_info info) {
  Poller *p = unwrap(env, info, 0, NULL);
  if (!p) return NULL;
  if (p->open) uv_ref((uv_handle_t *)&p->handle);
  return NULL;
}

static napi_value PollerUnref(napi_env env, napi_callback_info info) {
  Poller *p = unwrap(env, info, 0, NULL);
  if (!p) return NULL;
  if (p->open) uv_unref((uv_handle_t *)&p->handle);
  return NULL;
}

/* ------------------------------------------------------------------ module */

napi_value tlsproxy_aead_init(napi_env env, napi_value exports); /* tlsproxy_aead.c */

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"recvFd", NULL, RecvFd, NULL, NULL, NULL, napi_default, NULL},
      {"sendFd", NULL, SendFd, NULL, NULL, NULL, napi_default, NULL},
      {"send", NULL, Send, NULL, NULL, NULL, napi_default, NULL},
      {"accept", NULL, Accept, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"socketpair", NULL, SocketPair, NULL, NULL, NULL, napi_default, NULL},
      {"dgramConnect", NULL, DgramConnect, NULL, NULL, NULL, napi_default, NULL},
      {"dgramBind", NULL, DgramBind, NULL, NULL, NULL, napi_default, NULL},
      {"listenUnix", NULL, ListenUnix, NULL, NULL, NULL, napi_default, NULL},
      {"socketInfo", NULL, SocketInfo, NULL, NULL, NULL, napi_default, NULL},
      {"setCloexec", NULL, SetCloexec, NULL, NULL, NULL, napi_default, NULL},
      {"isCloexec", NULL, IsCloexec, NULL, NULL, NULL, napi_default, NULL},
      {"setNonblock", NULL, SetNonblock, NULL, NULL, NULL, napi_default, NULL},
      {"isNonblock", NULL, IsNonblock, NULL, NULL, NULL, napi_default, NULL},
      {"getpwnam", NULL, GetPwnam, NULL, NULL, NULL, napi_default, NULL},
      {"chroot", NULL, Chroot, NULL, NULL, NULL, napi_default, NULL},
      {"alarm", NULL, Alarm, NULL, NULL, NULL, napi_default, NULL},
      {"watchdogStart", NULL, WatchdogStart, NULL, NULL, NULL, napi_default, NULL},
      {"watchdogBeat", NULL, WatchdogBeat, NULL, NULL, NULL, napi_default, NULL},
      {"watchdogStop", NULL, WatchdogStop, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns) != napi_ok) return NULL;
  napi_property_descriptor methods[] = {
      {"start", NULL, PollerStart, NULL, NULL, NULL, napi_default, NULL},
      {"stop", NULL, PollerStop, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, PollerClose, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, PollerRef, NULL, NULL, NULL, napi_default, NULL},
      {"unref", NULL, PollerUnref, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "Poller", NAPI_AUTO_LENGTH, PollerNew, NULL, sizeof(methods) / sizeof(methods[0]), methods, &cls) != napi_ok)
    return NULL;
  napi_set_named_property(env, exports, "Poller", cls);
  return tlsproxy_aead_init(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)

#define _GNU_SOURCE
#include "socket_shim.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The one place EINTR is handled: the call is made again (a poll with the time left). */
#define RETRY_EINTR(r, call) do { (r) = (call); } while ((r) < 0 && errno == EINTR)

_Static_assert(sizeof(((shim_addr *)0)->storage) >= sizeof(struct sockaddr_storage),
               "shim_addr holds a sockaddr_storage");

#define SA(a) ((struct sockaddr_storage *)(void *)(a)->storage)

int shim_addr_family(const shim_addr *a) {
    return SA(a)->ss_family;
}

static void shim_err(char *err, size_t errlen, const char *call, const char *name,
                     const char *reason) {
    if (err && errlen) snprintf(err, errlen, "%s %s: %s", call, name, reason);
}

int64_t shim_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining_ms(int64_t deadline) {
    if (deadline < 0) return -1;
    int64_t left = deadline - shim_now_ms();
    if (left <= 0) return 0;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* Polls until fd is ready for events or the deadline passes: 1 ready, 0 timeout,
 * -1 error (errno set). */
static int wait_fd(int fd, short events, int64_t deadline) {
    struct pollfd p = {.fd = fd, .events = events};
    int r;
    RETRY_EINTR(r, poll(&p, 1, remaining_ms(deadline)));
    return r > 0 ? 1 : r;
}

int shim_resolve_tcp(const char *host, const char *port, shim_addr *out,
                     char *err, size_t errlen) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        shim_err(err, errlen, "getaddrinfo", host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return -1;
    }
    memcpy(SA(out), res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int shim_resolve_unix(const char *path, shim_addr *out, char *err, size_t errlen) {
    struct sockaddr_un *sun = (struct sockaddr_un *)SA(out);
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun->sun_path) {
        shim_err(err, errlen, "socket", path, "path empty or too long for a unix socket");
        return -1;
    }
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    out->len = (unsigned int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int shim_connect(const shim_addr *a, int64_t deadline, const char *name,
                 char *err, size_t errlen) {
    int fd = socket(SA(a)->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        shim_err(err, errlen, "socket", name, strerror(errno));
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)SA(a), (socklen_t)a->len) == 0) return fd;
    /* EINTR on a non-blocking connect leaves it in progress, like EINPROGRESS.
     * A unix socket with a full backlog answers EAGAIN: wait as for TCP. */
    if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN) {
        shim_err(err, errlen, "connect", name, strerror(errno));
        close(fd);
        return -1;
    }
    int r = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
        return fd;
    shim_err(err, errlen, "connect", name,
             r == 0 ? "timed out" : strerror(r < 0 ? errno : soerr));
    close(fd);
    return -1;
}

int shim_write_all(int fd, const void *buf, size_t len, int64_t deadline,
                   const char *name, char *err, size_t errlen) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n;
        RETRY_EINTR(n, write(fd, p, len));
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN) {
            shim_err(err, errlen, "write", name, strerror(errno));
            return -1;
        }
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r <= 0) {
            shim_err(err, errlen, "write", name, r == 0 ? "timed out" : strerror(errno));
            return -1;
        }
    }
    return 0;
}

ssize_t shim_read(int fd, void *buf, size_t cap, int64_t deadline,
                  const char *name, char *err, size_t errlen) {
    for (;;) {
        ssize_t n;
        RETRY_EINTR(n, read(fd, buf, cap));
        if (n >= 0) return n;
        if (errno != EAGAIN) {
            shim_err(err, errlen, "read", name, strerror(errno));
            return -1;
        }
        int r = wait_fd(fd, POLLIN, deadline);
        if (r <= 0) {
            shim_err(err, errlen, "read", name, r == 0 ? "timed out" : strerror(errno));
            return -1;
        }
    }
}

int shim_wait_readable(int fd, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? -1 : shim_now_ms() + timeout_ms;
    return wait_fd(fd, POLLIN, deadline);
}

void shim_setup_signals(void) {
    signal(SIGPIPE, SIG_IGN);
    /* A parent may hand down SIGTERM blocked or ignored; supervisord's stop must work. */
    sigset_t set;
    sigemptyset(&set);
    int stops[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        signal(stops[i], SIG_DFL);
        sigaddset(&set, stops[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* The shim's rule: small, flat functions, one system call's worth each; every failure goes
 * through shim_err, which names the call; EINTR is retried in one macro. See shim.h. */
#define _GNU_SOURCE
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RETRY_EINTR(r, call) do { (r) = (call); } while ((r) < 0 && errno == EINTR)

_Static_assert(sizeof(((shim_addr *)0)->storage) >= sizeof(struct sockaddr_storage),
               "shim_addr holds a sockaddr_storage");
_Static_assert(sizeof(shim_pollfd) == sizeof(struct pollfd), "shim_pollfd is a pollfd");
_Static_assert(SHIM_POLLIN == POLLIN && SHIM_POLLOUT == POLLOUT && SHIM_POLLERR == POLLERR
               && SHIM_POLLHUP == POLLHUP && SHIM_POLLNVAL == POLLNVAL, "poll bits");

#define SA(a) ((struct sockaddr_storage *)(void *)(a)->storage)

/* The errno of the last failure reported: the failure's identity beside its words. */
static _Thread_local int last_errno;

/* The one error function: "<call> <name>: <reason>" into err, code kept for
 * shim_error_code(). reason NULL: strerror(code). code 0: a failure no errno names. */
static int shim_err(char *err, size_t errlen, int code, const char *call, const char *name,
                    const char *reason) {
    last_errno = code;
    if (err && errlen) snprintf(err, errlen, "%s %s: %s", call, name, reason ? reason : strerror(code));
    return -1;
}

int shim_error_code(void) {
    return last_errno;
}

int64_t shim_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int shim_addr_family(const shim_addr *a) {
    return SA(a)->ss_family;
}

int shim_resolve_tcp(const char *host, const char *port, shim_addr *out, int max,
                     char *err, size_t errlen) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        return shim_err(err, errlen, rc == EAI_SYSTEM ? errno : 0, "getaddrinfo", host,
                        rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
    int n = 0;
    for (struct addrinfo *ai = res; ai && n < max; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage)) continue;
        memcpy(SA(&out[n]), ai->ai_addr, ai->ai_addrlen);
        out[n].len = ai->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    if (n == 0) return shim_err(err, errlen, 0, "getaddrinfo", host, "no address");
    return n;
}

int shim_resolve_unix(const char *path, shim_addr *out, char *err, size_t errlen) {
    struct sockaddr_un *sun = (struct sockaddr_un *)SA(out);
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sun->sun_path)
        return shim_err(err, errlen, ENAMETOOLONG, "socket", path, "path empty or too long for a unix socket");
    memset(sun, 0, sizeof *sun);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, path, n);
    out->len = (unsigned int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 1;
}

int shim_connect_start(const shim_addr *a, int *fd, const char *name, char *err, size_t errlen) {
    *fd = socket(SA(a)->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (*fd < 0) return shim_err(err, errlen, errno, "socket", name, NULL);
    if (connect(*fd, (const struct sockaddr *)SA(a), (socklen_t)a->len) == 0) return SHIM_CONNECTED;
    int e = errno;
    /* EINTR on a non-blocking connect leaves it in progress, like EINPROGRESS. */
    if (e == EINPROGRESS || e == EINTR) return SHIM_IN_PROGRESS;
    close(*fd);
    *fd = -1;
    /* A unix socket whose listen backlog is full refuses at once with EAGAIN and is not
     * left connecting: the caller tries again until its deadline. */
    if (e == EAGAIN && SA(a)->ss_family == AF_UNIX) return SHIM_BACKLOG_FULL;
    return shim_err(err, errlen, e, "connect", name, NULL);
}

int shim_connect_finish(int fd, const char *name, char *err, size_t errlen) {
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        return shim_err(err, errlen, errno, "getsockopt", name, NULL);
    if (soerr != 0) return shim_err(err, errlen, soerr, "connect", name, NULL);
    return 0;
}

int shim_connected_to_self(int fd, const char *name, char *err, size_t errlen) {
    struct sockaddr_storage me, peer;
    socklen_t ml = sizeof me, pl = sizeof peer;
    if (getsockname(fd, (struct sockaddr *)&me, &ml) != 0)
        return shim_err(err, errlen, errno, "getsockname", name, NULL);
    if (getpeername(fd, (struct sockaddr *)&peer, &pl) != 0)
        return shim_err(err, errlen, errno, "getpeername", name, NULL);
    if (ml != pl || memcmp(&me, &peer, ml) != 0) return 0;
    /* Its close must not leave the port held (FIN_WAIT, TIME_WAIT) where a program is about
     * to bind it: an abortive close frees it at once. */
    struct linger abort_close = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_close, sizeof abort_close);
    return 1;
}

int shim_listen_tcp(const shim_addr *a, int backlog, const char *name, char *err, size_t errlen) {
    int fd = socket(SA(a)->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return shim_err(err, errlen, errno, "socket", name, NULL);
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        shim_err(err, errlen, errno, "setsockopt", name, NULL);
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)SA(a), a->len) < 0) {
        shim_err(err, errlen, errno, "bind", name, NULL);
        close(fd);
        return -1;
    }
    if (listen(fd, backlog) < 0) {
        shim_err(err, errlen, errno, "listen", name, NULL);
        close(fd);
        return -1;
    }
    return fd;
}

int shim_accept(int fd, shim_addr *peer, const char *name, char *err, size_t errlen) {
    socklen_t len = sizeof(struct sockaddr_storage);
    int c;
    RETRY_EINTR(c, accept4(fd, (struct sockaddr *)SA(peer), &len, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (c >= 0) {
        peer->len = len;
        return c;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EPROTO)
        return SHIM_WOULD_BLOCK;
    return shim_err(err, errlen, errno, "accept", name, NULL);
}

int shim_addr_ip(const shim_addr *a, unsigned char *out) {
    if (SA(a)->ss_family == AF_INET) {
        memcpy(out, &((const struct sockaddr_in *)(const void *)a->storage)->sin_addr, 4);
        return 4;
    }
    if (SA(a)->ss_family == AF_INET6) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)(const void *)a->storage)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            memcpy(out, v6->s6_addr + 12, 4);
            return 4;
        }
        memcpy(out, v6->s6_addr, 16);
        return 16;
    }
    return 0;
}

long shim_send(int fd, const void *buf, size_t len, const char *name, char *err, size_t errlen) {
    ssize_t n;
    RETRY_EINTR(n, send(fd, buf, len, MSG_NOSIGNAL));
    if (n >= 0) return n;
    if (errno == EAGAIN) return SHIM_WOULD_BLOCK;
    return shim_err(err, errlen, errno, "write", name, NULL);
}

long shim_read(int fd, void *buf, size_t cap, const char *name, char *err, size_t errlen) {
    ssize_t n;
    RETRY_EINTR(n, read(fd, buf, cap));
    if (n >= 0) return n;
    if (errno == EAGAIN) return SHIM_WOULD_BLOCK;
    return shim_err(err, errlen, errno, "read", name, NULL);
}

int shim_write_all(int fd, const void *buf, size_t len, int64_t deadline, const char *name,
                   char *err, size_t errlen) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n;
        RETRY_EINTR(n, write(fd, p, len));
        if (n < 0 && errno == EAGAIN) {
            shim_pollfd w = {.fd = fd, .events = SHIM_POLLOUT, .revents = 0};
            int r = shim_poll(&w, 1, deadline, err, errlen);
            if (r < 0) return SHIM_FAILED;
            if (r == 0) return shim_err(err, errlen, ETIMEDOUT, "write", name, "timed out");
            continue;
        }
        if (n <= 0) return shim_err(err, errlen, n < 0 ? errno : EIO, "write", name, n < 0 ? NULL : "wrote nothing");
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int shim_poll(shim_pollfd *fds, unsigned int n, int64_t deadline, char *err, size_t errlen) {
    for (;;) {
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - shim_now_ms();
            timeout = left <= 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
        }
        int r = poll((struct pollfd *)fds, n, timeout);
        if (r >= 0) return r;
        if (errno != EINTR) return shim_err(err, errlen, errno, "poll", "descriptors", NULL);
    }
}

void shim_close(int fd) {
    if (fd >= 0) close(fd);
}

void shim_setup_signals(const int *signals, int n) {
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++) {
        signal(signals[i], SIG_DFL);
        sigaddset(&set, signals[i]);
    }
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

int shim_signalfd(const int *signals, int n, char *err, size_t errlen) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < n; i++) sigaddset(&set, signals[i]);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return shim_err(err, errlen, errno, "sigprocmask", "signals", NULL);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) return shim_err(err, errlen, errno, "signalfd", "signals", NULL);
    return fd;
}

int shim_signalfd_next(int fd, char *err, size_t errlen) {
    struct signalfd_siginfo si;
    ssize_t n;
    RETRY_EINTR(n, read(fd, &si, sizeof si));
    if (n == (ssize_t)sizeof si) return (int)si.ssi_signo;
    if (n < 0 && errno == EAGAIN) return 0;
    return shim_err(err, errlen, n < 0 ? errno : EIO, "read", "signalfd", n < 0 ? NULL : "short read");
}

int shim_notify_open(char *name, size_t namelen, char *err, size_t errlen) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return shim_err(err, errlen, errno, "socket", "notify socket", NULL);
    int one = 1;
    struct sockaddr_un a;
    socklen_t len = sizeof(sa_family_t);
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
        shim_err(err, errlen, errno, "setsockopt SO_PASSCRED", "notify socket", NULL);
        close(fd);
        return -1;
    }
    /* Autobind: an address of the family alone gets a unique abstract name. */
    if (bind(fd, (struct sockaddr *)&a, len) < 0 || (len = sizeof a, getsockname(fd, (struct sockaddr *)&a, &len) < 0)) {
        shim_err(err, errlen, errno, "bind", "notify socket", NULL);
        close(fd);
        return -1;
    }
    size_t n = len - offsetof(struct sockaddr_un, sun_path);
    if (n < 2 || a.sun_path[0] != 0 || n + 1 > namelen) {
        shim_err(err, errlen, 0, "bind", "notify socket", "no abstract name");
        close(fd);
        return -1;
    }
    name[0] = '@';
    memcpy(name + 1, a.sun_path + 1, n - 1);
    name[n] = 0;
    return fd;
}

long shim_notify_recv(int fd, void *buf, size_t cap, int *pid, int *uid, char *err, size_t errlen) {
    union {
        struct cmsghdr align;
        char space[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = cap};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.space;
    m.msg_controllen = sizeof control.space;
    ssize_t n;
    RETRY_EINTR(n, recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC));
    if (n < 0) {
        if (errno == EAGAIN) return SHIM_WOULD_BLOCK;
        return shim_err(err, errlen, errno, "recvmsg", "notify socket", NULL);
    }
    *pid = -1;
    *uid = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET) continue;
        if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof cred);
            *pid = (int)cred.pid;
            *uid = (int)cred.uid;
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int passed;
                memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof passed);
                close(passed);
            }
        }
    }
    if ((size_t)n > cap || (m.msg_flags & MSG_TRUNC)) return SHIM_TRUNCATED;
    return (long)n;
}

/* In the child, between fork and exec: only async-signal-safe calls, but for setenv of
 * WATCHDOG_PID (the child's own pid, known only here), which may allocate: safe because the
 * one process that forks (`wrap`) has a single thread, so no lock can be held across fork. */
static void child_exec(const char *file, char *const argv[], pid_t parent, int report, int watchdog_pid) {
    setpgid(0, 0);
    if (watchdog_pid) {
        char pid[24];
        snprintf(pid, sizeof pid, "%d", (int)getpid());
        setenv("WATCHDOG_PID", pid, 1);
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have died before PR_SET_PDEATHSIG took hold. */
    if (getppid() != parent) _exit(127);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvp(file, argv);
    int e = errno;
    ssize_t w;
    RETRY_EINTR(w, write(report, &e, sizeof e));
    (void)w;
    _exit(127);
}

int shim_spawn(const char *file, char *const argv[], int *pid, int *pidfd,
               char *err, size_t errlen) {
    return shim_spawn_notify(file, argv, 0, pid, pidfd, err, errlen);
}

int shim_spawn_notify(const char *file, char *const argv[], int watchdog_pid, int *pid, int *pidfd,
                      char *err, size_t errlen) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return shim_err(err, errlen, errno, "pipe", file, NULL);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) {
        close(report[0]);
        close(report[1]);
        return shim_err(err, errlen, errno, "fork", file, NULL);
    }
    if (child == 0) child_exec(file, argv, parent, report[1], watchdog_pid);
    close(report[1]);
    /* Also in the parent, so that no signal can reach the child's group before it exists. */
    setpgid(child, child);
    int exec_errno = 0;
    ssize_t n;
    RETRY_EINTR(n, read(report[0], &exec_errno, sizeof exec_errno));
    close(report[0]);
    if (n == (ssize_t)sizeof exec_errno) {
        int st;
        pid_t w;
        RETRY_EINTR(w, waitpid(child, &st, 0));
        (void)w;
        return exec_errno;
    }
    *pid = child;
    *pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    if (*pidfd < 0) {
        int e = errno;
        kill(-child, SIGKILL);
        int st;
        pid_t w;
        RETRY_EINTR(w, waitpid(child, &st, 0));
        (void)w;
        return shim_err(err, errlen, e, "pidfd_open", file, NULL);
    }
    return 0;
}

int shim_reap(int pid, int *code, int *sig, char *err, size_t errlen) {
    int st = 0;
    pid_t r;
    RETRY_EINTR(r, waitpid(pid, &st, WNOHANG));
    if (r < 0) return shim_err(err, errlen, errno, "waitpid", "child", NULL);
    if (r == 0) return 0;
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 0;
    *sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
    return 1;
}

int shim_kill(int pid, int sig, char *err, size_t errlen) {
    if (kill(pid, sig) == 0) return 0;
    return shim_err(err, errlen, errno, "kill", pid < 0 ? "child's process group" : "child", NULL);
}

void shim_exit_like(int code, int sig) {
    if (sig > 0) {
        struct rlimit none = {0, 0};
        setrlimit(RLIMIT_CORE, &none);
        signal(sig, SIG_DFL);
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        /* A signal that does not end a process (e.g. SIGCHLD): say so the shell's way. */
        _exit(128 + sig);
    }
    _exit(code);
}

const char *shim_strerror(int code) {
    return strerror(code);
}

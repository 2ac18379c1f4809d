#ifndef SUPERVISOR_HAPROXY_SHIM_H
#define SUPERVISOR_HAPROXY_SHIM_H

/* The low-level calls supervisor-haproxy makes, in one small C layer.
 *
 * One contract for every function that can fail: it returns a negative value and writes
 * "<call> <name>: <reason>" into the caller's buffer `err` (of `errlen` bytes), where <call>
 * is the system call that failed and <name> what the caller said it was working on
 * ("connect unix:///run/haproxy.sock: Connection refused"), and keeps the failure's errno
 * for shim_error_code(): the words are for people, the code for decisions (a refused
 * connect is not a permission error). Deadlines are absolute milliseconds of shim_now_ms().
 * EINTR is retried inside.
 *
 * This header includes no system header, so importing it re-exports no libc API. */

#include <stddef.h>
#include <stdint.h>

/* A resolved address (a sockaddr_storage inside), kept by the caller so that steady-state
 * connects never resolve (getaddrinfo allocates and may block). */
typedef struct {
    _Alignas(8) unsigned char storage[128];
    unsigned int len;
} shim_addr;

/* Same layout as struct pollfd. */
typedef struct {
    int fd;
    short events;
    short revents;
} shim_pollfd;

enum { SHIM_POLLIN = 0x001, SHIM_POLLOUT = 0x004, SHIM_POLLERR = 0x008, SHIM_POLLHUP = 0x010,
       SHIM_POLLNVAL = 0x020 };

/* The errno of the last failure a shim call reported (ETIMEDOUT for its own deadlines; 0
 * for a failure no errno names, such as a name that does not resolve). Read it right after
 * the call that failed. */
int shim_error_code(void);

/* Milliseconds on the monotonic clock. */
int64_t shim_now_ms(void);

/* AF_INET, AF_INET6 or AF_UNIX. */
int shim_addr_family(const shim_addr *a);

/* Every address of host:port (IPv6 and IPv4, as the resolver orders them), at most max of
 * them: the count, or -1. */
int shim_resolve_tcp(const char *host, const char *port, shim_addr *out, int max,
                     char *err, size_t errlen);
/* A unix socket path: 1, or -1. */
int shim_resolve_unix(const char *path, shim_addr *out, char *err, size_t errlen);

/* What the non-blocking calls return besides a count: SHIM_FAILED (-1, err written) and
 * SHIM_WOULD_BLOCK (-2: nothing can be done now; poll, then call again). */
enum { SHIM_FAILED = -1, SHIM_WOULD_BLOCK = -2 };

/* shim_connect_start's outcomes besides SHIM_FAILED. */
enum { SHIM_CONNECTED = 0, SHIM_IN_PROGRESS = 1, SHIM_BACKLOG_FULL = 2 };

/* Starts a non-blocking connect. Returns SHIM_CONNECTED (fd set), SHIM_IN_PROGRESS (wait for
 * writable, then shim_connect_finish), SHIM_BACKLOG_FULL (a unix socket's backlog is full:
 * close nothing, call again later; fd is -1), SHIM_FAILED. */
int shim_connect_start(const shim_addr *a, int *fd, const char *name, char *err, size_t errlen);
/* After an in-progress connect became writable: 0 connected, -1 failed (fd still open). */
int shim_connect_finish(int fd, const char *name, char *err, size_t errlen);

/* Whether a connected TCP socket is connected to itself: a connect to a local port in the
 * ephemeral range where nothing listens can pick that very port as its source ("TCP
 * simultaneous open"), and then succeeds though nothing serves. 1 yes (and its close is
 * made abortive, so the port is free at once for the program that will bind it), 0 no,
 * SHIM_FAILED. */
int shim_connected_to_self(int fd, const char *name, char *err, size_t errlen);

/* A non-blocking, close-on-exec TCP socket listening on the address (SO_REUSEADDR, so a
 * restarted listener binds at once): the descriptor, or SHIM_FAILED. */
int shim_listen_tcp(const shim_addr *a, int backlog, const char *name, char *err, size_t errlen);
/* The next connection waiting on a listening socket, non-blocking and close-on-exec, its
 * peer's address in *peer: the descriptor, SHIM_WOULD_BLOCK when none waits (or one gave up
 * before it was taken), or SHIM_FAILED (out of descriptors: EMFILE, ENFILE). */
int shim_accept(int fd, shim_addr *peer, const char *name, char *err, size_t errlen);
/* The IP address of an AF_INET or AF_INET6 address, its bytes copied into out (16 bytes of
 * room): 4 or 16, or 0 for another family. An IPv4-mapped IPv6 address counts as IPv4. */
int shim_addr_ip(const shim_addr *a, unsigned char *out);

/* Non-blocking send: bytes sent, SHIM_WOULD_BLOCK when the socket is full, or SHIM_FAILED. */
long shim_send(int fd, const void *buf, size_t len, const char *name, char *err, size_t errlen);
/* Non-blocking read: bytes read, 0 at end of file, SHIM_WOULD_BLOCK, or SHIM_FAILED. */
long shim_read(int fd, void *buf, size_t cap, const char *name, char *err, size_t errlen);
/* Writes all len bytes (stdout toward supervisord, stderr), waiting while the descriptor is
 * full, but never past the deadline (absolute ms; < 0: none): 0, or SHIM_FAILED (a peer that
 * stopped reading: "write stdout: timed out"). */
int shim_write_all(int fd, const void *buf, size_t len, int64_t deadline, const char *name,
                   char *err, size_t errlen);

/* poll(2) until the deadline (< 0: none): the count of ready descriptors, 0 at the
 * deadline, -1 failed. */
int shim_poll(shim_pollfd *fds, unsigned int n, int64_t deadline, char *err, size_t errlen);

void shim_close(int fd);

/* SIGPIPE ignored (a closed peer shows as EPIPE); the n signals (the ones that stop this
 * program) at their default and unblocked (a parent may hand them down blocked or ignored). */
void shim_setup_signals(const int *signals, int n);

/* Blocks the n signals and returns a non-blocking signalfd that reads them, or -1. */
int shim_signalfd(const int *signals, int n, char *err, size_t errlen);
/* The next signal from a signalfd: its number, 0 when none is pending, -1 failed. */
int shim_signalfd_next(int fd, char *err, size_t errlen);

/* The notify protocol's socket (systemd's sd_notify: datagrams of KEY=VALUE lines): a
 * non-blocking datagram socket bound to an abstract name the kernel picks (autobind: unique,
 * no file to clean up), with SO_PASSCRED so that each datagram brings its sender's
 * credentials. Writes the name as NOTIFY_SOCKET spells it ("@" then the name) into name.
 * Returns the descriptor, or -1. */
int shim_notify_open(char *name, size_t namelen, char *err, size_t errlen);
/* Datagram outcomes besides a length and SHIM_WOULD_BLOCK / SHIM_FAILED. */
enum { SHIM_TRUNCATED = -3 };
/* One datagram into buf: its length; SHIM_WOULD_BLOCK when none waits; SHIM_TRUNCATED for one
 * longer than cap (its rest is dropped by the kernel); SHIM_FAILED. *pid and *uid: the
 * sender's, as the kernel vouches for them (-1 when none came). Descriptors a sender passed
 * (SCM_RIGHTS) are closed at once: nothing a stranger sends stays open here. */
long shim_notify_recv(int fd, void *buf, size_t cap, int *pid, int *uid, char *err, size_t errlen);

/* Runs file (searched in PATH) with argv (NULL-terminated) as a child in a process group of
 * its own, with the calling process's stdio, environment and directory, an empty signal mask,
 * default dispositions, and PR_SET_PDEATHSIG SIGKILL (it cannot outlive us). Sets *pid and a
 * pidfd (readable when the child ends). Returns 0; the child's exec errno (> 0: ENOENT,
 * EACCES...) when exec failed (the child is reaped); -1 when we could not start it, or could
 * not watch it (pidfd_open failed: the child's group is killed and the child reaped). */
int shim_spawn(const char *file, char *const argv[], int *pid, int *pidfd,
               char *err, size_t errlen);
/* shim_spawn, with WATCHDOG_PID set to the child's own pid in its environment when
 * watchdog_pid is non-zero (the notify protocol: only that process's pings count). */
int shim_spawn_notify(const char *file, char *const argv[], int watchdog_pid, int *pid, int *pidfd,
                      char *err, size_t errlen);
/* The child's end: 1 reaped (*code the exit status, or *signal the signal that killed it),
 * 0 still running, -1 failed. */
int shim_reap(int pid, int *code, int *signal, char *err, size_t errlen);
/* Sends sig to a process (pid > 0) or to a process group (pid < 0): 0, or -1. */
int shim_kill(int pid, int sig, char *err, size_t errlen);
/* Ends this process the way a child ended: exit(code), or death by the same signal (without
 * a core file). Does not return. */
void shim_exit_like(int code, int signal);

/* strerror for an errno returned as a value (shim_spawn's exec errno). */
const char *shim_strerror(int code);

#endif

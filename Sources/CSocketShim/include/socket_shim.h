#ifndef SOCKET_SHIM_H
#define SOCKET_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A resolved stats-socket or supervisord address, kept by the caller so that
 * steady-state connects never resolve (getaddrinfo allocates). Opaque: a sockaddr_storage
 * inside, kept out of this header so that importing it re-exports no socket API. */
typedef struct {
    _Alignas(8) unsigned char storage[128];
    unsigned int len;
} shim_addr;

/* AF_INET, AF_INET6 or AF_UNIX. */
int shim_addr_family(const shim_addr *a);

/* Milliseconds on the monotonic clock. Deadlines below are absolute values of it;
 * a deadline < 0 means "no deadline". */
int64_t shim_now_ms(void);

/* Each function returns -1 on failure and writes "<call> <name>: <reason>" into err. */
int shim_resolve_tcp(const char *host, const char *port, shim_addr *out,
                     char *err, size_t errlen);
int shim_resolve_unix(const char *path, shim_addr *out, char *err, size_t errlen);

/* Returns a connected, non-blocking, close-on-exec socket. */
int shim_connect(const shim_addr *a, int64_t deadline, const char *name,
                 char *err, size_t errlen);

/* Writes all len bytes; 0 on success. */
int shim_write_all(int fd, const void *buf, size_t len, int64_t deadline,
                   const char *name, char *err, size_t errlen);

/* Reads at most cap bytes: returns the count, 0 at end of file, -1 on error or timeout. */
ssize_t shim_read(int fd, void *buf, size_t cap, int64_t deadline,
                  const char *name, char *err, size_t errlen);

/* Waits until fd is readable: 1 readable (or hung up), 0 timeout, -1 error.
 * timeout_ms < 0 waits forever. */
int shim_wait_readable(int fd, int timeout_ms);

/* SIGPIPE ignored, so a closed peer shows as EPIPE instead of killing us; SIGTERM, SIGINT,
 * SIGHUP and SIGQUIT at their default (end the process) and unblocked. */
void shim_setup_signals(void);

#endif

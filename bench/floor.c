/* The floor for `make bench`: the least work an event listener can do per event.
 * Reads supervisord's header and payload, sends one `set server` over a fresh connection,
 * reads HAProxy's answer to EOF, acknowledges. No checks, no state, no logging.
 * Usage: floor unix:/path|tcp:HOST:PORT BACKEND/SERVER */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char in[65536];
static size_t have;

static size_t read_line(void) {
    for (;;) {
        char *nl = memchr(in, '\n', have);
        if (nl) return (size_t)(nl - in) + 1;
        ssize_t n = read(0, in + have, sizeof in - have);
        if (n <= 0) exit(0);
        have += (size_t)n;
    }
}

static void consume(size_t n) {
    while (have < n) {
        ssize_t r = read(0, in + have, sizeof in - have);
        if (r <= 0) exit(0);
        have += (size_t)r;
    }
    memmove(in, in + n, have - n);
    have -= n;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (strncmp(argv[1], "unix:", 5) == 0) {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        su->sun_family = AF_UNIX;
        strncpy(su->sun_path, argv[1] + 5, sizeof su->sun_path - 1);
        sl = sizeof *su;
    } else {
        struct sockaddr_in *si = (struct sockaddr_in *)&ss;
        char host[64];
        int port;
        if (sscanf(argv[1], "tcp:%63[^:]:%d", host, &port) != 2) return 2;
        si->sin_family = AF_INET;
        si->sin_port = htons((unsigned short)port);
        inet_pton(AF_INET, host, &si->sin_addr);
        sl = sizeof *si;
    }
    char cmd[512], answer[4096];
    write(1, "READY\n", 6);
    for (;;) {
        size_t hl = read_line();
        in[hl - 1] = 0;
        char *len = strstr(in, "len:");
        int maint = strstr(in, "RUNNING") == NULL;
        size_t plen = len ? strtoul(len + 4, NULL, 10) : 0;
        consume(hl + plen);
        int n = snprintf(cmd, sizeof cmd, "set server %s state %s\n", argv[2], maint ? "maint" : "ready");
        int fd = socket(ss.ss_family, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&ss, sl) == 0 && write(fd, cmd, (size_t)n) == n)
            while (read(fd, answer, sizeof answer) > 0) {}
        close(fd);
        write(1, "RESULT 2\nOKREADY\n", 17);
    }
}

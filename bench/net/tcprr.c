/*
 * tcprr: TCP request/response latency, the figure iperf3 does not give.
 *
 *   tcprr server PORT                     echo every byte back, forever,
 *                                         one connection at a time
 *   tcprr client HOST PORT COUNT [SIZE]   COUNT round trips of SIZE bytes
 *                                         (default 1), one outstanding
 *
 * The client prints one line:
 *   tcprr: n=COUNT size=SIZE mean_us=.. p50_us=.. p99_us=.. min_us=.. max_us=..
 * Each round trip is timed on its own (CLOCK_MONOTONIC), so the percentiles
 * are of single round trips, not of batches.  TCP_NODELAY on both ends:
 * without it Nagle and delayed ACKs, not the NIC, would set the latency.
 * A first 100 round trips warm up (ARP, caches, the peer's scheduling) and
 * are not counted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 100
#define MAX_SIZE 65536
#define MAX_COUNT 1000000
/* A peer that stops answering must not hang the benchmark. */
#define IO_TIMEOUT_S 10
#define CONNECT_TRIES 300   /* 0.1 s apart: the server may still be starting */

static int usage(void)
{
    fprintf(stderr, "usage: tcprr server PORT\n"
                    "       tcprr client HOST PORT COUNT [SIZE]\n");
    return 2;
}

static long parse(const char *s, long lo, long hi, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "tcprr: %s '%s': expected %ld to %ld\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        perror("tcprr: TCP_NODELAY");
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* 0 on success, 1 on EOF before the first byte, -1 on error or a short
 * message. */
static int read_all(int fd, char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return got ? -1 : 1;
        if (n < 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static int server(int port)
{
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 4) < 0) {
        fprintf(stderr, "tcprr: cannot listen on port %d: %s\n", port, strerror(errno));
        return 1;
    }
    static char buf[MAX_SIZE];
    for (;;) {
        int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("tcprr: accept");
            return 1;
        }
        nodelay(c);
        /* Echo whatever arrives: the client sends one message at a time,
         * so echoing reads as they come preserves the message boundaries
         * that matter to it. */
        for (;;) {
            ssize_t n = read(c, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || write_all(c, buf, (size_t)n) < 0)
                break;
        }
        close(c);
    }
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int client(const char *host, int port, long count, long size)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        fprintf(stderr, "tcprr: '%s' is not an IPv4 address\n", host);
        return 2;
    }
    int fd = -1;
    for (int i = 0; i < CONNECT_TRIES; i++) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
        if (i + 1 < CONNECT_TRIES)
            nanosleep(&(struct timespec){0, 100000000}, NULL);
    }
    if (fd < 0) {
        fprintf(stderr, "tcprr: cannot connect to %s:%d: %s\n", host, port, strerror(errno));
        return 1;
    }
    nodelay(fd);
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    static char out[MAX_SIZE], in[MAX_SIZE];
    memset(out, 'x', (size_t)size);
    uint64_t *rtt = calloc((size_t)count, sizeof(*rtt));
    if (!rtt) {
        fprintf(stderr, "tcprr: out of memory\n");
        return 1;
    }
    for (long i = 0; i < WARMUP + count; i++) {
        uint64_t t0 = now_ns();
        int r = write_all(fd, out, (size_t)size) < 0 ? -1 : read_all(fd, in, (size_t)size);
        uint64_t t1 = now_ns();
        if (r != 0) {
            fprintf(stderr, "tcprr: round trip %ld: %s\n", i,
                    r > 0 ? "the server closed the connection" : errno ? strerror(errno) : "short read");
            return 1;
        }
        if (i >= WARMUP)
            rtt[i - WARMUP] = t1 - t0;
    }
    close(fd);
    double sum = 0;
    for (long i = 0; i < count; i++)
        sum += (double)rtt[i];
    qsort(rtt, (size_t)count, sizeof(*rtt), cmp_u64);
    /* Nearest-rank percentiles. */
    long p50 = (count * 50 + 99) / 100 - 1, p99 = (count * 99 + 99) / 100 - 1;
    printf("tcprr: n=%ld size=%ld mean_us=%.1f p50_us=%.1f p99_us=%.1f min_us=%.1f max_us=%.1f\n", count, size,
           sum / (double)count / 1e3, (double)rtt[p50] / 1e3, (double)rtt[p99] / 1e3, (double)rtt[0] / 1e3,
           (double)rtt[count - 1] / 1e3);
    free(rtt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "server"))
        return server((int)parse(argv[2], 1, 65535, "port"));
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "client"))
        return client(argv[2], (int)parse(argv[3], 1, 65535, "port"), parse(argv[4], 1, MAX_COUNT, "count"),
                      argc == 6 ? parse(argv[5], 1, MAX_SIZE, "size") : 1);
    return usage();
}

#include "net/tap_stats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const names[4] = {"rx_packets", "rx_bytes", "tx_packets", "tx_bytes"};

void tap_stats_init(struct tap_stats *s)
{
    for (int i = 0; i < 4; i++)
        s->fd[i] = -1;
}

int tap_stats_open(struct tap_stats *s, const char *sysfs_net, const char *ifname)
{
    tap_stats_init(s);
    for (int i = 0; i < 4; i++) {
        char path[512];
        int n = snprintf(path, sizeof(path), "%s/%s/statistics/%s", sysfs_net, ifname, names[i]);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            tap_stats_close(s);
            errno = ENAMETOOLONG;
            return -1;
        }
        s->fd[i] = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd[i] < 0) {
            int e = errno;
            tap_stats_close(s);
            errno = e;
            return -1;
        }
    }
    return 0;
}

static int read_u64(int fd, uint64_t *v)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (errno || end == buf || (*end && *end != '\n'))
        return -1;
    *v = x;
    return 0;
}

int tap_stats_read(const struct tap_stats *s, struct tap_counters *c)
{
    uint64_t v[4];
    for (int i = 0; i < 4; i++)
        if (s->fd[i] < 0 || read_u64(s->fd[i], &v[i]) < 0)
            return -1;
    *c = (struct tap_counters){v[0], v[1], v[2], v[3]};
    return 0;
}

void tap_stats_close(struct tap_stats *s)
{
    for (int i = 0; i < 4; i++) {
        if (s->fd[i] >= 0)
            close(s->fd[i]);
        s->fd[i] = -1;
    }
}

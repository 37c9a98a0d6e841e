/* A TAP's own frame counters, from sysfs (statistics/{rx,tx}_{packets,
 * bytes}).  With vhost-net the guest's frames never pass through the VMM,
 * so its NIC counters come from here: the files are opened before the
 * jail (which has no /sys) and re-read with pread at each reading. */
#ifndef VIREO_NET_TAP_STATS_H
#define VIREO_NET_TAP_STATS_H

#include <stdint.h>

struct tap_stats {
    int fd[4];   /* rx_packets, rx_bytes, tx_packets, tx_bytes; -1: not open */
};

/* The TAP's side: rx is what the guest sent, tx what it was given. */
struct tap_counters {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

void tap_stats_init(struct tap_stats *s);
/* Opens sysfs_net/IFNAME/statistics/...  (sysfs_net: /sys/class/net).
 * -1 and errno, with nothing left open. */
int tap_stats_open(struct tap_stats *s, const char *sysfs_net, const char *ifname);
/* 0, or -1 when not open or a file did not hold a number. */
int tap_stats_read(const struct tap_stats *s, struct tap_counters *c);
void tap_stats_close(struct tap_stats *s);

#endif

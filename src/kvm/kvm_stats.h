/* KVM's own counters for one vCPU (binary statistics, KVM_GET_STATS_FD,
 * Linux 5.14+): every exit, including the many KVM handles without
 * returning to the VMM (halts, interrupt windows, most MSRs), which the
 * VMM cannot count itself.  The fd is taken when the vCPU is created:
 * the ioctl waits for the vCPU's mutex, which KVM_RUN holds, so it cannot
 * be asked for from another thread later; reading it (pread) takes no
 * lock. */
#ifndef VIREO_KVM_KVM_STATS_H
#define VIREO_KVM_KVM_STATS_H

#include <stdbool.h>
#include <stdint.h>

enum kvm_vstat {
    KVM_VSTAT_EXITS,           /* "exits": all of them */
    KVM_VSTAT_HALT_EXITS,
    KVM_VSTAT_IO_EXITS,
    KVM_VSTAT_MMIO_EXITS,
    KVM_VSTAT_IRQ_EXITS,       /* a host interrupt took the CPU */
    KVM_VSTAT_SIGNAL_EXITS,
    KVM_VSTAT_N
};

struct kvm_stats {
    int fd;                              /* -1: not available */
    int64_t offset[KVM_VSTAT_N];         /* in the fd; -1: this kernel lacks it */
};

/* 0, or -1 (s->fd is then -1) when the kernel has no binary statistics. */
int kvm_stats_open(struct kvm_stats *s, int vcpu_fd);
/* The values; false where unknown. */
void kvm_stats_read(const struct kvm_stats *s, uint64_t val[KVM_VSTAT_N], bool have[KVM_VSTAT_N]);
void kvm_stats_close(struct kvm_stats *s);
/* KVM's name: "exits", "halt_exits", ... */
const char *kvm_vstat_name(enum kvm_vstat k);

/* The descriptors of a stats file held in buf (what the fd holds from
 * offset 0, len bytes) into offsets; the parser behind kvm_stats_open,
 * apart for tests.  -1 if the header does not fit. */
int kvm_stats_parse(const void *buf, uint64_t len, int64_t offset[KVM_VSTAT_N]);

#endif

#include "kvm/kvm_stats.h"

#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *const names[KVM_VSTAT_N] = {
    "exits", "halt_exits", "io_exits", "mmio_exits", "irq_exits", "signal_exits",
};

const char *kvm_vstat_name(enum kvm_vstat k)
{
    return (unsigned)k < KVM_VSTAT_N ? names[k] : "?";
}

/* The descriptor block is bounded (a few hundred entries on x86); a
 * larger file than this is not a stats file we understand. */
#define STATS_MAX_BYTES (1u << 20)

int kvm_stats_parse(const void *buf, uint64_t len, int64_t offset[KVM_VSTAT_N])
{
    for (unsigned k = 0; k < KVM_VSTAT_N; k++)
        offset[k] = -1;
    struct kvm_stats_header h;
    if (len < sizeof(h))
        return -1;
    memcpy(&h, buf, sizeof(h));
    uint64_t dsize = sizeof(struct kvm_stats_desc) + (uint64_t)h.name_size;
    if (h.name_size == 0 || h.name_size > 4096 || h.desc_offset > len ||
        (uint64_t)h.num_desc * dsize > len - h.desc_offset)
        return -1;
    for (uint32_t i = 0; i < h.num_desc; i++) {
        const uint8_t *d = (const uint8_t *)buf + h.desc_offset + (uint64_t)i * dsize;
        struct kvm_stats_desc desc;
        memcpy(&desc, d, sizeof(desc));
        const char *name = (const char *)d + sizeof(desc);
        if (!memchr(name, 0, h.name_size) || desc.size != 1 ||
            (desc.flags & KVM_STATS_TYPE_MASK) != KVM_STATS_TYPE_CUMULATIVE)
            continue;
        for (unsigned k = 0; k < KVM_VSTAT_N; k++)
            if (!strcmp(name, names[k]))
                offset[k] = (int64_t)h.data_offset + desc.offset;
    }
    return 0;
}

int kvm_stats_open(struct kvm_stats *s, int vcpu_fd)
{
    s->fd = -1;
    for (unsigned k = 0; k < KVM_VSTAT_N; k++)
        s->offset[k] = -1;
    int fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
    if (fd < 0)
        return -1;
    /* The descriptors come before the data: read up to the data block. */
    struct kvm_stats_header h;
    void *buf = NULL;
    if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || h.data_offset < sizeof(h) ||
        h.data_offset > STATS_MAX_BYTES || !(buf = malloc(h.data_offset)) ||
        pread(fd, buf, h.data_offset, 0) != (ssize_t)h.data_offset ||
        kvm_stats_parse(buf, h.data_offset, s->offset) < 0) {
        free(buf);
        close(fd);
        return -1;
    }
    free(buf);
    s->fd = fd;
    return 0;
}

void kvm_stats_read(const struct kvm_stats *s, uint64_t val[KVM_VSTAT_N], bool have[KVM_VSTAT_N])
{
    for (unsigned k = 0; k < KVM_VSTAT_N; k++) {
        val[k] = 0;
        have[k] = s->fd >= 0 && s->offset[k] >= 0 &&
                  pread(s->fd, &val[k], sizeof(val[k]), s->offset[k]) == (ssize_t)sizeof(val[k]);
    }
}

void kvm_stats_close(struct kvm_stats *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

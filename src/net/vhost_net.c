#include "net/vhost_net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Feature bits vhost-net must not be told about even when the driver took
 * them: with VHOST_NET_F_VIRTIO_NET_HDR vhost would strip and add the
 * virtio-net header itself, but our TAP carries it (IFF_VNET_HDR, 12
 * bytes) so that the offloads pass through; LOG_ALL is for migration. */
#define NOT_FOR_VHOST ((1ULL << VHOST_NET_F_VIRTIO_NET_HDR) | (1ULL << VHOST_F_LOG_ALL))

int vhost_net_open(uint64_t *features, bool *missing, char *err, size_t errlen)
{
    *missing = false;
    int fd = open(VHOST_NET_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        *missing = e == ENOENT || e == ENODEV || e == ENXIO || e == EACCES || e == EPERM;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            snprintf(err, errlen, "%s is missing: the vhost_net module is not loaded (modprobe vhost_net), or "
                     "use vhost=off", VHOST_NET_PATH);
        else if (e == EACCES || e == EPERM)
            snprintf(err, errlen, "cannot open %s: %s (run as root, or use vhost=off)", VHOST_NET_PATH, strerror(e));
        else
            snprintf(err, errlen, "cannot open %s: %s", VHOST_NET_PATH, strerror(e));
        return -1;
    }
    if (ioctl(fd, VHOST_SET_OWNER) < 0 || ioctl(fd, VHOST_GET_FEATURES, features) < 0) {
        snprintf(err, errlen, "%s: cannot take it into use: %s", VHOST_NET_PATH, strerror(errno));
        close(fd);
        return -1;
    }
    /* The device is modern-only: a vhost-net without VERSION_1 (before
     * Linux 4.0) cannot serve it. */
    if (!(*features & (1ULL << VIRTIO_F_VERSION_1))) {
        snprintf(err, errlen, "%s is too old: it lacks VIRTIO_F_VERSION_1 (use vhost=off)", VHOST_NET_PATH);
        *missing = true;
        close(fd);
        return -1;
    }
    return fd;
}

int vhost_net_set_features(int fd, uint64_t features)
{
    return ioctl(fd, VHOST_SET_FEATURES, &features);
}

int vhost_net_set_mem(int fd, const struct memmap *mem)
{
    /* On the stack: the I/O thread that calls this has no business with
     * the allocator's system calls. */
    union {
        struct vhost_memory m;
        uint8_t room[sizeof(struct vhost_memory) + MEMMAP_MAX_REGIONS * sizeof(struct vhost_memory_region)];
    } u;
    memset(&u, 0, sizeof(u));
    struct vhost_memory *m = &u.m;
    for (unsigned i = 0; i < mem->count && i < MEMMAP_MAX_REGIONS; i++) {
        m->regions[i].guest_phys_addr = mem->r[i].gpa;
        m->regions[i].memory_size = mem->r[i].size;
        m->regions[i].userspace_addr = (uint64_t)(uintptr_t)mem->r[i].host;
        m->nregions++;
    }
    return ioctl(fd, VHOST_SET_MEM_TABLE, m);
}

int vhost_net_ring_start(int fd, unsigned idx, const struct vhost_ring *r, int tap_fd)
{
    struct vhost_vring_state num = {.index = idx, .num = r->num}, base = {.index = idx, .num = r->base};
    struct vhost_vring_addr addr = {
        .index = idx,
        .desc_user_addr = (uint64_t)(uintptr_t)r->desc,
        .avail_user_addr = (uint64_t)(uintptr_t)r->avail,
        .used_user_addr = (uint64_t)(uintptr_t)r->used,
    };
    struct vhost_vring_file kick = {.index = idx, .fd = r->kick}, call = {.index = idx, .fd = r->call};
    struct vhost_vring_file errf = {.index = idx, .fd = r->err};
    struct vhost_vring_file be = {.index = idx, .fd = tap_fd};
    if (ioctl(fd, VHOST_SET_VRING_NUM, &num) < 0 || ioctl(fd, VHOST_SET_VRING_BASE, &base) < 0 ||
        ioctl(fd, VHOST_SET_VRING_ADDR, &addr) < 0 || ioctl(fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
        ioctl(fd, VHOST_SET_VRING_CALL, &call) < 0 || ioctl(fd, VHOST_SET_VRING_ERR, &errf) < 0)
        return -1;
    return ioctl(fd, VHOST_NET_SET_BACKEND, &be);
}

int vhost_net_ring_stop(int fd, unsigned idx, uint16_t *base)
{
    struct vhost_vring_file be = {.index = idx, .fd = VHOST_FILE_UNBIND};
    struct vhost_vring_state st = {.index = idx};
    int r = ioctl(fd, VHOST_NET_SET_BACKEND, &be);
    /* GET_VRING_BASE also stops the ring: do it even if unbinding failed. */
    if (ioctl(fd, VHOST_GET_VRING_BASE, &st) < 0)
        return -1;
    *base = (uint16_t)st.num;
    return r;
}

int vhost_net_ring_set_call(int fd, unsigned idx, int call)
{
    struct vhost_vring_file f = {.index = idx, .fd = call};
    return ioctl(fd, VHOST_SET_VRING_CALL, &f);
}

uint64_t vhost_net_ack_features(uint64_t driver, uint64_t vhost)
{
    return driver & vhost & ~NOT_FOR_VHOST;
}

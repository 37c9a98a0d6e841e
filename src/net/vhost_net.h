/* The kernel's vhost-net (/dev/vhost-net) as a virtio-net data plane: one
 * vhost device per queue pair (its vrings 0 = receive, 1 = transmit), fed
 * by a TAP queue fd, kicked through an eventfd the VMM hands to KVM as an
 * ioeventfd and signalling through an eventfd KVM takes as an irqfd, so
 * that no frame and no notification passes through the VMM.  Only the
 * ioctls: which features to offer and when to start are the device
 * model's (virtio/net_vhost.c). */
#ifndef VIREO_NET_VHOST_NET_H
#define VIREO_NET_VHOST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/memmap.h"

#define VHOST_NET_PATH "/dev/vhost-net"

/* Opens /dev/vhost-net and makes this process its owner (VHOST_SET_OWNER:
 * the kernel's worker then reads this process's memory, so it is done in
 * the VM process, before its privileges drop).  *features: what this
 * kernel's vhost-net can do (VHOST_GET_FEATURES).  -1 with the reason and
 * the fix in err; *missing is set when the device is simply not there or
 * not ours to open (the default falls back to the user-space device). */
int vhost_net_open(uint64_t *features, bool *missing, char *err, size_t errlen);

/* The features acknowledged (VHOST_SET_FEATURES) and the guest memory
 * vhost may touch (VHOST_SET_MEM_TABLE, every region of mem).  -1 and
 * errno. */
int vhost_net_set_features(int fd, uint64_t features);
int vhost_net_set_mem(int fd, const struct memmap *mem);

struct vhost_ring {
    unsigned num;                  /* queue size */
    const void *desc, *avail, *used;   /* the rings in this process's memory */
    uint16_t base;                 /* next avail index to take */
    int kick, call;                /* eventfds; call -1: no interrupt (no MSI-X vector) */
    int err;                       /* eventfd vhost signals when the guest broke the ring; -1 none */
};

/* Starts vring idx (0 receive, 1 transmit) on the TAP queue tap_fd.  -1
 * and errno. */
int vhost_net_ring_start(int fd, unsigned idx, const struct vhost_ring *r, int tap_fd);
/* Detaches the backend of vring idx (vhost finishes what it was doing)
 * and returns the next avail index in *base.  -1 and errno. */
int vhost_net_ring_stop(int fd, unsigned idx, uint16_t *base);
/* A new call eventfd (the driver moved the queue to another vector). */
int vhost_net_ring_set_call(int fd, unsigned idx, int call);

/* The features to acknowledge to vhost for a driver that accepted
 * `driver`: those vhost knows (the rest, offloads and control queue, are
 * the TAP's and the VMM's business). */
uint64_t vhost_net_ack_features(uint64_t driver, uint64_t vhost);

#endif

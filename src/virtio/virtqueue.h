/* Split virtqueues (virtio 1.x, section 2.7), device side.  One thread owns
 * a queue at a time; the guest's rings are hostile shared memory: every
 * index, address and length is checked, each descriptor is read once into
 * a local copy, and a queue the guest has corrupted is marked broken (the
 * transport then sets DEVICE_NEEDS_RESET) instead of being trusted. */
#ifndef VIREO_VIRTIO_VIRTQUEUE_H
#define VIREO_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem/memmap.h"
#include "util/iov.h"

#define VQ_MAX_SIZE        1024   /* largest queue we offer */
/* Buffers per request after address translation.  Queues are at most
 * VQ_MAX_SIZE long but drivers stay within the device's seg_max; a chain
 * that needs more is refused as broken. */
#define VQ_ELEM_MAX_IOV    260

#define VIRTQ_DESC_F_NEXT      1
#define VIRTQ_DESC_F_WRITE     2
#define VIRTQ_DESC_F_INDIRECT  4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

/* Ring sizes in bytes for a queue of n entries, with the EVENT_IDX words. */
#define VQ_DESC_BYTES(n)  (16ULL * (n))
#define VQ_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VQ_USED_BYTES(n)  (6ULL + 8ULL * (n))

struct vq {
    const struct memmap *mem;
    uint16_t size;
    bool event_idx;
    struct virtq_desc *desc;
    uint8_t *avail;          /* flags, idx, ring[size], used_event */
    uint8_t *used;           /* flags, idx, ring[size], avail_event */
    uint16_t last_avail;     /* next avail entry to take */
    uint16_t used_idx;       /* our copy of used->idx */
    uint16_t signalled_used; /* used idx at the last interrupt */
    bool signalled_valid;
    bool broken;
    const char *why;         /* what broke it, for the log */
};

struct vq_elem {
    uint16_t head;
    unsigned out_num;        /* device-readable buffers, first in iov */
    unsigned in_num;         /* device-writable buffers, after them */
    uint64_t out_len, in_len;
    bool writable_seen;      /* even a zero-length one fixes the order */
    struct iovec iov[VQ_ELEM_MAX_IOV];
};

/* Maps the three rings of a size-n queue at guest-physical addresses; -1
 * if n is not a power of two up to VQ_MAX_SIZE, a ring is misaligned, or a
 * ring is not entirely in guest memory. */
int vq_map(struct vq *vq, const struct memmap *mem, uint16_t n, uint64_t desc, uint64_t avail,
           uint64_t used, bool event_idx);
/* The same with rings already translated (vhost-user gives ring addresses
 * in the front-end's address space). */
int vq_init(struct vq *vq, const struct memmap *mem, uint16_t n, void *desc, void *avail,
            void *used, bool event_idx);
/* Where processing resumes (vhost-user SET_VRING_BASE); also the used
 * index, which the device reads back from the ring. */
void vq_set_base(struct vq *vq, uint16_t last_avail);

/* Takes the next available chain: 1 = got one, 0 = none, -1 = the guest
 * broke the queue (vq->why says how; nothing more is taken from it). */
int vq_pop(struct vq *vq, struct vq_elem *e);
/* Returns a chain to the driver with len bytes written into it. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
/* The same in two steps, for a packet spread over several chains (virtio-
 * net's mergeable buffers), which the driver must see all at once: fill
 * the off-th element after the published ones, then publish n of them. */
void vq_fill(struct vq *vq, unsigned off, uint16_t head, uint32_t len);
void vq_flush(struct vq *vq, unsigned n);
/* Gives back the last n chains taken and not yet returned: they will be
 * taken again (a packet that did not fit waits for more buffers). */
void vq_unpop(struct vq *vq, unsigned n);
/* After pushes: whether the driver wants an interrupt now. */
bool vq_should_notify(struct vq *vq);
/* Kick suppression while the device is busy anyway. */
void vq_disable_kicks(struct vq *vq);
/* Re-arms kicks; true if entries arrived meanwhile (process them, or a
 * kick may have been skipped). */
bool vq_enable_kicks(struct vq *vq);
/* Re-arms kicks for when the driver adds entries beyond those available
 * now, taken or not (a device holding chains back until enough arrive);
 * true if some arrived meanwhile. */
bool vq_wait_for_more(struct vq *vq);
/* Entries available but not yet taken. */
bool vq_has_work(struct vq *vq);

#endif

/* A virtio driver played by a unit test, for testing a device model
 * without a transport: one region of guest RAM, split queues laid out in
 * it, buffers posted and kicked as a guest would, the device's queues
 * served on the test thread's loop.  Uses cmocka's assertions. */
#ifndef VIREO_TESTS_VQ_DRIVER_H
#define VIREO_TESTS_VQ_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/event_loop.h"
#include "mem/memmap.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VQD_GPA      0x10000ULL
#define VQD_RAM      (1024 * 1024)
#define VQD_QSIZE    64
#define VQD_MAX_QUEUES 8

struct vqd_queue {
    uint64_t desc, avail, used;
    uint16_t avail_idx, next_desc;
    struct vq vq;
    int kick;
};

struct vqd {
    uint8_t *ram;
    struct memmap map;
    struct event_loop loop;
    struct virtio_dev *dev;
    unsigned nq;
    struct vqd_queue q[VQD_MAX_QUEUES];
    int notified, broken;
    uint64_t next_buf;
};

struct vqd_seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* RAM and the loop (owned by this thread). */
void vqd_init(struct vqd *d);
/* Accepts every offered feature and starts nq queues of dev. */
void vqd_attach(struct vqd *d, struct virtio_dev *dev, unsigned nq);
/* Stops the queues (before the device is freed). */
void vqd_detach(struct vqd *d);
void vqd_fini(struct vqd *d);
void *vqd_gpa(struct vqd *d, uint64_t gpa);
/* A buffer of len bytes in guest RAM, after the rings. */
uint64_t vqd_alloc(struct vqd *d, size_t len);
/* Makes a chain of n segments available on queue q and kicks; its head. */
uint16_t vqd_post(struct vqd *d, unsigned q, const struct vqd_seg *s, unsigned n);
/* Turns the loop a few times (the device serves kicks and timers). */
void vqd_spin(struct vqd *d, int turns, int timeout_ms);
uint16_t vqd_used_idx(struct vqd *d, unsigned q);
struct virtq_used_elem vqd_used(struct vqd *d, unsigned q, uint16_t i);

#endif

/* virtio-blk (virtio 1.x, section 5.2): the device model, independent of
 * transport and of the image's format.  Each queue is served on the event
 * loop the caller gives it (a dedicated I/O thread's or the main
 * thread's) and its requests go to the back-end (block/bdev.h) through
 * that queue's bdev_queue. */
#ifndef VIREO_VIRTIO_BLK_H
#define VIREO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/bdev.h"
#include "eventloop/event_loop.h"
#include "virtio/blk_req.h"
#include "virtio/blk_stats.h"
#include "virtio/virtio.h"

#define VBLK_MAX_QUEUES    16
#define VBLK_SERIAL_LEN    VBLK_ID_LEN
#define VBLK_QUEUE_SIZE    256

struct vblk_opts {
    unsigned queues;
    char serial[VBLK_SERIAL_LEN + 1];
};

struct vblk;

/* The device for the opened image bs (read-only if bs is), one
 * bdev_queue per queue; loops[i] serves queue i (an I/O thread's loop or
 * the main loop, as the caller assigned them).  bs stays the caller's and
 * must outlive the device.  On failure err says why. */
struct vblk *vblk_new(const struct vblk_opts *opts, struct bdev *bs, struct event_loop *const loops[], char *err,
                      size_t errlen);
void vblk_free(struct vblk *b);
struct virtio_dev *vblk_dev(struct vblk *b);

/* The accounting (blk_stats.h) of queue qi, or of all queues added up;
 * from any thread, while the queues run. */
unsigned vblk_queues(const struct vblk *b);
bool vblk_accounting(const struct vblk *b);
void vblk_queue_stats(const struct vblk *b, unsigned qi, struct blk_qstats_snap *s);
void vblk_stats(const struct vblk *b, struct blk_qstats_snap *sum);

#endif

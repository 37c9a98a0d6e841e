/* The other side of bdev.h: what a format driver provides and may use.
 * raw.c is the first driver; read it as the example.
 *
 * A driver is an ops table.  bdev_open() allocates the struct bdev and
 * calls open, which fills size, request_align, block_size and its own
 * state (bs->state).  bdev_queue_new() allocates a queue, its engine and
 * its pool, then calls queue_init; bdev_submit() checks the request and
 * hands it to submit with r->drv pointing at a free slot of the pool.
 *
 * Per-request state: each queue has a pool of depth slots of req_size
 * bytes (at most depth requests are in flight, so it never runs dry).
 * The slot is the request's from submit until the driver completes it
 * with bdev_req_done() or bdev_req_done_later(), which return the slot:
 * keep there whatever the request needs (aio_reqs, a position, a count
 * of pieces in flight).
 *
 * Fan-out: a driver that splits a request into several host I/Os (qcow2:
 * clusters of the image file, parts read from a backing file) keeps in
 * the slot the number of pieces in flight and the first error, and
 * completes the request when the last piece completes.  Pieces are
 * aio_reqs on q->aio (the same engine, the same loop, so their
 * completions need no locks), or bdev_reqs on child queues
 * (bdev_queue_new_child) of other images: the image file opened as raw
 * with growable set, a backing file opened read-only.  A child queue's
 * pool must hold the pieces of every request in flight: give it
 * depth x (most pieces per request), or queue what does not fit in the
 * slot and submit it as pieces complete.
 *
 * Synchronous I/O (pread, pwrite, sync) blocks the calling thread; a
 * driver may use it on the queue's loop for metadata it must have before
 * going on, at the cost of stalling that loop.
 *
 * Rules: everything a queue does runs on its loop (no locks); a request's
 * done never runs inside bdev_submit (use bdev_req_done_later there); an
 * aio_req's done runs inside the engine's completion batch, after which
 * the queue's batch_end runs. */
#ifndef VIREO_BLOCK_BDEV_DRIVER_H
#define VIREO_BLOCK_BDEV_DRIVER_H

#include "block/bdev.h"

struct bdev_driver {
    const char *name;                  /* "raw"; also bdev_format_name() */
    size_t req_size;                   /* per-request slot, bytes (0: none) */
    size_t queue_size;                 /* per-queue state (q->state), bytes, zeroed */
    /* Opens o->path; fills bs->size, request_align, block_size, state.
     * -1 with a message naming the file in err (nothing left open). */
    int (*open)(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen);
    /* Makes what was written durable (not when read-only), then releases
     * everything.  No queue exists any more. */
    void (*close)(struct bdev *bs);
    /* Optional: after q->state, q->aio and the pool exist. */
    int (*queue_init)(struct bdev_queue *q, char *err, size_t errlen);
    /* Optional: on the queue's loop, nothing in flight. */
    void (*queue_fini)(struct bdev_queue *q);
    /* A checked request; r->drv is its slot. */
    void (*submit)(struct bdev_queue *q, struct bdev_req *r);
    int (*pread)(struct bdev *bs, uint64_t offset, void *buf, size_t len);
    int (*pwrite)(struct bdev *bs, uint64_t offset, const void *buf, size_t len);
    int (*sync)(struct bdev *bs);
    /* Optional: what bdev_describe adds for this format ("backing
     * base.img"). */
    void (*describe)(const struct bdev *bs, char *buf, size_t len);
    /* See bdev_fds. */
    unsigned (*fds)(const struct bdev *bs, int *fds, unsigned max);
};

extern const struct bdev_driver bdev_raw_driver;
extern const struct bdev_driver bdev_qcow2_driver;

/* Opens with a given driver instead of by format (tests' fake drivers). */
struct bdev *bdev_open_driver(const struct bdev_driver *drv, const struct bdev_opts *o, char *err, size_t errlen);

/* Completes r now: from a completion or any callback on the queue's loop,
 * not from inside submit.  Returns r's slot to the pool first, so done may
 * submit again. */
void bdev_req_done(struct bdev_queue *q, struct bdev_req *r, int ret);
/* From inside submit (a request that fails or finishes at once): it
 * completes at the next bdev_unplug, as every path does. */
void bdev_req_done_later(struct bdev_queue *q, struct bdev_req *r, int ret);
/* Runs the queue's batch_end hook: a driver completing requests outside
 * an engine batch calls it after them. */
void bdev_queue_batch_end(struct bdev_queue *q);

#endif

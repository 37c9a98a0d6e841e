/* The block back-end interface: an opened disk image as a device model
 * (virtio-blk, also behind vhost-user) uses it, whatever the image's
 * format.  The device model knows nothing of files, O_DIRECT, formats or
 * I/O engines; the format driver knows nothing of virtio.
 *
 *    device model (virtio/blk.c)
 *        |   struct bdev_req: READ, WRITE, FLUSH, DISCARD, WRITE_ZEROES
 *        v
 *    struct bdev_queue: one per device queue, bound to that queue's event
 *        |   loop, owning the loop's aio engine
 *        v
 *    format driver (bdev_driver.h): raw.c (regular files and block
 *        |   devices), qcow2_bdev.c (qcow2 images and their backing chains)
 *        v
 *    aio engine (aio.h: io_uring, a thread pool, or inline syscalls for
 *        images in memory) -> host files
 *
 * Who does what:
 * - The assembling layer (vm/disk.c) opens the image with bdev_open(),
 *   choosing its format (never guessed from the image's contents: a guest
 *   can write any header into a raw image), and closes it after the device
 *   model is gone.  bdev_close() flushes what was written, as QEMU does at
 *   exit.
 * - The device model makes one bdev_queue per queue on that queue's event
 *   loop and submits requests there.  The fields of struct bdev are
 *   constant after open (except size for a growable image, on its loop)
 *   and may be read from any thread.
 * - Everything the back-end needs on its own is behind the interface: the
 *   alignment O_DIRECT wants, bounce buffers for guest memory that does
 *   not have it, write-zeroes done as writes where the host cannot
 *   fallocate, write-through.
 *
 * Threads: a bdev_queue belongs to one event loop.  bdev_submit,
 * bdev_unplug, the polling hooks and every completion run on that loop's
 * thread, and nothing there is locked.  bdev_queue_new may be called from
 * any thread; bdev_queue_free too (it tears the queue down on its loop).
 */
#ifndef VIREO_BLOCK_BDEV_H
#define VIREO_BLOCK_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/aio.h"
#include "eventloop/event_loop.h"

/* The image's format, chosen by the caller (configuration), never guessed
 * from its contents. */
enum bdev_format {
    BDEV_FORMAT_RAW,           /* a regular file or a host block device, byte for byte */
    BDEV_FORMAT_QCOW2,         /* QEMU's qcow2 (block/qcow2.h), with its backing chain */
    BDEV_FORMAT_COUNT
};

enum blk_cache {
    BLK_CACHE_WRITEBACK,       /* through the host page cache */
    BLK_CACHE_NONE,            /* O_DIRECT: the host page cache is bypassed */
};

struct bdev_opts {
    const char *path;
    enum bdev_format format;
    bool ro;
    enum blk_cache cache;
    enum aio_kind aio;         /* the engine each queue gets */
    /* Writes past the end extend the image instead of failing. */
    bool growable;
    /* qcow2: refuse an image that names a backing file (backing=off). */
    bool no_backing;
    /* For a format driver's children (raw only): the file is this one,
     * already opened and locked, and stays its owner's (not flushed or
     * closed with the bdev); path only names it. */
    struct bfile *file;
    /* Nonzero (raw only): the size to check requests against instead of
     * the file's, e.g. the most a format's image file may span, which the
     * format grows itself (reads past the file's end give zeroes). */
    uint64_t size;
    /* How the user asks for a read-only disk where this one was named
     * (",ro", "--ro", "access=r"): the hint of a permission error; NULL:
     * none.  The block layer does not know the command line. */
    const char *ro_hint;
};

struct bdev_driver;
struct bfile;

struct bdev {
    const struct bdev_driver *drv;
    char *path;
    enum bdev_format format;
    bool ro;
    bool growable;
    enum blk_cache cache;
    enum aio_kind aio;
    uint64_t size;             /* virtual size in bytes, a multiple of 512 */
    /* Offsets and lengths of READ, WRITE and WRITE_ZEROES must be
     * multiples of request_align (512, or what O_DIRECT on this storage
     * needs); DISCARD's of 512.  block_size (>= request_align) is the
     * logical block size to report to guests. */
    uint32_t request_align;
    uint32_t block_size;
    /* The engine of the first queue, for the log line. */
    const char *engine;
    bool engine_inline;
    void *state;               /* the driver's */
};

enum bdev_op {
    BDEV_READ,
    BDEV_WRITE,
    BDEV_FLUSH,                /* everything completed before is on stable storage */
    BDEV_DISCARD,              /* a hint: the range may be deallocated; reads of it are undefined */
    BDEV_WRITE_ZEROES,
};

/* WRITE_ZEROES: the range may be deallocated (it still reads zeroes). */
#define BDEV_F_UNMAP 1u
/* WRITE, WRITE_ZEROES: on stable storage when it completes (write-through,
 * for a guest that never flushes). */
#define BDEV_F_FUA   2u

struct bdev_req {
    /* The caller's, set before bdev_submit. */
    enum bdev_op op;
    unsigned flags;            /* BDEV_F_* */
    uint64_t offset;           /* bytes into the virtual disk */
    uint64_t len;              /* bytes (READ and WRITE: set by bdev_submit from iov) */
    /* READ and WRITE: the data, e.g. guest memory.  The driver may change
     * the array (short transfers advance it) until done runs; the memory
     * it points at is written only by READs. */
    struct iovec *iov;
    unsigned iovcnt;
    /* Runs on the queue's loop with 0 or -errno, never from inside
     * bdev_submit; the request is the caller's again. */
    void (*done)(struct bdev_req *r, int ret);

    /* The driver's while the request is in flight: its slot in the queue's
     * pool, bdev_driver.req_size bytes. */
    void *drv;
    /* Internal. */
    int ret;
    struct bdev_req *next;
};

/* The most bounce memory (copies of guest buffers O_DIRECT cannot take)
 * the raw driver holds per queue, whatever the guest sends: larger
 * requests are copied in pieces, and requests wait for memory. */
#define BDEV_BOUNCE_MAX_PER_QUEUE (2u << 20)

/* What a queue's back-end holds, for observability and tests.  Written on
 * the queue's loop only; read elsewhere as approximate values. */
struct bdev_queue_stats {
    uint64_t bounce_bytes;     /* memory held now for copies of misaligned buffers */
    uint64_t bounce_peak;      /* the most it ever held */
    uint64_t bounce_waits;     /* requests that waited for bounce memory */
    uint64_t alloc_waits;      /* qcow2: waits for a cluster another request was allocating */
    uint64_t flush_syncs;      /* qcow2: guest FLUSHes that needed an fdatasync of the image */
};

struct bdev_queue {
    struct bdev *bs;
    struct event_loop *loop;
    /* The loop's engine.  A format driver submits its host I/O here, for
     * the image file and the files of its backing chain alike (their
     * queues are children of this one, bdev_queue_new_child). */
    struct aio_engine *aio;
    unsigned depth;            /* at most this many requests in flight */
    void *state;               /* the driver's (bdev_driver.queue_size bytes) */
    struct bdev_queue_stats stats;

    /* Internal. */
    struct bdev_queue *parent; /* a child shares its parent's engine */
    void (*batch_end)(void *opaque);
    void *batch_opaque;
    void **pool;               /* free per-request slots */
    unsigned pool_free;
    void *pool_mem;
    struct bdev_req *deferred, **deferred_tail;
    bool delivering;
};

/* Opens an image; -1 with a message naming the file in err. */
struct bdev *bdev_open(const struct bdev_opts *o, char *err, size_t errlen);
/* Flushes what was written (not for read-only images) and closes.  Every
 * queue must be freed first. */
void bdev_close(struct bdev *bs);

/* One line's worth for the log: "1024 MiB, cache=none, aio=io_uring" (and
 * "read-only, " first, the format's name and details for formats other
 * than raw, the block size when it is not 512).  The engine is known once
 * a queue exists. */
void bdev_describe(const struct bdev *bs, char *buf, size_t len);

/* A queue on loop for up to depth requests in flight, with its own aio
 * engine (bs->aio's kind); -1 with the reason in err. */
struct bdev_queue *bdev_queue_new(struct bdev *bs, struct event_loop *loop, unsigned depth, char *err,
                                  size_t errlen);
/* For a format driver: a queue of another image (bs: its image file
 * opened as raw, a backing file) on parent's loop, sharing parent's
 * engine, so one engine serves every file behind a device queue. */
struct bdev_queue *bdev_queue_new_child(struct bdev *bs, struct bdev_queue *parent, unsigned depth, char *err,
                                        size_t errlen);
/* Waits for nothing: the caller has no request in flight on it. */
void bdev_queue_free(struct bdev_queue *q);

/* fn(opaque) runs on the loop after each batch of completions (where a
 * device sends one interrupt for the batch). */
void bdev_queue_set_batch_end(struct bdev_queue *q, void (*fn)(void *), void *opaque);

/* Queues a request.  The range is checked here (inside the image,
 * aligned, no writes to a read-only image): a bad one completes with
 * -EINVAL or -EROFS without reaching the driver.  Requests go out at the
 * next bdev_unplug. */
void bdev_submit(struct bdev_queue *q, struct bdev_req *r);
/* Sends what was submitted since the last call in one batch (one
 * io_uring_submit); requests that completed at once complete here. */
void bdev_unplug(struct bdev_queue *q);

/* For an event loop's polling window (el_poller): completions are looked
 * for without their eventfd; see aio_poll_begin. */
void bdev_queue_poll_begin(struct bdev_queue *q);
bool bdev_queue_poll(struct bdev_queue *q);
bool bdev_queue_poll_end(struct bdev_queue *q);

/* Synchronous I/O on the calling thread, blocking it: a format driver's
 * metadata (headers, tables) when the asynchronous path does not fit, and
 * tools.  Any offset, length and buffer alignment (the driver bounces
 * what O_DIRECT cannot take); reads past the end give zeroes.  0 or
 * -errno. */
int bdev_pread(struct bdev *bs, uint64_t offset, void *buf, size_t len);
int bdev_pwrite(struct bdev *bs, uint64_t offset, const void *buf, size_t len);
int bdev_sync(struct bdev *bs);

/* The host descriptors the synchronous path of the image reads (a raw
 * image's file; a qcow2 image's and those of its backing chain): what a
 * sandboxed reader must keep, e.g. the boot loader's child, which reads
 * through bdev_pread.  Their number (at most max are stored). */
unsigned bdev_fds(const struct bdev *bs, int *fds, unsigned max);

int blk_cache_parse(const char *s, enum blk_cache *out);
/* "raw", "qcow2"; -1 if unknown. */
int bdev_format_parse(const char *s, enum bdev_format *out);
const char *bdev_format_name(enum bdev_format f);

#endif

/* The format-independent half of the block back-end: opening by format,
 * queues with their engine and per-request pool, the checks every request
 * passes before a driver sees it, and completions delivered in batches. */
#include "block/bdev_driver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/iov.h"
#include "util/log.h"

static const struct bdev_driver *const drivers[BDEV_FORMAT_COUNT] = {
    [BDEV_FORMAT_RAW] = &bdev_raw_driver,
    [BDEV_FORMAT_QCOW2] = &bdev_qcow2_driver,
};

const char *bdev_format_name(enum bdev_format f)
{
    return (unsigned)f < BDEV_FORMAT_COUNT ? drivers[f]->name : "?";
}

int bdev_format_parse(const char *s, enum bdev_format *out)
{
    for (unsigned i = 0; i < BDEV_FORMAT_COUNT; i++) {
        if (!strcmp(s, drivers[i]->name)) {
            *out = (enum bdev_format)i;
            return 0;
        }
    }
    return -1;
}

int blk_cache_parse(const char *s, enum blk_cache *out)
{
    if (!strcmp(s, "none"))
        *out = BLK_CACHE_NONE;
    else if (!strcmp(s, "writeback"))
        *out = BLK_CACHE_WRITEBACK;
    else
        return -1;
    return 0;
}

struct bdev *bdev_open_driver(const struct bdev_driver *drv, const struct bdev_opts *o, char *err, size_t errlen)
{
    struct bdev *bs = calloc(1, sizeof(*bs));
    if (bs)
        bs->path = strdup(o->path);
    if (!bs || !bs->path) {
        free(bs);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    bs->drv = drv;
    bs->format = o->format;
    bs->ro = o->ro;
    bs->growable = o->growable;
    bs->cache = o->cache;
    bs->aio = o->aio;
    bs->request_align = bs->block_size = 512;
    if (drv->open(bs, o, err, errlen) < 0) {
        free(bs->path);
        free(bs);
        return NULL;
    }
    return bs;
}

struct bdev *bdev_open(const struct bdev_opts *o, char *err, size_t errlen)
{
    if ((unsigned)o->format >= BDEV_FORMAT_COUNT) {
        snprintf(err, errlen, "disk %s: unknown format", o->path);
        return NULL;
    }
    return bdev_open_driver(drivers[o->format], o, err, errlen);
}

void bdev_close(struct bdev *bs)
{
    if (!bs)
        return;
    bs->drv->close(bs);
    free(bs->path);
    free(bs);
}

void bdev_describe(const struct bdev *bs, char *buf, size_t len)
{
    char fmt[640], extra[600] = "";
    if (bs->drv->describe)
        bs->drv->describe(bs, extra, sizeof(extra));
    snprintf(fmt, sizeof(fmt), "%s%s%s, ", bs->drv->name, extra[0] ? ", " : "", extra);
    char blocks[32] = "";
    if (bs->block_size != 512)
        snprintf(blocks, sizeof(blocks), ", %u-byte blocks", bs->block_size);
    snprintf(buf, len, "%s%s%llu MiB%s, cache=%s, aio=%s%s", bs->ro ? "read-only, " : "", fmt,
             (unsigned long long)(bs->size >> 20), blocks, bs->cache == BLK_CACHE_NONE ? "none" : "writeback",
             bs->engine ? bs->engine : "?", bs->engine_inline ? " (in memory: small requests inline)" : "");
}

/* ---- queues ---- */

static void queue_release(struct bdev_queue *q)
{
    free(q->pool);
    free(q->pool_mem);
    free(q->state);
    free(q);
}

static void engine_batch_end(void *opaque)
{
    bdev_queue_batch_end(opaque);
}

void bdev_queue_batch_end(struct bdev_queue *q)
{
    if (q->batch_end)
        q->batch_end(q->batch_opaque);
}

void bdev_queue_set_batch_end(struct bdev_queue *q, void (*fn)(void *), void *opaque)
{
    q->batch_end = fn;
    q->batch_opaque = opaque;
}

static void queue_teardown(void *arg)
{
    struct bdev_queue *q = arg;
    if (q->bs->drv->queue_fini && q->state)
        q->bs->drv->queue_fini(q);
    /* The engine's watch lives on this loop: it goes here. */
    if (!q->parent)
        aio_engine_free(q->aio);
}

void bdev_queue_free(struct bdev_queue *q)
{
    if (!q)
        return;
    event_loop_call(q->loop, queue_teardown, q);
    queue_release(q);
}

static struct bdev_queue *queue_alloc(struct bdev *bs, struct event_loop *loop, unsigned depth, char *err,
                                      size_t errlen)
{
    const struct bdev_driver *drv = bs->drv;
    struct bdev_queue *q = calloc(1, sizeof(*q));
    if (!q)
        goto oom;
    q->bs = bs;
    q->loop = loop;
    q->depth = depth;
    q->deferred_tail = &q->deferred;
    if (drv->queue_size && !(q->state = calloc(1, drv->queue_size)))
        goto oom;
    if (drv->req_size) {
        /* Slots aligned for anything a driver keeps in them. */
        size_t slot = (drv->req_size + 63) & ~(size_t)63;
        q->pool = calloc(depth, sizeof(*q->pool));
        if (!q->pool || posix_memalign(&q->pool_mem, 64, slot * depth))
            goto oom;
        memset(q->pool_mem, 0, slot * depth);
        for (unsigned i = 0; i < depth; i++)
            q->pool[q->pool_free++] = (uint8_t *)q->pool_mem + (size_t)i * slot;
    }
    return q;
oom:
    snprintf(err, errlen, "disk %s: out of memory", bs->path);
    if (q)
        queue_release(q);
    return NULL;
}

/* The driver's part; a driver whose queue_init fails has cleaned up. */
static struct bdev_queue *queue_init(struct bdev_queue *q, char *err, size_t errlen)
{
    if (q->bs->drv->queue_init && q->bs->drv->queue_init(q, err, errlen) < 0) {
        if (!q->parent)
            event_loop_call(q->loop, (void (*)(void *))aio_engine_free, q->aio);
        queue_release(q);
        return NULL;
    }
    if (!q->bs->engine) {
        q->bs->engine = aio_engine_name(q->aio);
        q->bs->engine_inline = aio_engine_inline(q->aio);
    }
    return q;
}

struct bdev_queue *bdev_queue_new(struct bdev *bs, struct event_loop *loop, unsigned depth, char *err,
                                  size_t errlen)
{
    struct bdev_queue *q = queue_alloc(bs, loop, depth, err, errlen);
    if (!q)
        return NULL;
    char why[256];
    q->aio = aio_engine_new(loop, bs->aio, depth, why, sizeof(why));
    if (!q->aio) {
        snprintf(err, errlen, "disk %s: %s", bs->path, why);
        queue_release(q);
        return NULL;
    }
    if (!bs->engine && bs->aio == AIO_AUTO && strcmp(aio_engine_name(q->aio), "io_uring"))
        vlog_info("disk %s: %susing aio=threads", bs->path, why);
    aio_engine_set_batch_end(q->aio, engine_batch_end, q);
    return queue_init(q, err, errlen);
}

struct bdev_queue *bdev_queue_new_child(struct bdev *bs, struct bdev_queue *parent, unsigned depth, char *err,
                                        size_t errlen)
{
    struct bdev_queue *q = queue_alloc(bs, parent->loop, depth, err, errlen);
    if (!q)
        return NULL;
    q->parent = parent;
    q->aio = parent->aio;
    return queue_init(q, err, errlen);
}

/* ---- requests ---- */

static int check(const struct bdev *bs, const struct bdev_req *r)
{
    uint64_t align = r->op == BDEV_READ || r->op == BDEV_WRITE ? bs->request_align : 512;
    switch (r->op) {
    case BDEV_FLUSH:
        return 0;
    case BDEV_WRITE:
    case BDEV_DISCARD:
    case BDEV_WRITE_ZEROES:
        if (bs->ro)
            return -EROFS;
        break;
    case BDEV_READ:
        break;
    default:
        return -EOPNOTSUPP;
    }
    if ((r->offset | r->len) & (align - 1))
        return -EINVAL;
    bool grows = bs->growable && r->op != BDEV_READ && r->op != BDEV_DISCARD;
    if (!grows && (r->offset > bs->size || r->len > bs->size - r->offset))
        return -EINVAL;
    if (r->offset + r->len < r->offset)
        return -EINVAL;
    return 0;
}

void bdev_submit(struct bdev_queue *q, struct bdev_req *r)
{
    if (r->op == BDEV_READ || r->op == BDEV_WRITE)
        r->len = iov_size(r->iov, r->iovcnt);
    r->drv = NULL;
    int err = check(q->bs, r);
    if (!err && !r->len && r->op != BDEV_FLUSH && r->op != BDEV_READ && r->op != BDEV_WRITE) {
        bdev_req_done_later(q, r, 0);   /* nothing to discard or zero */
        return;
    }
    if (!err && q->bs->drv->req_size) {
        /* The caller keeps at most depth requests in flight. */
        if (!q->pool_free)
            err = -EBUSY;
        else
            r->drv = q->pool[--q->pool_free];
    }
    if (err) {
        bdev_req_done_later(q, r, err);
        return;
    }
    q->bs->drv->submit(q, r);
}

static void put_slot(struct bdev_queue *q, struct bdev_req *r)
{
    if (r->drv) {
        q->pool[q->pool_free++] = r->drv;
        r->drv = NULL;
    }
}

void bdev_req_done(struct bdev_queue *q, struct bdev_req *r, int ret)
{
    put_slot(q, r);
    r->done(r, ret);
}

void bdev_req_done_later(struct bdev_queue *q, struct bdev_req *r, int ret)
{
    put_slot(q, r);
    r->ret = ret;
    r->next = NULL;
    /* A child's go with its root's, whose unplug the device calls. */
    while (q->parent)
        q = q->parent;
    *q->deferred_tail = r;
    q->deferred_tail = &r->next;
}

void bdev_unplug(struct bdev_queue *q)
{
    aio_flush(q->aio);
    /* A done() that submits and unplugs again lands here nested: the outer
     * loop takes its requests. */
    if (q->delivering || !q->deferred)
        return;
    q->delivering = true;
    while (q->deferred) {
        struct bdev_req *r = q->deferred;
        q->deferred = r->next;
        if (!q->deferred)
            q->deferred_tail = &q->deferred;
        r->done(r, r->ret);
    }
    q->delivering = false;
    while (q->parent)
        q = q->parent;
    bdev_queue_batch_end(q);
}

void bdev_queue_poll_begin(struct bdev_queue *q)
{
    aio_poll_begin(q->aio);
}

bool bdev_queue_poll(struct bdev_queue *q)
{
    return aio_poll(q->aio);
}

bool bdev_queue_poll_end(struct bdev_queue *q)
{
    return aio_poll_end(q->aio);
}

/* ---- synchronous I/O ---- */

int bdev_pread(struct bdev *bs, uint64_t offset, void *buf, size_t len)
{
    return bs->drv->pread ? bs->drv->pread(bs, offset, buf, len) : -EOPNOTSUPP;
}

int bdev_pwrite(struct bdev *bs, uint64_t offset, const void *buf, size_t len)
{
    if (bs->ro)
        return -EROFS;
    return bs->drv->pwrite ? bs->drv->pwrite(bs, offset, buf, len) : -EOPNOTSUPP;
}

int bdev_sync(struct bdev *bs)
{
    return bs->drv->sync ? bs->drv->sync(bs) : 0;
}

unsigned bdev_fds(const struct bdev *bs, int *fds, unsigned max)
{
    return bs->drv->fds ? bs->drv->fds(bs, fds, max) : 0;
}

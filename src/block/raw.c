/* The raw format: a regular (possibly sparse) file or a host block device
 * holding the disk byte for byte, opened with the cache mode's flags and
 * locked against a second writer, as QEMU locks its images.  Requests map
 * one to one onto the aio engine; what O_DIRECT cannot take from guest
 * memory is bounced through an aligned copy, and write-zeroes the host
 * cannot fallocate is done as writes of zeroes. */
#include "block/bdev_driver.h"
#include "block/bfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/iov.h"
#include "util/log.h"

/* A request larger than this is copied through its bounce buffer piece by
 * piece; with BDEV_BOUNCE_MAX_PER_QUEUE, 8 such buffers per queue. */
#define BOUNCE_CHUNK (256u << 10)
#define ZERO_CHUNK  (64u << 10)
#define ZERO_IOV    16

struct raw {
    struct bfile *file;        /* opened, sized, probed and locked by bfile_fd_open */
    bool owned;                /* else a format driver's file, which it closes */
    int fd;
    bool direct;               /* O_DIRECT (cache=none) */
    uint32_t mem_align;        /* O_DIRECT: what buffer addresses must be multiples of */
    uint8_t *zeroes;           /* ZERO_CHUNK bytes of zeroes, for write-zeroes done as writes */
};

struct raw_req {
    struct aio_req aio;
    struct bdev_queue *q;
    struct bdev_req *r;
    void *bounce;              /* aligned copy of a piece of the data for O_DIRECT */
    size_t bounce_len;         /* its size */
    uint64_t bounce_done;      /* bytes of the request done through it */
    struct raw_req *next_wait; /* waiting for bounce memory */
    uint64_t zero_pos;         /* write-zeroes done as writes: where the next chunk goes */
    uint64_t zero_left;        /* and the bytes still to write */
    struct iovec own_iov[ZERO_IOV];
};

/* Requests waiting for bounce memory, in arrival order. */
struct raw_queue {
    struct raw_req *wait_head, **wait_tail;
};

/* ---- open and close ---- */

/* Alignment of the buffers the driver allocates: enough for O_DIRECT,
 * and whole pages. */
static size_t buf_align(const struct raw *s)
{
    return s->mem_align > 4096 ? s->mem_align : 4096;
}

static int raw_open(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen)
{
    struct raw *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const char *path = o->path;
    char why[PATH_MAX + 256];
    s->owned = !o->file;
    s->file = o->file;
    if (!s->file) {
        int r = bfile_fd_open(&s->file, path, o->ro, o->cache == BLK_CACHE_NONE, why, sizeof(why));
        if (r < 0) {
            bool perm = (r == -EACCES || r == -EROFS) && !o->ro && o->ro_hint;
            snprintf(err, errlen, "disk %s%s%s%s", why, perm ? " (add " : "", perm ? o->ro_hint : "",
                     perm ? " for a read-only disk)" : "");
            free(s);
            return -1;
        }
    }
    struct bfile *f = s->file;
    s->fd = f->fd;
    s->direct = f->direct;
    int r = o->size ? 0 : bfile_size(f, &bs->size);
    if (r < 0) {
        snprintf(err, errlen, "disk %s: %s", path, strerror(-r));
        goto fail;
    }
    if (o->size)
        bs->size = o->size;
    if (bs->size % 512) {
        snprintf(err, errlen, "disk %s: size %llu is not a multiple of 512 bytes", path,
                 (unsigned long long)bs->size);
        goto fail;
    }
    bs->block_size = f->logical_block ? f->logical_block : 512;
    s->mem_align = 1;
    if (s->direct) {
        bs->request_align = f->align;
        s->mem_align = f->mem_align;
        if (bs->block_size < f->align)
            bs->block_size = f->align;
    }
    /* Written through O_DIRECT too: aligned like any buffer it takes. */
    if (posix_memalign((void **)&s->zeroes, buf_align(s), ZERO_CHUNK))
        s->zeroes = NULL;
    else
        memset(s->zeroes, 0, ZERO_CHUNK);
    if (!s->zeroes) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    bs->state = s;
    return 0;
fail:
    if (s->owned)
        bfile_close(s->file);
    free(s);
    return -1;
}

static void raw_close(struct bdev *bs)
{
    struct raw *s = bs->state;
    /* What the guest wrote and never flushed reaches the disk now, as QEMU
     * flushes its images at exit (O_DIRECT too: the disk's own cache).  A
     * format's file is its format's to flush and close. */
    if (s->owned) {
        int r = bs->ro ? 0 : bfile_sync(s->file);
        if (r < 0)
            vlog_err("disk %s: flushing at close: %s", bs->path, strerror(-r));
        bfile_close(s->file);
    }
    free(s->zeroes);
    free(s);
}

static unsigned raw_fds(const struct bdev *bs, int *fds, unsigned max)
{
    if (max)
        fds[0] = ((const struct raw *)bs->state)->fd;
    return 1;
}

static int raw_queue_init(struct bdev_queue *q, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct raw *s = q->bs->state;
    struct raw_queue *rq = q->state;
    rq->wait_tail = &rq->wait_head;
    aio_engine_register_fd(q->aio, s->fd);
    return 0;
}

/* ---- requests ---- */

static void submit_zero_chunk(struct raw_req *rr)
{
    struct raw *s = rr->q->bs->state;
    uint64_t len = rr->zero_left < (uint64_t)ZERO_CHUNK * ZERO_IOV ? rr->zero_left : (uint64_t)ZERO_CHUNK * ZERO_IOV;
    unsigned n = 0;
    for (uint64_t done = 0; done < len; n++) {
        uint64_t c = len - done < ZERO_CHUNK ? len - done : ZERO_CHUNK;
        rr->own_iov[n] = (struct iovec){s->zeroes, (size_t)c};
        done += c;
    }
    rr->aio.op = AIO_WRITE;
    rr->aio.offset = rr->zero_pos;
    rr->aio.iov = rr->own_iov;
    rr->aio.iovcnt = n;
    aio_submit(rr->q->aio, &rr->aio);
    aio_flush(rr->q->aio);
}

/* ---- bounce buffers: guest memory O_DIRECT cannot take ---- */

/* The piece of the request at bounce_done through the bounce buffer. */
static void bounce_submit_piece(struct raw_req *rr, bool flush)
{
    struct bdev_req *r = rr->r;
    uint64_t left = r->len - rr->bounce_done;
    size_t c = left < rr->bounce_len ? (size_t)left : rr->bounce_len;
    if (r->op == BDEV_WRITE)
        iov_to_buf(r->iov, r->iovcnt, rr->bounce_done, rr->bounce, c);
    rr->own_iov[0] = (struct iovec){rr->bounce, c};
    rr->aio.op = r->op == BDEV_READ ? AIO_READ : AIO_WRITE;
    rr->aio.offset = r->offset + rr->bounce_done;
    rr->aio.iov = rr->own_iov;
    rr->aio.iovcnt = 1;
    aio_submit(rr->q->aio, &rr->aio);
    if (flush)
        aio_flush(rr->q->aio);
}

static size_t bounce_need(const struct raw_req *rr)
{
    return rr->r->len < BOUNCE_CHUNK ? (size_t)rr->r->len : BOUNCE_CHUNK;
}

/* Takes bounce memory for rr and sends its first piece: 1; 0 if the
 * queue holds too much already, or no memory can be had while it holds
 * some (rr must wait for some to come back); -ENOMEM if none can be had
 * at all.  A queue holding nothing always gets its request going. */
static int bounce_start(struct raw_req *rr, bool flush)
{
    struct bdev_queue_stats *st = &rr->q->stats;
    size_t need = bounce_need(rr);
    if (st->bounce_bytes && st->bounce_bytes + need > BDEV_BOUNCE_MAX_PER_QUEUE)
        return 0;
    void *p;
    if (posix_memalign(&p, buf_align(rr->q->bs->state), need))
        return st->bounce_bytes ? 0 : -ENOMEM;
    rr->bounce = p;
    rr->bounce_len = need;
    rr->bounce_done = 0;
    st->bounce_bytes += need;
    if (st->bounce_bytes > st->bounce_peak)
        st->bounce_peak = st->bounce_bytes;
    bounce_submit_piece(rr, flush);
    return 1;
}

static void bounce_wait(struct raw_req *rr)
{
    struct raw_queue *rq = rr->q->state;
    rr->q->stats.bounce_waits++;
    rr->next_wait = NULL;
    *rq->wait_tail = rr;
    rq->wait_tail = &rr->next_wait;
}

/* A piece completed: true if the request goes on with the next one. */
static bool bounce_piece_done(struct raw_req *rr)
{
    struct bdev_req *r = rr->r;
    uint64_t left = r->len - rr->bounce_done;
    size_t c = left < rr->bounce_len ? (size_t)left : rr->bounce_len;
    if (r->op == BDEV_READ)
        iov_from_buf(r->iov, r->iovcnt, rr->bounce_done, rr->bounce, c);
    rr->bounce_done += c;
    if (rr->bounce_done >= r->len)
        return false;
    bounce_submit_piece(rr, true);
    return true;
}

/* Gives the memory back and starts the requests waiting for it. */
static void bounce_release(struct raw_req *rr)
{
    struct bdev_queue *q = rr->q;
    struct raw_queue *rq = q->state;
    free(rr->bounce);
    rr->bounce = NULL;
    q->stats.bounce_bytes -= rr->bounce_len;
    while (rq->wait_head) {
        struct raw_req *w = rq->wait_head;
        if (q->stats.bounce_bytes && q->stats.bounce_bytes + bounce_need(w) > BDEV_BOUNCE_MAX_PER_QUEUE)
            break;
        /* Off the list before it starts: its first piece may complete
         * inside bounce_start and come back here. */
        rq->wait_head = w->next_wait;
        if (!rq->wait_head)
            rq->wait_tail = &rq->wait_head;
        int started = bounce_start(w, true);
        if (started == 0) {
            w->next_wait = rq->wait_head;   /* no memory now: first again */
            rq->wait_head = w;
            if (!w->next_wait)
                rq->wait_tail = &w->next_wait;
            break;
        }
        if (started < 0)
            bdev_req_done(q, w->r, started);
    }
}

static void aio_done(struct aio_req *a)
{
    struct raw_req *rr = (struct raw_req *)a;
    struct bdev_req *r = rr->r;
    if (a->op == AIO_FALLOCATE && rr->zero_left && a->result == -EOPNOTSUPP) {
        /* No ZERO_RANGE here (tmpfs, some block devices): write zeroes. */
        submit_zero_chunk(rr);
        return;
    }
    if (a->op == AIO_WRITE && rr->zero_left && a->result >= 0) {
        /* A short write was continued by the engine (aio_req_progress
         * moved a->offset along): the chunk is done as a whole, and the
         * next one starts where it ends. */
        rr->zero_pos += (uint64_t)a->result;
        rr->zero_left -= (uint64_t)a->result;
        if (rr->zero_left) {
            submit_zero_chunk(rr);
            return;
        }
    }
    if (a->op == AIO_FALLOCATE && a->result >= 0 && (r->flags & BDEV_F_FUA)) {
        /* Write-through: the zeroes reach stable storage before the
         * request completes. */
        a->op = AIO_FDATASYNC;
        aio_submit(rr->q->aio, a);
        aio_flush(rr->q->aio);
        return;
    }
    int ret = 0;
    if (a->result < 0) {
        /* A discard is a hint: if the host cannot, nothing was promised. */
        bool hint = r->op == BDEV_DISCARD && (a->result == -EOPNOTSUPP || a->result == -ENOSYS);
        ret = hint ? 0 : (int)a->result;
    }
    if (rr->bounce) {
        if (ret == 0 && bounce_piece_done(rr))
            return;
        bounce_release(rr);
    }
    struct bdev *bs = rr->q->bs;
    if (ret == 0 && bs->growable && r->op != BDEV_READ && r->op != BDEV_DISCARD && r->op != BDEV_FLUSH &&
        r->offset + r->len > bs->size)
        bs->size = r->offset + r->len;
    bdev_req_done(rr->q, r, ret);
}

/* Whether O_DIRECT takes these buffers as they are: addresses on the
 * memory alignment, and each piece whole blocks (kernels before 6.x
 * refuse shorter pieces). */
static bool dio_aligned(const struct bdev *bs, const struct iovec *iov, unsigned n)
{
    const struct raw *s = bs->state;
    uintptr_t mem = s->mem_align - 1, len = bs->request_align - 1;
    for (unsigned i = 0; i < n; i++)
        if (((uintptr_t)iov[i].iov_base & mem) || (iov[i].iov_len & len))
            return false;
    return true;
}

static void raw_submit(struct bdev_queue *q, struct bdev_req *r)
{
    struct raw *s = q->bs->state;
    struct raw_req *rr = r->drv;
    struct aio_req *a = &rr->aio;
    rr->q = q;
    rr->r = r;
    rr->bounce = NULL;
    rr->zero_left = 0;
    a->fd = s->fd;
    a->done = aio_done;
    a->offset = r->offset;
    /* Every write of a write-through request: data, bounced pieces, the
     * zeroes of write-zeroes done as writes. */
    a->rw_flags = r->flags & BDEV_F_FUA ? RWF_DSYNC : 0;
    switch (r->op) {
    case BDEV_READ:
    case BDEV_WRITE:
        a->op = r->op == BDEV_READ ? AIO_READ : AIO_WRITE;
        a->iov = r->iov;
        a->iovcnt = r->iovcnt;
        if (s->direct && r->len && !dio_aligned(q->bs, r->iov, r->iovcnt)) {
            /* Behind the others already waiting, so none waits for ever. */
            struct raw_queue *rq = q->state;
            int started = rq->wait_head ? 0 : bounce_start(rr, false);
            if (started < 0)
                bdev_req_done_later(q, r, started);
            else if (started == 0)
                bounce_wait(rr);
            return;
        }
        break;
    case BDEV_FLUSH:
        a->op = AIO_FDATASYNC;
        break;
    case BDEV_DISCARD:
    case BDEV_WRITE_ZEROES: {
        bool punch = r->op == BDEV_DISCARD || (r->flags & BDEV_F_UNMAP);
        a->op = AIO_FALLOCATE;
        a->len = r->len;
        a->falloc_mode = FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
        if (r->op == BDEV_WRITE_ZEROES) {
            rr->zero_pos = r->offset;
            rr->zero_left = r->len;
        }
        break;
    }
    }
    aio_submit(q->aio, a);
}

/* ---- synchronous I/O: the file's own, which bounces what O_DIRECT
 * cannot take ---- */

static int raw_pread(struct bdev *bs, uint64_t off, void *buf, size_t len)
{
    const struct raw *s = bs->state;
    return bfile_pread(s->file, buf, len, off);
}

static int raw_pwrite(struct bdev *bs, uint64_t off, const void *buf, size_t len)
{
    const struct raw *s = bs->state;
    int ret = bfile_pwrite(s->file, buf, len, off);
    if (ret == 0 && bs->growable && off + len > bs->size)
        bs->size = off + len;
    return ret;
}

static int raw_sync(struct bdev *bs)
{
    const struct raw *s = bs->state;
    return bfile_sync(s->file);
}

const struct bdev_driver bdev_raw_driver = {
    .name = "raw",
    .req_size = sizeof(struct raw_req),
    .queue_size = sizeof(struct raw_queue),
    .open = raw_open,
    .close = raw_close,
    .queue_init = raw_queue_init,
    .submit = raw_submit,
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .sync = raw_sync,
    .fds = raw_fds,
};

/* The qcow2 format as a disk: a bdev driver over the qcow2 core (qcow2.h).
 * The core maps and keeps the metadata synchronously, under the image's
 * mutex, on the calling I/O thread; this adapter moves the data
 * asynchronously on the queue's loop.
 *
 * Every image of the chain (the top image, its qcow2 and raw backing
 * files) is also opened as a raw bdev over the core's own descriptor, and
 * each device queue has a child queue of each, sharing the queue's
 * engine: data pieces ("leaves") are bdev_reqs there, so O_DIRECT's
 * bounce rules, short transfers and the inline path for images in memory
 * are raw.c's.  A request goes in rounds:
 *
 *   read   map (qcow2_map_read, recursing into qcow2 backing files) as
 *          many leaves as fit -> leaves in flight -> tickets ended -> next
 *          round.  ZERO extents are zeroed at once; COMPRESSED ones are
 *          read whole and inflated on the loop when their leaf completes.
 *   write  qcow2_write_prepare -> copy-on-write sources read like a read
 *          into a head|tail buffer -> one write of head|data|tail ->
 *          qcow2_write_done -> next plan.  -EAGAIN (another request is
 *          allocating the cluster, possibly on another I/O thread): the
 *          core's wake() posts the request back to its own loop
 *          (event_loop_post), where it prepares again.
 *   zero   discard / write-zeroes: qcow2_zero on whole clusters (metadata
 *          only); write-zeroes writes zeroes in partial clusters, and
 *          where the image cannot record zero clusters (version 2 over a
 *          backing file).
 *   flush  qcow2_writeback (synchronous metadata writes with their
 *          barriers, on the loop) then, if anything was written since the
 *          last one, an asynchronous fdatasync of the image file, whose
 *          end goes back to the core (qcow2_synced).  One at a time per
 *          image: a FLUSH meeting another's waits as an allocation does.
 *
 * Per-request state lives in the queue's slot (no malloc on the path of
 * an allocated cluster): up to Q2B_LEAVES leaves and Q2B_IOV iovecs per
 * round; more is done in more rounds.  Buffers are allocated only for
 * copy-on-write, compressed clusters and the rare slice of more than
 * Q2B_IOV pieces of guest memory. */
#include "block/bdev_driver.h"
#include "block/bfile.h"
#include "block/qcow2.h"
#include "block/qcow2_sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/iov.h"
#include "util/log.h"

#define Q2B_CHAIN   (QCOW2_MAX_CHAIN + 1)
#define Q2B_LEAVES  8
#define Q2B_IOV     64
/* One per qcow2_map_read of a round: a chain's depth for its first byte,
 * and some to spare for more. */
#define Q2B_TICKETS (Q2B_CHAIN + 8)
#define Q2B_PHASES  4
/* Zeroes written as data go in pieces of this, from one shared buffer. */
#define ZBUF        (64u << 10)
#define ZWRITE_MAX  (16 * ZBUF)
/* Where a qcow2 image's data may lie in its file (the format's limit):
 * the size its raw view checks requests against.  Reads past the end of
 * the file give zeroes, as the core promises. */
#define FILE_SPAN   (1ull << 56)

struct q2b_image {
    struct qcow2 *qc;          /* NULL: a raw backing file */
    struct bfile *file;        /* the core's */
    const char *path;
    struct bdev *raw;          /* the file as a raw bdev */
};

struct q2b {
    struct qcow2 *top;
    struct q2b_image img[Q2B_CHAIN];
    unsigned nimg;
    uint32_t align;            /* request alignment (O_DIRECT), 512 otherwise */
    uint32_t mem_align;        /* buffer alignment for our own buffers */
    uint8_t *zeroes;           /* ZBUF bytes */
};

struct q2b_leaf;

struct q2b_queue {
    struct bdev_queue *child[Q2B_CHAIN];
    unsigned free[Q2B_CHAIN];  /* slots left in each child's pool */
    struct q2b_leaf *wait_head[Q2B_CHAIN], **wait_tail[Q2B_CHAIN];
};

struct q2b_req;

struct q2b_leaf {
    struct bdev_req io;        /* on the child queue of image `img` */
    struct q2b_req *owner;
    struct q2b_leaf *next_wait;
    uint8_t img;
    bool compressed;
    /* compressed: the span read into cbuf (aligned), inflated to cbuf +
     * cout, of which [in_cluster, in_cluster + len) goes to dst at dst_off */
    uint8_t *cbuf;
    size_t cskip, clen, cout;
    struct iovec cvec;
    const struct iovec *dst;
    unsigned dstn;
    size_t dst_off, len, in_cluster;
};

enum q2b_state {
    ST_READ, ST_READ_END,
    ST_W_PREPARE, ST_W_COW, ST_W_COW_END, ST_W_DATA, ST_W_DATA_END,
    ST_ZERO,
    ST_FLUSH, ST_FLUSH_END,
    ST_NEXT_PHASE,
};

enum q2b_phase_kind { PH_WRITE, PH_ZERO_DATA, PH_ZERO, PH_DISCARD, PH_FLUSH };

struct q2b_phase {
    enum q2b_phase_kind kind;
    uint64_t from, to;
};

struct q2b_tk {
    struct qcow2 *qc;
    uint64_t ticket;
};

struct q2b_req {
    struct bdev_queue *q;
    struct bdev_req *r;
    enum q2b_state state;
    int err;                   /* the round's first error */
    unsigned pending;          /* leaves in flight, plus one while placing */
    bool in_submit, busy, again, zero_src, plan_live;
    uint64_t pos, end;         /* the current phase's range, guest bytes */
    uint64_t round_len;
    uint64_t sync_need;        /* a flush's: what it must make stable */
    uint64_t sync_gen;         /* what its fdatasync covers */
    struct q2b_phase phase[Q2B_PHASES];
    unsigned nphase, iphase;
    unsigned nleaf, ntk, niov;
    struct iovec *heap_iov;    /* a round's slices past iov[] */
    size_t heap_left;
    /* copy-on-write: head|tail in one buffer; the cursor over their
     * sources (region 0 head, 1 tail; source; bytes of it done) */
    uint8_t *cow;
    struct iovec cow_vec;
    unsigned cow_region, cow_src;
    uint64_t cow_done;
    struct qcow2_wplan plan;
    struct qcow2_wait wait;
    struct el_post post;
    struct q2b_tk tk[Q2B_TICKETS];
    struct q2b_leaf leaf[Q2B_LEAVES];
    struct iovec iov[Q2B_IOV];
};

enum { WAIT, AGAIN, FINISHED };

static struct q2b *state_of(const struct bdev *bs)
{
    return bs->state;
}

/* ---- open and close ---- */

static int open_backing(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    const bool *direct = ctx;
    return bfile_fd_open(out, path, true, *direct, err, errlen) < 0 ? -1 : 0;
}

static void q2b_free(struct q2b *s)
{
    for (unsigned i = 0; i < s->nimg; i++)
        bdev_close(s->img[i].raw);
    if (s->top)
        qcow2_close(s->top);
    free(s->zeroes);
    free(s);
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* The image's own fdatasyncs on an open file of their own (qcow2.h,
 * qcow2_set_sync_file says why); read-only is enough, and it takes no
 * lock, which would conflict with f's.  Without it (the path is another
 * file now, or cannot be opened again) they share f's. */
static void open_sync_file(struct qcow2 *q, const struct bfile *f, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct bfile *sf = fd >= 0 ? bfile_fd_wrap(fd, 1) : NULL;
    if (sf && sf->dev == f->dev && sf->ino == f->ino) {
        qcow2_set_sync_file(q, sf);
        return;
    }
    vlog_info("%s: warning: cannot open it a second time (%s): a host write-back error during two overlapping "
              "fdatasyncs may be reported to only one", path,
              fd < 0 ? strerror(errno) : sf ? "it is another file now" : "out of memory");
    if (sf)
        bfile_close(sf);
    else if (fd >= 0)
        close(fd);
}

static int q2b_open(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen)
{
    struct q2b *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool direct = o->cache == BLK_CACHE_NONE;
    char why[4096];
    struct bfile *f;
    int r = bfile_fd_open(&f, o->path, o->ro, direct, why, sizeof(why));
    if (r < 0) {
        bool perm = (r == -EACCES || r == -EROFS) && !o->ro && o->ro_hint;
        snprintf(err, errlen, "disk %s%s%s%s", why, perm ? " (add " : "", perm ? o->ro_hint : "",
                 perm ? " for a read-only disk)" : "");
        free(s);
        return -1;
    }
    struct qcow2_opener opener = {open_backing, &direct};
    struct qcow2_open_opts qo = {.read_only = o->ro, .no_backing = o->no_backing, .opener = &opener};
    if (qcow2_open(&s->top, f, o->path, &qo, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "disk %s", why);
        bfile_close(f);
        free(s);
        return -1;
    }
    if (!o->ro)
        open_sync_file(s->top, f, o->path);
    /* The chain, top first. */
    s->align = 512;
    s->mem_align = 1;
    struct qcow2 *qc = s->top;
    s->img[s->nimg++] = (struct q2b_image){qc, f, bs->path, NULL};
    for (;;) {
        const struct qcow2_link *l = qcow2_backing(qc);
        if (l->fmt == IMG_FORMAT_NONE)
            break;
        qc = l->fmt == IMG_FORMAT_QCOW2 ? l->qcow2 : NULL;
        s->img[s->nimg++] = (struct q2b_image){qc, l->file, l->path, NULL};
        if (!qc)
            break;
    }
    for (unsigned i = 0; i < s->nimg; i++) {
        const struct bfile *fi = s->img[i].file;
        if (direct) {
            s->align = max_u32(s->align, fi->align);
            s->mem_align = max_u32(s->mem_align, fi->mem_align);
        }
    }
    for (unsigned i = 0; i < s->nimg; i++) {
        struct q2b_image *im = &s->img[i];
        /* O_DIRECT I/O of whole blocks never straddles a cluster, and a
         * metadata write's read-modify-write never covers guest data. */
        if (im->qc && qcow2_cluster_size(im->qc) < s->align) {
            snprintf(err, errlen, "disk %s: %s has %u-byte clusters, smaller than the %u-byte blocks O_DIRECT "
                     "needs on this storage (use cache=writeback)", o->path, im->path,
                     qcow2_cluster_size(im->qc), s->align);
            goto fail;
        }
        uint64_t size = FILE_SPAN;
        if (!im->qc) {
            /* A raw backing file: its own size, rounded to what requests
             * need (the core clips reads to the true size). */
            uint64_t fs = qcow2_backing(s->img[i - 1].qc)->size;
            size = (fs + s->align - 1) / s->align * s->align;
        }
        struct bdev_opts ro = {.path = im->path, .format = BDEV_FORMAT_RAW, .ro = i > 0 || o->ro,
                               .cache = o->cache, .aio = o->aio, .file = im->file, .size = size};
        im->raw = bdev_open_driver(&bdev_raw_driver, &ro, why, sizeof(why));
        if (!im->raw) {
            snprintf(err, errlen, "%s", why);
            goto fail;
        }
    }
    if (posix_memalign((void **)&s->zeroes, max_u32(s->mem_align, 4096), ZBUF)) {
        s->zeroes = NULL;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    memset(s->zeroes, 0, ZBUF);
    bs->size = qcow2_size(s->top);
    bs->request_align = s->align;
    bs->block_size = s->align;
    if (bs->size % 512) {
        /* The guest's disk is whole sectors; the rest is never seen. */
        bs->size &= ~511ull;
    }
    bs->state = s;
    return 0;
fail:
    q2b_free(s);
    return -1;
}

static void q2b_close(struct bdev *bs)
{
    struct q2b *s = state_of(bs);
    /* What was written and never flushed reaches the disk now, metadata
     * in order, as QEMU flushes its images at exit. */
    if (!bs->ro) {
        int r = qcow2_flush(s->top);
        if (r < 0)
            vlog_err("disk %s: flushing at close: %s", bs->path, strerror(-r));
    }
    q2b_free(s);
}

static void q2b_describe(const struct bdev *bs, char *buf, size_t len)
{
    const struct q2b *s = state_of(bs);
    uint32_t cs = qcow2_cluster_size(s->top);
    size_t n = (size_t)snprintf(buf, len, cs >= 1024 ? "%u KiB clusters" : "%u-byte clusters",
                                cs >= 1024 ? cs >> 10 : cs);
    for (unsigned i = 1; i < s->nimg && n < len; i++)
        n += (size_t)snprintf(buf + n, len - n, "%s%s (%s)", i == 1 ? ", backing " : " -> ", s->img[i].path,
                              s->img[i].qc ? "qcow2" : "raw");
    if (s->nimg == 1 && n < len)
        snprintf(buf + n, len - n, ", no backing file");
}

static unsigned q2b_fds(const struct bdev *bs, int *fds, unsigned max)
{
    const struct q2b *s = state_of(bs);
    for (unsigned i = 0; i < s->nimg && i < max; i++)
        fds[i] = s->img[i].file->fd;
    return s->nimg;
}

/* ---- queues ---- */

static void q2b_queue_fini(struct bdev_queue *q)
{
    struct q2b_queue *qq = q->state;
    for (unsigned i = 0; i < Q2B_CHAIN; i++) {
        /* On the loop already: the child's teardown runs inline. */
        bdev_queue_free(qq->child[i]);
        qq->child[i] = NULL;
    }
}

static int q2b_queue_init(struct bdev_queue *q, char *err, size_t errlen)
{
    struct q2b *s = state_of(q->bs);
    struct q2b_queue *qq = q->state;
    /* Top image first: its file is the one the engine may serve inline. */
    for (unsigned i = 0; i < s->nimg; i++) {
        /* Backing files are read where the top image is not allocated:
         * fewer slots; leaves that find none wait in order. */
        unsigned depth = i == 0 ? q->depth : (q->depth / 4 > 16 ? q->depth / 4 : 16);
        qq->child[i] = bdev_queue_new_child(s->img[i].raw, q, depth, err, errlen);
        if (!qq->child[i]) {
            q2b_queue_fini(q);
            return -1;
        }
        qq->free[i] = depth;
        qq->wait_tail[i] = &qq->wait_head[i];
    }
    return 0;
}

/* Sends what was submitted from outside the device's submit (a
 * completion, a wake-up), and delivers what completed meanwhile. */
static void kick(struct bdev_queue *q)
{
    if (q->deferred)
        bdev_unplug(q);
    else
        aio_flush(q->aio);
}

/* ---- requests: completion ---- */

static void round_release(struct q2b_req *rq)
{
    for (unsigned i = 0; i < rq->ntk; i++)
        qcow2_io_end(rq->tk[i].qc, rq->tk[i].ticket);
    rq->ntk = 0;
    rq->nleaf = 0;
    rq->niov = 0;
    free(rq->heap_iov);
    rq->heap_iov = NULL;
    rq->heap_left = 0;
}

/* Completes the request; rq is not to be touched afterwards (its slot may
 * be taken by a request its done() submits). */
static int finish(struct q2b_req *rq, int ret)
{
    struct q2b *s = state_of(rq->q->bs);
    round_release(rq);
    if (rq->plan_live) {
        int r = qcow2_write_done(s->top, &rq->plan, ret ? ret : -EIO);
        (void)r;
        rq->plan_live = false;
    }
    free(rq->cow);
    rq->cow = NULL;
    struct bdev_queue *q = rq->q;
    struct bdev_req *r = rq->r;
    if (rq->in_submit)
        bdev_req_done_later(q, r, ret);
    else
        bdev_req_done(q, r, ret);
    return FINISHED;
}

static bool advance(struct q2b_req *rq);

static void leaf_go(struct q2b_queue *qq, struct q2b_leaf *l)
{
    unsigned i = l->img;
    if (qq->free[i]) {
        qq->free[i]--;
        bdev_submit(qq->child[i], &l->io);
        return;
    }
    l->next_wait = NULL;
    *qq->wait_tail[i] = l;
    qq->wait_tail[i] = &l->next_wait;
}

static void leaf_done(struct bdev_req *io, int ret)
{
    struct q2b_leaf *l = (struct q2b_leaf *)io;
    struct q2b_req *rq = l->owner;
    struct bdev_queue *q = rq->q;
    struct q2b_queue *qq = q->state;
    unsigned i = l->img;
    qq->free[i]++;
    struct q2b_leaf *w = qq->wait_head[i];
    if (w) {
        qq->wait_head[i] = w->next_wait;
        if (!qq->wait_head[i])
            qq->wait_tail[i] = &qq->wait_head[i];
        leaf_go(qq, w);
    }
    if (l->compressed) {
        struct q2b *s = state_of(q->bs);
        if (ret == 0)
            ret = qcow2_decompress(s->img[i].qc, l->cbuf + l->cskip, l->clen, l->cbuf + l->cout);
        if (ret == 0)
            iov_from_buf(l->dst, l->dstn, l->dst_off, l->cbuf + l->cout + l->in_cluster, l->len);
        free(l->cbuf);
        l->cbuf = NULL;
    }
    if (ret < 0 && !rq->err)
        rq->err = ret;
    if (--rq->pending == 0)
        advance(rq);
    kick(q);
}

/* ---- placing a round's leaves ---- */

static struct iovec *iov_take(struct q2b_req *rq, unsigned n)
{
    if (rq->niov + n <= Q2B_IOV) {
        struct iovec *v = rq->iov + rq->niov;
        rq->niov += n;
        return v;
    }
    if (rq->nleaf || rq->heap_iov)
        return NULL;   /* the next round has room */
    /* The round's first slice alone needs more than the slot holds. */
    rq->heap_iov = malloc(n * sizeof(*rq->heap_iov));
    rq->heap_left = rq->heap_iov ? n : 0;
    return rq->heap_iov;
}

static unsigned iov_count(const struct iovec *iov, unsigned n, size_t off, size_t len)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = iov[i].iov_len - off;
        len -= c < len ? c : len;
        off = 0;
        k++;
    }
    return k;
}

static void zero_range(const struct q2b *s, const struct iovec *dst, unsigned n, size_t off, size_t len)
{
    while (len) {
        size_t c = len < ZBUF ? len : ZBUF;
        iov_from_buf(dst, n, off, s->zeroes, c);
        off += c;
        len -= c;
    }
}

/* A piece read at once, synchronously: the end of a backing file whose
 * size is not a multiple of the request alignment. */
static int read_now(struct q2b_image *im, uint64_t host, const struct iovec *dst, unsigned n, size_t off,
                    size_t len)
{
    uint8_t *tmp = malloc(len ? len : 1);
    if (!tmp)
        return -ENOMEM;
    int r = bfile_pread(im->file, tmp, len, host);
    if (r == 0)
        iov_from_buf(dst, n, off, tmp, len);
    free(tmp);
    return r;
}

/* A leaf reading [host, host+len) of image i into dst at off: 1 placed, 0
 * no room in this round, -errno. */
static int place_read(struct q2b_req *rq, unsigned i, uint64_t host, const struct iovec *dst, unsigned n,
                      size_t off, size_t len)
{
    struct q2b *s = state_of(rq->q->bs);
    if ((host | len) & (s->align - 1))
        return read_now(&s->img[i], host, dst, n, off, len) < 0 ? -EIO : 1;
    if (rq->nleaf == Q2B_LEAVES)
        return 0;
    struct iovec *v;
    unsigned k;
    if (dst == rq->r->iov && off == 0 && len == rq->r->len) {
        /* The whole request in one piece: the guest's own array. */
        v = rq->r->iov;
        k = rq->r->iovcnt;
    } else {
        k = iov_count(dst, n, off, len);
        v = iov_take(rq, k);
        if (!v)
            return 0;
        iov_slice(dst, n, off, len, v, k);
    }
    struct q2b_leaf *l = &rq->leaf[rq->nleaf++];
    l->owner = rq;
    l->img = (uint8_t)i;
    l->compressed = false;
    l->io = (struct bdev_req){.op = BDEV_READ, .offset = host, .iov = v, .iovcnt = k, .done = leaf_done};
    rq->pending++;
    leaf_go(rq->q->state, l);
    return 1;
}

static int place_compressed(struct q2b_req *rq, unsigned i, const struct qcow2_extent *e, uint64_t skip,
                            const struct iovec *dst, unsigned n, size_t off)
{
    struct q2b *s = state_of(rq->q->bs);
    if (rq->nleaf == Q2B_LEAVES)
        return 0;
    struct qcow2 *qc = s->img[i].qc;
    uint64_t host;
    uint32_t clen;
    qcow2_compressed_span(qc, e, &host, &clen);
    uint64_t a = s->align, start = host & ~(a - 1), stop = (host + clen + a - 1) & ~(a - 1);
    size_t span = (size_t)(stop - start), cs = qcow2_cluster_size(qc);
    struct q2b_leaf *l = &rq->leaf[rq->nleaf];
    if (posix_memalign((void **)&l->cbuf, max_u32(s->mem_align, 64), span + cs))
        return -ENOMEM;
    rq->nleaf++;
    l->owner = rq;
    l->img = (uint8_t)i;
    l->compressed = true;
    l->cskip = (size_t)(host - start);
    l->clen = clen;
    l->cout = span;
    l->dst = dst;
    l->dstn = n;
    l->dst_off = off;
    l->len = (size_t)(e->len - skip);
    l->in_cluster = (size_t)((e->off + skip) & (cs - 1));
    l->cvec = (struct iovec){l->cbuf, span};
    l->io = (struct bdev_req){.op = BDEV_READ, .offset = start, .iov = &l->cvec, .iovcnt = 1, .done = leaf_done};
    rq->pending++;
    leaf_go(rq->q->state, l);
    return 1;
}

static int64_t place_map(struct q2b_req *rq, unsigned i, uint64_t off, uint64_t len, const struct iovec *dst,
                         unsigned n, size_t doff);

/* Places the bytes of extent e of image i from skip on into dst at doff;
 * the bytes placed (a prefix), rq->err set on an error. */
static uint64_t place_ext(struct q2b_req *rq, unsigned i, const struct qcow2_extent *e, uint64_t skip,
                          const struct iovec *dst, unsigned n, size_t doff)
{
    struct q2b *s = state_of(rq->q->bs);
    uint64_t len = e->len - skip;
    int r = 1;
    switch (e->kind) {
    case QCOW2_ZERO:
        zero_range(s, dst, n, doff, (size_t)len);
        break;
    case QCOW2_DATA:
        r = place_read(rq, i, e->host + skip, dst, n, doff, (size_t)len);
        break;
    case QCOW2_COMPRESSED:
        r = place_compressed(rq, i, e, skip, dst, n, doff);
        break;
    case QCOW2_BACKING:
        if (i + 1 >= s->nimg) {
            r = -EIO;
            break;
        }
        if (!s->img[i + 1].qc) {
            r = place_read(rq, i + 1, e->off + skip, dst, n, doff, (size_t)len);
            break;
        }
        return (uint64_t)place_map(rq, i + 1, e->off + skip, len, dst, n, doff);
    }
    if (r < 0 && !rq->err)
        rq->err = r;
    return r == 1 ? len : 0;
}

/* Maps [off, off+len) of qcow2 image i and places it; the bytes placed. */
static int64_t place_map(struct q2b_req *rq, unsigned i, uint64_t off, uint64_t len, const struct iovec *dst,
                         unsigned n, size_t doff)
{
    struct q2b *s = state_of(rq->q->bs);
    uint64_t placed = 0;
    while (placed < len && !rq->err) {
        if (rq->ntk == Q2B_TICKETS || rq->nleaf == Q2B_LEAVES)
            break;
        struct qcow2_map m;
        int r = qcow2_map_read(s->img[i].qc, off + placed, len - placed, &m);
        if (r < 0) {
            rq->err = r;
            break;
        }
        rq->tk[rq->ntk++] = (struct q2b_tk){s->img[i].qc, m.ticket};
        for (unsigned k = 0; k < m.n; k++) {
            uint64_t p = place_ext(rq, i, &m.ext[k], 0, dst, n, doff + (size_t)placed);
            placed += p;
            if (p < m.ext[k].len)
                return (int64_t)placed;
        }
    }
    return (int64_t)placed;
}

/* ---- the steps ---- */

/* Begins placing a round's pieces; stage_end says whether they are all
 * done already. */
static void stage_begin(struct q2b_req *rq)
{
    rq->err = 0;
    rq->pending = 1;
}

static int stage_end(struct q2b_req *rq)
{
    return --rq->pending == 0 ? AGAIN : WAIT;
}

static int do_read(struct q2b_req *rq)
{
    struct bdev_req *r = rq->r;
    stage_begin(rq);
    int64_t p = place_map(rq, 0, rq->pos, rq->end - rq->pos, r->iov, r->iovcnt, (size_t)(rq->pos - r->offset));
    if (p == 0 && !rq->err)
        rq->err = -EIO;   /* nothing could be placed: a round always has room for one leaf */
    rq->round_len = (uint64_t)p;
    rq->state = ST_READ_END;
    return stage_end(rq);
}

static int do_read_end(struct q2b_req *rq)
{
    int err = rq->err;
    round_release(rq);
    if (err)
        return finish(rq, err);
    rq->pos += rq->round_len;
    rq->state = rq->pos < rq->end ? ST_READ : ST_NEXT_PHASE;
    return AGAIN;
}

static bool cow_needed(const struct qcow2_cow *c)
{
    return c->len && !c->skip;
}

static int do_w_prepare(struct q2b_req *rq)
{
    struct q2b *s = state_of(rq->q->bs);
    if (rq->pos >= rq->end) {
        rq->state = ST_NEXT_PHASE;
        return AGAIN;
    }
    uint64_t len = rq->end - rq->pos;
    if (rq->zero_src && len > ZWRITE_MAX)
        len = ZWRITE_MAX;
    int r = qcow2_write_prepare(s->top, rq->pos, len, &rq->plan, &rq->wait);
    if (r == -EAGAIN) {
        rq->q->stats.alloc_waits++;
        return WAIT;   /* wake() brings it back here */
    }
    if (r < 0)
        return finish(rq, r);
    rq->plan_live = true;
    const struct qcow2_wplan *p = &rq->plan;
    if (!cow_needed(&p->head) && !cow_needed(&p->tail)) {
        rq->state = ST_W_DATA;
        return AGAIN;
    }
    size_t total = (size_t)(p->head.len + p->tail.len);
    if (posix_memalign((void **)&rq->cow, max_u32(s->mem_align, 64), total)) {
        rq->cow = NULL;
        return finish(rq, -ENOMEM);
    }
    rq->cow_vec = (struct iovec){rq->cow, total};
    rq->cow_region = 0;
    rq->cow_src = 0;
    rq->cow_done = 0;
    rq->state = ST_W_COW;
    return AGAIN;
}

/* One round of the copy-on-write sources, from the cursor on. */
static int do_w_cow(struct q2b_req *rq)
{
    const struct qcow2_wplan *p = &rq->plan;
    stage_begin(rq);
    while (rq->cow_region < 2 && !rq->err) {
        const struct qcow2_cow *c = rq->cow_region ? &p->tail : &p->head;
        size_t base = rq->cow_region ? (size_t)p->head.len : 0;
        if (!cow_needed(c) || rq->cow_src >= c->nsrc) {
            rq->cow_region++;
            rq->cow_src = 0;
            rq->cow_done = 0;
            continue;
        }
        const struct qcow2_extent *e = &c->src[rq->cow_src];
        size_t doff = base + (size_t)(e->off - c->off) + (size_t)rq->cow_done;
        uint64_t got = place_ext(rq, 0, e, rq->cow_done, &rq->cow_vec, 1, doff);
        rq->cow_done += got;
        if (rq->cow_done < e->len)
            break;   /* the round is full */
        rq->cow_src++;
        rq->cow_done = 0;
    }
    rq->state = ST_W_COW_END;
    return stage_end(rq);
}

static int do_w_cow_end(struct q2b_req *rq)
{
    int err = rq->err;
    round_release(rq);
    if (err)
        return finish(rq, err);
    rq->state = rq->cow_region < 2 ? ST_W_COW : ST_W_DATA;
    return AGAIN;
}

/* head | data | tail in one write. */
static int do_w_data(struct q2b_req *rq)
{
    struct q2b *s = state_of(rq->q->bs);
    struct bdev_req *r = rq->r;
    const struct qcow2_wplan *p = &rq->plan;
    bool head = cow_needed(&p->head), tail = cow_needed(&p->tail);
    struct iovec *v;
    unsigned k;
    size_t doff = (size_t)(p->off - r->offset);
    if (!rq->zero_src && !head && !tail && doff == 0 && p->len == r->len) {
        v = r->iov;
        k = r->iovcnt;
    } else {
        unsigned data = rq->zero_src ? (unsigned)((p->len + ZBUF - 1) / ZBUF) : iov_count(r->iov, r->iovcnt, doff, p->len);
        unsigned need = data + head + tail;
        v = iov_take(rq, need);
        if (!v)
            return finish(rq, -ENOMEM);
        k = 0;
        if (head)
            v[k++] = (struct iovec){rq->cow, (size_t)p->head.len};
        if (rq->zero_src) {
            for (uint64_t left = p->len; left; k++) {
                size_t c = left < ZBUF ? (size_t)left : ZBUF;
                v[k] = (struct iovec){s->zeroes, c};
                left -= c;
            }
        } else {
            iov_slice(r->iov, r->iovcnt, doff, p->len, v + k, data);
            k += data;
        }
        if (tail)
            v[k++] = (struct iovec){rq->cow + p->head.len, (size_t)p->tail.len};
    }
    stage_begin(rq);
    struct q2b_leaf *l = &rq->leaf[rq->nleaf++];
    l->owner = rq;
    l->img = 0;
    l->compressed = false;
    l->io = (struct bdev_req){.op = BDEV_WRITE, .offset = p->host - (head ? p->head.len : 0), .iov = v,
                              .iovcnt = k, .done = leaf_done};
    rq->pending++;
    leaf_go(rq->q->state, l);
    rq->state = ST_W_DATA_END;
    return stage_end(rq);
}

static int do_w_data_end(struct q2b_req *rq)
{
    struct q2b *s = state_of(rq->q->bs);
    int err = rq->err;
    round_release(rq);
    free(rq->cow);
    rq->cow = NULL;
    rq->plan_live = false;
    int r = qcow2_write_done(s->top, &rq->plan, err);
    if (err || r < 0)
        return finish(rq, err ? err : r);
    rq->pos += rq->plan.len;
    rq->state = ST_W_PREPARE;
    return AGAIN;
}

static int do_zero(struct q2b_req *rq)
{
    struct q2b *s = state_of(rq->q->bs);
    bool discard = rq->phase[rq->iphase - 1].kind == PH_DISCARD;
    while (rq->pos < rq->end) {
        int64_t n = qcow2_zero(s->top, rq->pos, rq->end - rq->pos, discard, &rq->wait);
        if (n == -EAGAIN) {
            rq->q->stats.alloc_waits++;
            return WAIT;
        }
        if (n == -ENOTSUP && !discard) {
            /* A version 2 image over a backing file has no zero
             * clusters: the zeroes are written. */
            rq->zero_src = true;
            rq->state = ST_W_PREPARE;
            return AGAIN;
        }
        if (n < 0)
            return finish(rq, (int)n);
        rq->pos += (uint64_t)n;
    }
    rq->state = ST_NEXT_PHASE;
    return AGAIN;
}

static int do_flush(struct q2b_req *rq)
{
    struct q2b *s = state_of(rq->q->bs);
    int r = qcow2_writeback(s->top, &rq->sync_need, &rq->sync_gen, &rq->wait);
    if (r == -EAGAIN)
        return WAIT;
    if (r < 0)
        return finish(rq, r);
    if (!rq->sync_gen) {
        rq->state = ST_NEXT_PHASE;
        return AGAIN;
    }
    rq->q->stats.flush_syncs++;
    stage_begin(rq);
    struct q2b_leaf *l = &rq->leaf[rq->nleaf++];
    l->owner = rq;
    l->img = 0;
    l->compressed = false;
    l->io = (struct bdev_req){.op = BDEV_FLUSH, .done = leaf_done};
    rq->pending++;
    leaf_go(rq->q->state, l);
    rq->state = ST_FLUSH_END;
    return stage_end(rq);
}

static int do_flush_end(struct q2b_req *rq)
{
    int err = qcow2_synced(state_of(rq->q->bs)->top, rq->sync_gen, rq->err);
    round_release(rq);
    if (err)
        return finish(rq, err);
    rq->state = ST_NEXT_PHASE;
    return AGAIN;
}

static int do_next_phase(struct q2b_req *rq)
{
    if (rq->iphase == rq->nphase)
        return finish(rq, 0);
    const struct q2b_phase *ph = &rq->phase[rq->iphase++];
    rq->pos = ph->from;
    rq->end = ph->to;
    rq->zero_src = ph->kind == PH_ZERO_DATA;
    switch (ph->kind) {
    case PH_WRITE:
    case PH_ZERO_DATA:
        rq->state = ST_W_PREPARE;
        break;
    case PH_ZERO:
    case PH_DISCARD:
        rq->state = ST_ZERO;
        break;
    case PH_FLUSH:
        rq->sync_need = 0;
        rq->state = ST_FLUSH;
        break;
    }
    return AGAIN;
}

static int step(struct q2b_req *rq)
{
    switch (rq->state) {
    case ST_READ: return do_read(rq);
    case ST_READ_END: return do_read_end(rq);
    case ST_W_PREPARE: return do_w_prepare(rq);
    case ST_W_COW: return do_w_cow(rq);
    case ST_W_COW_END: return do_w_cow_end(rq);
    case ST_W_DATA: return do_w_data(rq);
    case ST_W_DATA_END: return do_w_data_end(rq);
    case ST_ZERO: return do_zero(rq);
    case ST_FLUSH: return do_flush(rq);
    case ST_FLUSH_END: return do_flush_end(rq);
    case ST_NEXT_PHASE: return do_next_phase(rq);
    }
    return finish(rq, -EIO);
}

/* Runs the request's steps until it waits (leaves in flight, an
 * allocation) or is finished (true: rq is no longer ours). */
static bool advance(struct q2b_req *rq)
{
    if (rq->busy) {
        rq->again = true;
        return false;
    }
    rq->busy = true;
    for (;;) {
        rq->again = false;
        int r = step(rq);
        if (r == FINISHED)
            return true;
        if (r == WAIT && !rq->again)
            break;
    }
    rq->busy = false;
    return false;
}

/* The core's wake(): maybe on another I/O thread; the request goes on on
 * its own loop. */
static void woken(struct qcow2_wait *w)
{
    struct q2b_req *rq = (struct q2b_req *)((uint8_t *)w - offsetof(struct q2b_req, wait));
    event_loop_post(rq->q->loop, &rq->post);
}

static void resume(void *arg)
{
    struct q2b_req *rq = arg;
    struct bdev_queue *q = rq->q;
    advance(rq);
    kick(q);
    /* Requests completed here, outside any completion batch: the device
     * sends their interrupt now. */
    bdev_queue_batch_end(q);
}

static void add_phase(struct q2b_req *rq, enum q2b_phase_kind k, uint64_t from, uint64_t to)
{
    if (from < to || k == PH_FLUSH)
        rq->phase[rq->nphase++] = (struct q2b_phase){k, from, to};
}

/* The cluster-aligned middle of [off, end) (to the disk's end if the range
 * reaches it), as qcow2_sync does. */
static void aligned_part(const struct bdev *bs, uint64_t off, uint64_t end, uint64_t *a, uint64_t *b)
{
    struct q2b *s = state_of(bs);
    uint64_t cs = qcow2_cluster_size(s->top);
    *a = (off + cs - 1) & ~(cs - 1);
    *b = end >= qcow2_size(s->top) ? qcow2_size(s->top) : end & ~(cs - 1);
    if (*b < *a)
        *b = *a;
}

static void q2b_submit(struct bdev_queue *q, struct bdev_req *r)
{
    struct q2b_req *rq = r->drv;
    rq->q = q;
    rq->r = r;
    rq->err = 0;
    rq->pending = 0;
    rq->busy = rq->again = rq->zero_src = rq->plan_live = false;
    rq->nphase = rq->iphase = 0;
    rq->nleaf = rq->ntk = rq->niov = 0;
    rq->heap_iov = NULL;
    rq->cow = NULL;
    rq->wait.wake = woken;
    rq->post = (struct el_post){resume, rq, NULL};
    uint64_t off = r->offset, end = r->offset + r->len, a, b;
    switch (r->op) {
    case BDEV_READ:
        rq->pos = off;
        rq->end = end;
        rq->state = r->len ? ST_READ : ST_NEXT_PHASE;
        break;
    case BDEV_WRITE:
        add_phase(rq, PH_WRITE, off, end);
        break;
    case BDEV_WRITE_ZEROES:
        aligned_part(q->bs, off, end, &a, &b);
        add_phase(rq, PH_ZERO_DATA, off, b > a ? a : end);
        add_phase(rq, PH_ZERO, a, b);
        add_phase(rq, PH_ZERO_DATA, b > a ? b : end, end);
        break;
    case BDEV_DISCARD:
        /* Partial clusters are left alone: a discard is advice. */
        aligned_part(q->bs, off, end, &a, &b);
        add_phase(rq, PH_DISCARD, a, b);
        break;
    case BDEV_FLUSH:
        break;
    }
    if (r->op == BDEV_FLUSH || ((r->flags & BDEV_F_FUA) && (r->op == BDEV_WRITE || r->op == BDEV_WRITE_ZEROES)))
        add_phase(rq, PH_FLUSH, 0, 0);
    if (r->op != BDEV_READ)
        rq->state = ST_NEXT_PHASE;
    rq->in_submit = true;
    if (!advance(rq))
        rq->in_submit = false;
}

/* ---- synchronous I/O ---- */

static int q2b_pread(struct bdev *bs, uint64_t offset, void *buf, size_t len)
{
    struct q2b *s = state_of(bs);
    /* Past the end of the disk (its last partial sector): zeroes. */
    uint64_t size = qcow2_size(s->top);
    size_t n = offset >= size ? 0 : (size_t)(len < size - offset ? len : size - offset);
    memset((uint8_t *)buf + n, 0, len - n);
    return n ? qcow2_sync_read(s->top, buf, n, offset) : 0;
}

static int q2b_pwrite(struct bdev *bs, uint64_t offset, const void *buf, size_t len)
{
    struct q2b *s = state_of(bs);
    if (offset > qcow2_size(s->top) || len > qcow2_size(s->top) - offset)
        return -EINVAL;
    return qcow2_sync_write(s->top, buf, len, offset);
}

static int q2b_sync(struct bdev *bs)
{
    return qcow2_flush(state_of(bs)->top);
}

const struct bdev_driver bdev_qcow2_driver = {
    .name = "qcow2",
    .req_size = sizeof(struct q2b_req),
    .queue_size = sizeof(struct q2b_queue),
    .open = q2b_open,
    .close = q2b_close,
    .queue_init = q2b_queue_init,
    .queue_fini = q2b_queue_fini,
    .submit = q2b_submit,
    .pread = q2b_pread,
    .pwrite = q2b_pwrite,
    .sync = q2b_sync,
    .describe = q2b_describe,
    .fds = q2b_fds,
};

/* The block back-end interface (block/bdev.h) with the raw driver: the
 * requests a device model sends, on both engines and the inline path;
 * the checks every request passes; completions never inside submit; the
 * synchronous path at any alignment under O_DIRECT; growable images; and
 * a format-like driver that splits each request over a child queue of
 * another image sharing the parent's engine (what qcow2 will do). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/bdev_driver.h"
#include "block/dio_probe.h"
#include "page_dirty.h"

#define DISK_SIZE (1024 * 1024)

struct fx {
    char path[64];
    struct event_loop loop;
    struct bdev *bs;
    struct bdev_queue *q;
    int batches;
};

/* A file with a recognisable byte in every sector. */
static void make_image(char *path, size_t pathlen, const char *dir, size_t size)
{
    snprintf(path, pathlen, "%s/vireo-bdev-XXXXXX", dir);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *img = malloc(size);
    for (size_t i = 0; i < size; i++)
        img[i] = (uint8_t)(i / 512 + 1);
    assert_int_equal(write(fd, img, size), (ssize_t)size);
    free(img);
    close(fd);
}

static void on_batch(void *opaque)
{
    ((struct fx *)opaque)->batches++;
}

static struct fx *fx_open_sized(const char *dir, enum aio_kind aio, enum blk_cache cache, bool ro, bool growable,
                                size_t size, unsigned depth)
{
    struct fx *f = calloc(1, sizeof(*f));
    make_image(f->path, sizeof(f->path), dir, size);
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    struct bdev_opts o = {.path = f->path, .format = BDEV_FORMAT_RAW, .ro = ro, .cache = cache, .aio = aio,
                          .growable = growable};
    char err[256];
    f->bs = bdev_open(&o, err, sizeof(err));
    if (!f->bs)
        fail_msg("%s", err);
    f->q = bdev_queue_new(f->bs, &f->loop, depth, err, sizeof(err));
    if (!f->q && aio == AIO_IO_URING && getenv("VIREO_TEST_NO_IO_URING")) {
        bdev_close(f->bs);
        unlink(f->path);
        skip();
    }
    if (!f->q)
        fail_msg("%s (set VIREO_TEST_NO_IO_URING=1 where the host disables io_uring)", err);
    bdev_queue_set_batch_end(f->q, on_batch, f);
    return f;
}

static struct fx *fx_open(const char *dir, enum aio_kind aio, enum blk_cache cache, bool ro, bool growable)
{
    return fx_open_sized(dir, aio, cache, ro, growable, DISK_SIZE, 8);
}

static void fx_close(struct fx *f)
{
    bdev_queue_free(f->q);
    bdev_close(f->bs);
    event_loop_destroy(&f->loop);
    unlink(f->path);
    free(f);
}

struct req {
    struct bdev_req io;
    int ret;
    bool done;
    bool *in_submit;
};

static void req_done(struct bdev_req *io, int ret)
{
    struct req *r = (struct req *)io;
    if (r->in_submit)
        assert_false(*r->in_submit);
    r->ret = ret;
    r->done = true;
}

/* Submits, unplugs and runs the loop until done; returns the result. */
static int run_iov(struct fx *f, struct bdev_queue *q, enum bdev_op op, uint64_t off, struct iovec *iov, unsigned n)
{
    struct req r = {.io = {.op = op, .offset = off, .iov = iov, .iovcnt = n, .done = req_done}};
    bdev_submit(q, &r.io);
    bdev_unplug(q);
    for (int i = 0; i < 500 && !r.done; i++)
        event_loop_run_once(&f->loop, 10);
    assert_true(r.done);
    return r.ret;
}

static int run(struct fx *f, struct bdev_queue *q, enum bdev_op op, unsigned flags, uint64_t off, void *buf,
               size_t len)
{
    bool in_submit = true;
    struct iovec v = {buf, len};
    struct req r = {.io = {.op = op, .flags = flags, .offset = off, .len = len, .iov = &v, .iovcnt = 1,
                           .done = req_done},
                    .in_submit = &in_submit};
    bdev_submit(q, &r.io);
    in_submit = false;
    bdev_unplug(q);
    for (int i = 0; i < 500 && !r.done; i++)
        event_loop_run_once(&f->loop, 10);
    assert_true(r.done);
    return r.ret;
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, (long)off, SEEK_SET);
    assert_int_equal(fread(buf, 1, len, fp), len);
    fclose(fp);
}

static void all_ops(const char *dir, enum aio_kind aio, enum blk_cache cache)
{
    struct fx *f = fx_open(dir, aio, cache, false, false);
    uint8_t *w = aligned_alloc(4096, 8192), *r = aligned_alloc(4096, 8192), back[8192];
    for (int i = 0; i < 8192; i++)
        w[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 4096, w, 8192), 0);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 4096, r, 8192), 0);
    assert_memory_equal(r, w, 8192);
    file_read(f->path, 4096, back, 8192);
    assert_memory_equal(back, w, 8192);
    assert_int_equal(run(f, f->q, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(run(f, f->q, BDEV_DISCARD, 0, 4096, NULL, 4096), 0);
    assert_int_equal(run(f, f->q, BDEV_WRITE_ZEROES, 0, 8192, NULL, 4096), 0);
    assert_int_equal(run(f, f->q, BDEV_WRITE_ZEROES, BDEV_F_UNMAP, 16384, NULL, 4096), 0);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 4096, r, 8192), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(r[4096 + i], 0);   /* zeroed; the discarded half is unspecified */
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 16384, r, 4096), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(r[i], 0);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 20480, r, 512), 0);
    assert_int_equal(r[0], 20480 / 512 + 1);   /* the neighbour untouched */
    assert_true(f->batches > 0);
    free(w);
    free(r);
    fx_close(f);
}

static void ops_threads(void **s) { (void)s; all_ops("/tmp", AIO_THREADS, BLK_CACHE_WRITEBACK); }
static void ops_uring(void **s) { (void)s; all_ops("/tmp", AIO_IO_URING, BLK_CACHE_WRITEBACK); }
static void ops_inline(void **s) { (void)s; all_ops("/dev/shm", AIO_AUTO, BLK_CACHE_WRITEBACK); }
static void ops_direct(void **s) { (void)s; all_ops("/tmp", AIO_IO_URING, BLK_CACHE_NONE); }
/* tmpfs has no ZERO_RANGE: write-zeroes falls back to writes. */
static void ops_tmpfs(void **s) { (void)s; all_ops("/dev/shm", AIO_THREADS, BLK_CACHE_WRITEBACK); }

static void bad_requests_never_reach_the_driver(void **state)
{
    (void)state;
    struct fx *f = fx_open("/tmp", AIO_THREADS, BLK_CACHE_WRITEBACK, false, false);
    uint8_t buf[1024] = {0};
    assert_int_equal(run(f, f->q, BDEV_READ, 0, DISK_SIZE - 512, buf, 1024), -EINVAL);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, DISK_SIZE, buf, 512), -EINVAL);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, UINT64_MAX - 511, buf, 1024), -EINVAL);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 100, buf, 512), -EINVAL);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 0, buf, 100), -EINVAL);
    assert_int_equal(run(f, f->q, BDEV_DISCARD, 0, DISK_SIZE - 512, NULL, 1024), -EINVAL);
    assert_int_equal(run(f, f->q, (enum bdev_op)99, 0, 0, NULL, 0), -EOPNOTSUPP);
    /* Nothing to zero is done at once, and still not inside submit. */
    assert_int_equal(run(f, f->q, BDEV_WRITE_ZEROES, 0, 0, NULL, 0), 0);
    fx_close(f);

    f = fx_open("/tmp", AIO_THREADS, BLK_CACHE_WRITEBACK, true, false);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 0, buf, 512), -EROFS);
    assert_int_equal(run(f, f->q, BDEV_WRITE_ZEROES, 0, 0, NULL, 512), -EROFS);
    assert_int_equal(run(f, f->q, BDEV_DISCARD, 0, 0, NULL, 512), -EROFS);
    assert_int_equal(bdev_pwrite(f->bs, 0, buf, 512), -EROFS);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 0, buf, 512), 0);
    assert_int_equal(buf[0], 1);
    fx_close(f);
}

/* O_DIRECT on tmpfs (Linux 6.6+): any offset, length and buffer through
 * the synchronous path; guest-like misaligned buffers on the async one. */
static void unaligned_under_o_direct(void **state)
{
    (void)state;
    struct fx *f = fx_open("/dev/shm", AIO_THREADS, BLK_CACHE_NONE, false, false);
    uint8_t *raw = malloc(10000), *buf = raw + 3, expect[777];
    assert_int_equal(bdev_pread(f->bs, 1000, buf, 777), 0);
    for (int i = 0; i < 777; i++)
        assert_int_equal(buf[i], (uint8_t)((1000 + i) / 512 + 1));
    memset(buf, 0xC3, 777);
    assert_int_equal(bdev_pwrite(f->bs, 1000, buf, 777), 0);
    assert_int_equal(bdev_sync(f->bs), 0);
    file_read(f->path, 1000, expect, 777);
    assert_memory_equal(expect, buf, 777);
    file_read(f->path, 999, expect, 1);
    assert_int_equal(expect[0], 999 / 512 + 1);   /* the bytes around it kept */
    file_read(f->path, 1777, expect, 1);
    assert_int_equal(expect[0], 1777 / 512 + 1);
    /* Past the end: zeroes. */
    memset(buf, 0xFF, 2048);
    assert_int_equal(bdev_pread(f->bs, DISK_SIZE - 1536, buf, 2048), 0);
    assert_int_equal(buf[0], (uint8_t)(DISK_SIZE / 512 - 2));
    assert_int_equal(buf[1535], (uint8_t)(DISK_SIZE / 512));
    for (int i = 1536; i < 2048; i++)
        assert_int_equal(buf[i], 0);

    /* Pieces O_DIRECT cannot take (not whole blocks) go through a bounce
     * buffer. */
    memset(buf, 0x5A, 4096);
    struct iovec two[2] = {{buf, 1000}, {buf + 1000, 3096}};
    assert_int_equal(run_iov(f, f->q, BDEV_WRITE, 8192, two, 2), 0);
    memset(buf, 0, 4096);
    two[0] = (struct iovec){buf, 1000};
    two[1] = (struct iovec){buf + 1000, 3096};
    assert_int_equal(run_iov(f, f->q, BDEV_READ, 8192, two, 2), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(buf[i], 0x5A);
    assert_int_equal(f->q->stats.bounce_peak, 4096);
    assert_int_equal(f->q->stats.bounce_bytes, 0);
    free(raw);
    fx_close(f);
}

/* The probe by reads: what it finds works; a file with no data to read
 * cannot tell, and gets the safe 4 KiB.  (4 KiB-sector storage:
 * test_blk_4k.) */
static void alignment_probe_by_reads(void **state)
{
    (void)state;
    char path[64];
    make_image(path, sizeof(path), "/dev/shm", DISK_SIZE);
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    assert_true(fd >= 0);
    struct dio_align a;
    dio_probe(fd, false, false, &a);
    assert_true(a.offset >= 512 && a.offset <= 4096 && !(a.offset & (a.offset - 1)));
    assert_true(a.mem >= 1 && a.mem <= 4096 && !(a.mem & (a.mem - 1)));
    uint8_t *buf = aligned_alloc(8192, 16384);
    assert_int_equal(pread(fd, buf + a.mem, a.offset, a.offset), (ssize_t)a.offset);
    close(fd);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(truncate(path, DISK_SIZE), 0);   /* all hole */
    fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    dio_probe(fd, false, false, &a);
    assert_int_equal(a.offset, 4096);
    assert_int_equal(a.mem, 4096);
    close(fd);
    unlink(path);
    free(buf);
}

static void growable_image_grows(void **state)
{
    (void)state;
    struct fx *f = fx_open("/tmp", AIO_IO_URING, BLK_CACHE_WRITEBACK, false, true);
    uint8_t *w = aligned_alloc(4096, 4096);
    memset(w, 0x77, 4096);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, DISK_SIZE + 8192, w, 4096), 0);
    assert_int_equal(f->bs->size, DISK_SIZE + 12288);
    assert_int_equal(bdev_pwrite(f->bs, DISK_SIZE + 20480, w, 512), 0);
    assert_int_equal(f->bs->size, DISK_SIZE + 20992);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, DISK_SIZE + 20992);
    /* Reads stay inside what exists. */
    assert_int_equal(run(f, f->q, BDEV_READ, 0, DISK_SIZE + 20992, w, 512), -EINVAL);
    free(w);
    fx_close(f);
}

/* ---- a format-like driver: each request split in two halves, sent to a
 * child queue of the same file opened as raw ---- */

struct split {
    struct bdev *file;
};

struct split_queue {
    struct bdev_queue *child;
};

struct piece {
    struct bdev_req io;
    struct split_req *owner;
};

struct split_req {
    struct piece piece[2];
    struct iovec iov[2];
    struct bdev_queue *q;
    struct bdev_req *r;
    unsigned pending;
    int err;
};

static int split_open(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen)
{
    struct split *s = calloc(1, sizeof(*s));
    struct bdev_opts fo = *o;
    fo.format = BDEV_FORMAT_RAW;
    s->file = bdev_open(&fo, err, errlen);
    if (!s->file) {
        free(s);
        return -1;
    }
    bs->size = s->file->size;
    bs->request_align = bs->block_size = 1024;   /* halves stay 512-aligned */
    bs->state = s;
    return 0;
}

static void split_close(struct bdev *bs)
{
    struct split *s = bs->state;
    bdev_close(s->file);
    free(s);
}

static int split_queue_init(struct bdev_queue *q, char *err, size_t errlen)
{
    struct split *s = q->bs->state;
    struct split_queue *sq = q->state;
    sq->child = bdev_queue_new_child(s->file, q, 2 * q->depth, err, errlen);
    return sq->child ? 0 : -1;
}

static void split_queue_fini(struct bdev_queue *q)
{
    struct split_queue *sq = q->state;
    /* On the loop already: the child's teardown runs inline. */
    bdev_queue_free(sq->child);
}

static void piece_done(struct bdev_req *io, int ret)
{
    struct split_req *s = ((struct piece *)io)->owner;
    if (ret && !s->err)
        s->err = ret;
    if (--s->pending == 0)
        bdev_req_done(s->q, s->r, s->err);
}

static void split_submit(struct bdev_queue *q, struct bdev_req *r)
{
    struct split_queue *sq = q->state;
    struct split_req *s = r->drv;
    s->q = q;
    s->r = r;
    s->err = 0;
    if (r->op != BDEV_READ && r->op != BDEV_WRITE) {
        s->pending = 1;
        s->piece[0].io = (struct bdev_req){.op = r->op, .flags = r->flags, .offset = r->offset, .len = r->len,
                                           .done = piece_done};
        s->piece[0].owner = s;
        bdev_submit(sq->child, &s->piece[0].io);
        return;
    }
    /* One buffer per request in these tests. */
    size_t half = r->len / 2;
    s->pending = 2;
    for (int i = 0; i < 2; i++) {
        s->iov[i] = (struct iovec){(uint8_t *)r->iov[0].iov_base + i * half, half};
        s->piece[i].io = (struct bdev_req){.op = r->op, .offset = r->offset + i * half, .iov = &s->iov[i],
                                           .iovcnt = 1, .done = piece_done};
        s->piece[i].owner = s;
        bdev_submit(sq->child, &s->piece[i].io);
    }
}

static int split_pread(struct bdev *bs, uint64_t off, void *buf, size_t len)
{
    return bdev_pread(((struct split *)bs->state)->file, off, buf, len);
}

static const struct bdev_driver split_driver = {
    .name = "split", .req_size = sizeof(struct split_req), .queue_size = sizeof(struct split_queue),
    .open = split_open, .close = split_close, .queue_init = split_queue_init, .queue_fini = split_queue_fini,
    .submit = split_submit, .pread = split_pread,
};

static void format_driver_with_fan_out(void **state)
{
    (void)state;
    struct fx *f = calloc(1, sizeof(*f));
    make_image(f->path, sizeof(f->path), "/tmp", DISK_SIZE);
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    struct bdev_opts o = {.path = f->path, .aio = AIO_IO_URING};
    char err[256];
    f->bs = bdev_open_driver(&split_driver, &o, err, sizeof(err));
    assert_non_null(f->bs);
    f->q = bdev_queue_new(f->bs, &f->loop, 4, err, sizeof(err));
    assert_non_null(f->q);
    bdev_queue_set_batch_end(f->q, on_batch, f);
    struct split_queue *sq = f->q->state;
    assert_ptr_equal(sq->child->aio, f->q->aio);   /* one engine for both files */

    uint8_t *w = aligned_alloc(4096, 8192), *r = aligned_alloc(4096, 8192);
    for (int i = 0; i < 8192; i++)
        w[i] = (uint8_t)(i * 11 + 5);
    /* More requests than the queue's depth over time: slots come back. */
    for (int round = 0; round < 10; round++) {
        f->batches = 0;
        assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 8192 * round, w, 8192), 0);
        assert_true(f->batches > 0);   /* the parent's hook saw the child's completions */
        assert_int_equal(run(f, f->q, BDEV_READ, 0, 8192 * round, r, 8192), 0);
        assert_memory_equal(r, w, 8192);
    }
    assert_int_equal(run(f, f->q, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    /* The format's own alignment is checked before the driver sees it. */
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 1024, r, 512), -EINVAL);
    assert_int_equal(bdev_pread(f->bs, 8192, r, 100), 0);
    assert_memory_equal(r, w, 100);
    char d[256];
    bdev_describe(f->bs, d, sizeof(d));
    assert_non_null(strstr(d, "split"));
    assert_non_null(strstr(d, "aio=io_uring"));
    free(w);
    free(r);
    fx_close(f);
}

/* A child queue's request that fails its checks completes at its root's
 * unplug: the device unplugs only the queues it knows. */
static void child_errors_complete_with_the_root(void **state)
{
    (void)state;
    struct fx *f = fx_open("/tmp", AIO_THREADS, BLK_CACHE_WRITEBACK, false, false);
    char path[64], err[256];
    make_image(path, sizeof(path), "/tmp", 65536);
    struct bdev_opts o = {.path = path, .format = BDEV_FORMAT_RAW, .ro = true, .aio = AIO_THREADS};
    struct bdev *other = bdev_open(&o, err, sizeof(err));
    assert_non_null(other);
    struct bdev_queue *child = bdev_queue_new_child(other, f->q, 4, err, sizeof(err));
    assert_non_null(child);
    uint8_t buf[512];
    struct iovec v = {buf, sizeof(buf)};
    struct req r = {.io = {.op = BDEV_WRITE, .offset = 0, .iov = &v, .iovcnt = 1, .done = req_done}};
    bdev_submit(child, &r.io);
    bdev_unplug(f->q);
    assert_true(r.done);
    assert_int_equal(r.ret, -EROFS);
    bdev_queue_free(child);
    bdev_close(other);
    unlink(path);
    fx_close(f);
}

/* Guest buffers O_DIRECT cannot take (pieces that are not whole blocks)
 * cost bounded memory per queue, however many requests and however large:
 * n writes of len bytes at once, then one read of all of it. */
static void bounded_bounce(enum aio_kind aio, unsigned n, size_t len)
{
    size_t size = n * len;
    struct fx *f = fx_open_sized("/dev/shm", aio, BLK_CACHE_NONE, false, false, size, 32);
    uint8_t *w = malloc(size), *r = malloc(size);
    for (size_t i = 0; i < size; i++)
        w[i] = (uint8_t)(i * 13 / 7 + i / 4096);
    struct req rq[32];
    struct iovec iov[32][2];
    assert_true(n <= 32);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = w + i * len;
        iov[i][0] = (struct iovec){p, 1000};
        iov[i][1] = (struct iovec){p + 1000, len - 1000};
        rq[i] = (struct req){.io = {.op = BDEV_WRITE, .offset = i * len, .iov = iov[i], .iovcnt = 2,
                                    .done = req_done}};
        bdev_submit(f->q, &rq[i].io);
    }
    bdev_unplug(f->q);
    assert_true(f->q->stats.bounce_bytes <= BDEV_BOUNCE_MAX_PER_QUEUE);
    for (int k = 0; k < 2000; k++) {
        bool all = true;
        for (unsigned i = 0; i < n; i++)
            all &= rq[i].done;
        if (all)
            break;
        event_loop_run_once(&f->loop, 10);
    }
    for (unsigned i = 0; i < n; i++) {
        assert_true(rq[i].done);
        assert_int_equal(rq[i].ret, 0);
    }
    struct iovec big[2] = {{r, 3000}, {r + 3000, size - 3000}};
    assert_int_equal(run_iov(f, f->q, BDEV_READ, 0, big, 2), 0);
    assert_memory_equal(r, w, size);
    assert_true(f->q->stats.bounce_peak <= BDEV_BOUNCE_MAX_PER_QUEUE);
    assert_true(f->q->stats.bounce_waits > 0);
    assert_int_equal(f->q->stats.bounce_bytes, 0);
    free(w);
    free(r);
    fx_close(f);
}

static void bounce_bounded_threads(void **s) { (void)s; bounded_bounce(AIO_THREADS, 12, 1 << 20); }
static void bounce_bounded_uring(void **s) { (void)s; bounded_bounce(AIO_IO_URING, 12, 1 << 20); }
/* Pieces up to 128 KiB are done inline on tmpfs under aio=auto. */
static void bounce_bounded_inline(void **s) { (void)s; bounded_bounce(AIO_AUTO, 30, 100 << 10); }

/* Write-zeroes done as writes (tmpfs has no ZERO_RANGE) where the file
 * system returns short writes: each chunk lands right after the last,
 * and nothing past the range is touched. */
static void write_zeroes_with_short_writes(void **state)
{
    (void)state;
    size_t size = 4 << 20;
    struct fx *f = fx_open_sized("/dev/shm", AIO_THREADS, BLK_CACHE_WRITEBACK, false, false, size, 8);
    aio_engine_set_max_transfer(f->q->aio, 4096);
    assert_int_equal(run(f, f->q, BDEV_WRITE_ZEROES, 0, 0, NULL, 3 << 20), 0);
    uint8_t *back = malloc(size);
    file_read(f->path, 0, back, size);
    for (size_t i = 0; i < (3u << 20); i++)
        if (back[i])
            fail_msg("byte %zu not zeroed", i);
    for (size_t i = 3u << 20; i < size; i++)
        if (back[i] != (uint8_t)(i / 512 + 1))
            fail_msg("byte %zu past the range changed", i);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, size);
    /* Short reads and writes of data are continued too. */
    uint8_t *w = malloc(65536), *r = malloc(65536);
    for (int i = 0; i < 65536; i++)
        w[i] = (uint8_t)(i * 5 + 1);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 8192, w, 65536), 0);
    assert_int_equal(run(f, f->q, BDEV_READ, 0, 8192, r, 65536), 0);
    assert_memory_equal(r, w, 65536);
    free(w);
    free(r);
    free(back);
    fx_close(f);
}

/* Whether the page cache holds dirty pages of the range; fails the test
 * where that cannot be seen (not root), unless the environment says so. */
static int dirty(const char *path, uint64_t off, size_t len)
{
    int d = file_range_dirty(path, off, len);
    if (d < 0 && getenv("VIREO_TEST_NO_KPAGEFLAGS"))
        skip();
    if (d < 0)
        fail_msg("cannot read page flags of %s: %s (root is needed; set VIREO_TEST_NO_KPAGEFLAGS=1 to skip)", path,
                 strerror(errno));
    return d;
}

/* What a guest wrote without flushing reaches the disk when the image is
 * closed, as QEMU flushes at exit. */
static void close_flushes_the_image(void **state)
{
    (void)state;
    struct fx *f = fx_open("/tmp", AIO_IO_URING, BLK_CACHE_WRITEBACK, false, false);
    char path[64];
    snprintf(path, sizeof(path), "%s", f->path);
    uint8_t *w = aligned_alloc(4096, 4096);
    memset(w, 0x3C, 4096);
    assert_int_equal(run(f, f->q, BDEV_WRITE, 0, 65536, w, 4096), 0);
    assert_int_equal(dirty(path, 65536, 4096), 1);   /* the check sees dirty pages */
    bdev_queue_free(f->q);
    bdev_close(f->bs);
    assert_int_equal(dirty(path, 65536, 4096), 0);
    event_loop_destroy(&f->loop);
    unlink(path);
    free(f);
    free(w);
}

static void formats_by_name(void **state)
{
    (void)state;
    enum bdev_format fmt;
    assert_int_equal(bdev_format_parse("raw", &fmt), 0);
    assert_int_equal(fmt, BDEV_FORMAT_RAW);
    assert_string_equal(bdev_format_name(BDEV_FORMAT_RAW), "raw");
    assert_int_equal(bdev_format_parse("vmdk", &fmt), -1);
    struct bdev_opts o = {.path = "/nonexistent/x.img", .format = BDEV_FORMAT_COUNT};
    char err[256];
    assert_null(bdev_open(&o, err, sizeof(err)));
    o.format = BDEV_FORMAT_RAW;
    assert_null(bdev_open(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/x.img"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ops_threads),
        cmocka_unit_test(ops_uring),
        cmocka_unit_test(ops_inline),
        cmocka_unit_test(ops_direct),
        cmocka_unit_test(ops_tmpfs),
        cmocka_unit_test(bad_requests_never_reach_the_driver),
        cmocka_unit_test(unaligned_under_o_direct),
        cmocka_unit_test(alignment_probe_by_reads),
        cmocka_unit_test(growable_image_grows),
        cmocka_unit_test(format_driver_with_fan_out),
        cmocka_unit_test(child_errors_complete_with_the_root),
        cmocka_unit_test(close_flushes_the_image),
        cmocka_unit_test(write_zeroes_with_short_writes),
        cmocka_unit_test(bounce_bounded_threads),
        cmocka_unit_test(bounce_bounded_uring),
        cmocka_unit_test(bounce_bounded_inline),
        cmocka_unit_test(formats_by_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The qcow2 disk driver (block/qcow2_bdev.c) through the block layer's
 * interface, as virtio-blk uses it, on image files in tmpfs and /tmp:
 * reads and writes across cluster boundaries with scattered buffers, on
 * every engine and O_DIRECT; copy-on-write from raw and qcow2 backing
 * files (the base never written); compressed clusters read and
 * overwritten; flush, discard and write-zeroes on partial and whole
 * clusters (also where the image has no zero clusters); two queues on two
 * I/O threads allocating the same clusters at once; more pieces than the
 * backing files' queues hold; heavy random I/O on several queues followed
 * by `qemu-img check` and `qemu-img compare` against a raw image that got
 * the same writes; backing=off; a corrupt mapping; the synchronous path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/bdev_driver.h"
#include "block/bfile.h"
#include "block/qcow2.h"
#include "eventloop/iothread.h"

#define MiB (1024u * 1024u)

static char tmpdir[64];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void mkdir_in(const char *base)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/vireo-q2b-XXXXXX", base);
    assert_non_null(mkdtemp(tmpdir));
}

static void rmdir_all(void)
{
    sh("rm -rf %s", tmpdir);
}

static uint8_t pat(uint64_t off, unsigned seed)
{
    uint64_t x = (off / 8) * 0x9e3779b97f4a7c15ull + seed * 0xbf58476d1ce4e5b9ull;
    return (uint8_t)(x >> 56 ^ off);
}

static void fill(uint8_t *p, uint64_t off, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        p[i] = pat(off + i, seed);
}

/* A qcow2 image at path through the core (backing: name and format). */
static void mk_qcow2(const char *path, uint64_t size, unsigned cbits, unsigned version, const char *backing,
                     const char *bfmt)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    struct bfile *f = bfile_fd_wrap(fd, 1);
    struct qcow2_create_opts o = {.size = size, .cluster_bits = cbits, .version = version, .backing = backing,
                                  .backing_fmt = bfmt};
    char err[256];
    if (qcow2_create(f, &o, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    bfile_close(f);
}

static void mk_raw(const char *path, uint64_t size, unsigned seed)
{
    uint8_t *b = malloc(size);
    fill(b, 0, size, seed);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, b, size), (ssize_t)size);
    close(fd);
    free(b);
}

struct fx {
    struct event_loop loop;
    struct bdev *bs;
    struct bdev_queue *q;
    int batches;
};

static void on_batch(void *opaque)
{
    ((struct fx *)opaque)->batches++;
}

static struct bdev *open_disk(const char *path, enum aio_kind aio, enum blk_cache cache, bool ro, bool no_backing,
                              char *err, size_t errlen)
{
    struct bdev_opts o = {.path = path, .format = BDEV_FORMAT_QCOW2, .ro = ro, .cache = cache, .aio = aio,
                          .no_backing = no_backing};
    return bdev_open(&o, err, errlen);
}

static struct fx *fx_open(const char *path, enum aio_kind aio, enum blk_cache cache, bool ro, unsigned depth)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    char err[1024];
    f->bs = open_disk(path, aio, cache, ro, false, err, sizeof(err));
    if (!f->bs)
        fail_msg("%s", err);
    f->q = bdev_queue_new(f->bs, &f->loop, depth, err, sizeof(err));
    if (!f->q && aio == AIO_IO_URING && getenv("VIREO_TEST_NO_IO_URING")) {
        bdev_close(f->bs);
        skip();
    }
    if (!f->q)
        fail_msg("%s (set VIREO_TEST_NO_IO_URING=1 where the host disables io_uring)", err);
    bdev_queue_set_batch_end(f->q, on_batch, f);
    return f;
}

static void fx_close(struct fx *f)
{
    bdev_queue_free(f->q);
    bdev_close(f->bs);
    event_loop_destroy(&f->loop);
    free(f);
}

struct req {
    struct bdev_req io;
    struct iovec iov[8];
    int ret;
    atomic_bool done;
};

static void req_done(struct bdev_req *io, int ret)
{
    struct req *r = (struct req *)io;
    r->ret = ret;
    atomic_store(&r->done, true);
}

/* The request's buffer cut into up to 8 pieces of odd sizes (multiples of
 * 512 under O_DIRECT), as guest memory comes. */
static void prep(struct req *r, enum bdev_op op, unsigned flags, uint64_t off, uint8_t *buf, size_t len,
                 unsigned pieces, size_t unit)
{
    memset(r, 0, sizeof(*r));
    r->io = (struct bdev_req){.op = op, .flags = flags, .offset = off, .len = len, .iov = r->iov, .done = req_done};
    if (!buf) {
        r->io.iovcnt = 0;
        return;
    }
    size_t done = 0;
    unsigned n = 0;
    while (done < len) {
        size_t c = len - done;
        if (n + 1 < pieces && c > unit) {
            size_t units = c / unit;
            c = (1 + (done * 7 + n * 3) % units) * unit;
            if (c > len - done)
                c = len - done;
        }
        r->iov[n++] = (struct iovec){buf + done, c};
        done += c;
    }
    r->io.iovcnt = n;
}

static void run_until(struct fx *f, struct req *r, unsigned n)
{
    for (int i = 0; i < 3000; i++) {
        bool all = true;
        for (unsigned k = 0; k < n; k++)
            all &= atomic_load(&r[k].done);
        if (all)
            return;
        event_loop_run_once(&f->loop, 10);
    }
    fail_msg("requests did not complete");
}

static int run(struct fx *f, enum bdev_op op, unsigned flags, uint64_t off, uint8_t *buf, size_t len)
{
    struct req r;
    prep(&r, op, flags, off, buf, len, 3, f->bs->request_align);
    bdev_submit(f->q, &r.io);
    bdev_unplug(f->q);
    run_until(f, &r, 1);
    return r.ret;
}

static void read_all(struct fx *f, uint8_t *out, uint64_t size)
{
    for (uint64_t off = 0; off < size; off += MiB) {
        size_t n = size - off < MiB ? (size_t)(size - off) : MiB;
        assert_int_equal(run(f, BDEV_READ, 0, off, out + off, n), 0);
    }
}

static void check_all(struct fx *f, const uint8_t *ref, uint64_t size)
{
    uint8_t *got = aligned_alloc(4096, size);
    read_all(f, got, size);
    for (uint64_t i = 0; i < size; i++)
        if (got[i] != ref[i])
            fail_msg("byte %llu: 0x%02x, expected 0x%02x", (unsigned long long)i, got[i], ref[i]);
    free(got);
}

static int qemu_img_check(const char *path)
{
    return sh("qemu-img check -q '%s' >/dev/null 2>&1", path);
}

/* ---- reads and writes across clusters, each engine ---- */

static void rw_across(const char *base, enum aio_kind aio, enum blk_cache cache, unsigned cbits)
{
    mkdir_in(base);
    char path[128];
    snprintf(path, sizeof(path), "%s/d.qcow2", tmpdir);
    uint64_t size = 4 * MiB, cs = 1ull << cbits;
    mk_qcow2(path, size, cbits, 3, NULL, NULL);
    struct fx *f = fx_open(path, aio, cache, false, 32);
    uint8_t *ref = calloc(1, size), *buf = aligned_alloc(4096, 512 * 1024);
    uint64_t a = f->bs->request_align;
    /* Unallocated reads zeroes. */
    check_all(f, ref, size);
    /* Writes that start and end inside clusters, span several, and
     * rewrite allocated ones in place. */
    struct { uint64_t off, len; } w[] = {
        {cs - a, 2 * a}, {3 * cs + a, 5 * cs}, {0, a}, {cs * 2, cs}, {5 * cs - a, 3 * a},
        {size - 3 * cs - a, 3 * cs + a}, {cs + a, 7 * cs - 2 * a}, {11 * a, 300 * a},
    };
    for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        uint64_t len = w[i].len > 512 * 1024 ? 512 * 1024 : w[i].len;
        fill(buf, w[i].off, len, i + 1);
        memcpy(ref + w[i].off, buf, len);
        assert_int_equal(run(f, BDEV_WRITE, 0, w[i].off, buf, len), 0);
        uint8_t *back = aligned_alloc(4096, 512 * 1024);
        assert_int_equal(run(f, BDEV_READ, 0, w[i].off, back, len), 0);
        assert_memory_equal(back, ref + w[i].off, len);
        free(back);
    }
    check_all(f, ref, size);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    assert_true(f->batches > 0);
    /* A FLUSH after data written in place (no metadata, so no barrier of
     * the write-back covers it) syncs the file; one with nothing written
     * since does not. */
    uint64_t syncs = f->q->stats.flush_syncs;
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, buf, a), 0);
    memcpy(ref, buf, a);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(f->q->stats.flush_syncs, syncs + 1);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(f->q->stats.flush_syncs, syncs + 1);
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, buf, a), 0);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    assert_int_equal(f->q->stats.flush_syncs, syncs + 2);
    /* Two FLUSHes at once: one fdatasync, which the second waits for
     * and finds covers it (two in flight could each hide an error). */
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, buf, a), 0);
    struct req fl[2];
    for (unsigned i = 0; i < 2; i++) {
        prep(&fl[i], BDEV_FLUSH, 0, 0, NULL, 0, 1, a);
        bdev_submit(f->q, &fl[i].io);
    }
    bdev_unplug(f->q);
    run_until(f, fl, 2);
    assert_int_equal(fl[0].ret, 0);
    assert_int_equal(fl[1].ret, 0);
    assert_int_equal(f->q->stats.flush_syncs, syncs + 3);
    /* Several requests at once, to disjoint ranges, some sharing a new
     * cluster: the second waits for the first's allocation. */
    struct req r[16];
    uint8_t *bufs = aligned_alloc(4096, 16 * 8192);
    for (unsigned i = 0; i < 16; i++) {
        uint64_t off = 2 * MiB + i * 8192;
        fill(bufs + i * 8192, off, 8192, 100 + i);
        memcpy(ref + off, bufs + i * 8192, 8192);
        prep(&r[i], BDEV_WRITE, 0, off, bufs + i * 8192, 8192, 4, a);
        bdev_submit(f->q, &r[i].io);
    }
    bdev_unplug(f->q);
    run_until(f, r, 16);
    for (unsigned i = 0; i < 16; i++)
        assert_int_equal(r[i].ret, 0);
    if (cs > 8192)
        assert_true(f->q->stats.alloc_waits > 0);
    check_all(f, ref, size);
    char d[512];
    bdev_describe(f->bs, d, sizeof(d));
    assert_non_null(strstr(d, "qcow2, "));
    assert_non_null(strstr(d, "no backing file"));
    fx_close(f);
    assert_int_equal(qemu_img_check(path), 0);
    /* What qemu-img reads is what was written. */
    char rawp[160];
    snprintf(rawp, sizeof(rawp), "%s/ref.raw", tmpdir);
    FILE *fp = fopen(rawp, "wb");
    assert_int_equal(fwrite(ref, 1, size, fp), size);
    fclose(fp);
    assert_int_equal(sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", path, rawp), 0);
    free(ref);
    free(buf);
    free(bufs);
    rmdir_all();
}

static void rw_threads(void **s) { (void)s; rw_across("/tmp", AIO_THREADS, BLK_CACHE_WRITEBACK, 16); }
static void rw_uring(void **s) { (void)s; rw_across("/tmp", AIO_IO_URING, BLK_CACHE_WRITEBACK, 16); }
static void rw_inline_4k(void **s) { (void)s; rw_across("/dev/shm", AIO_AUTO, BLK_CACHE_WRITEBACK, 12); }
static void rw_direct(void **s) { (void)s; rw_across("/tmp", AIO_IO_URING, BLK_CACHE_NONE, 16); }
static void rw_512_clusters(void **s) { (void)s; rw_across("/dev/shm", AIO_THREADS, BLK_CACHE_WRITEBACK, 9); }

/* ---- backing files ---- */

/* top (qcow2) -> mid (qcow2) -> base (raw): reads show through, partial
 * writes copy the rest of the cluster from below, nothing below changes. */
static void backing_chain(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char base[128], mid[128], top[128];
    snprintf(base, sizeof(base), "%s/base.raw", tmpdir);
    snprintf(mid, sizeof(mid), "%s/mid.qcow2", tmpdir);
    snprintf(top, sizeof(top), "%s/top.qcow2", tmpdir);
    uint64_t size = 4 * MiB, cs = 65536;
    mk_raw(base, 3 * MiB + 512, 7);   /* shorter than the disk: the rest reads zeroes */
    mk_qcow2(mid, size, 16, 3, "base.raw", "raw");
    mk_qcow2(top, size, 16, 3, "mid.qcow2", "qcow2");
    assert_int_equal(sh("md5sum '%s' > '%s.md5'", base, base), 0);
    uint8_t *ref = calloc(1, size), *buf = aligned_alloc(4096, 256 * 1024);
    fill(ref, 0, 3 * MiB + 512, 7);
    /* Something in the middle image first, through the driver. */
    struct fx *f = fx_open(mid, AIO_AUTO, BLK_CACHE_WRITEBACK, false, 16);
    fill(buf, cs + 4096, 8192, 21);
    memcpy(ref + cs + 4096, buf, 8192);
    assert_int_equal(run(f, BDEV_WRITE, 0, cs + 4096, buf, 8192), 0);
    fx_close(f);

    f = fx_open(top, AIO_AUTO, BLK_CACHE_WRITEBACK, false, 16);
    char d[512];
    bdev_describe(f->bs, d, sizeof(d));
    assert_non_null(strstr(d, "backing "));
    assert_non_null(strstr(d, "mid.qcow2 (qcow2) -> "));
    assert_non_null(strstr(d, "base.raw (raw)"));
    int fds[4];
    assert_int_equal(bdev_fds(f->bs, fds, 4), 3);
    check_all(f, ref, size);
    /* Partial writes: head and tail copied from mid and from base, and
     * across the end of the raw base. */
    struct { uint64_t off, len; } w[] = {
        {cs + 512, 1024}, {5 * cs + 3 * 4096, 4096}, {3 * MiB - 4096, 8192}, {3 * MiB + 512 - 1024, 2048},
        {7 * cs - 512, 2 * cs + 1024},
    };
    for (unsigned i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        fill(buf, w[i].off, w[i].len, 30 + i);
        memcpy(ref + w[i].off, buf, w[i].len);
        assert_int_equal(run(f, BDEV_WRITE, 0, w[i].off, buf, w[i].len), 0);
    }
    check_all(f, ref, size);
    /* Write-zeroes over a backing file: zero clusters, not holes. */
    memset(ref + 10 * cs, 0, 2 * cs + 4096);
    assert_int_equal(run(f, BDEV_WRITE_ZEROES, 0, 10 * cs, NULL, 2 * cs + 4096), 0);
    check_all(f, ref, size);
    fx_close(f);
    assert_int_equal(sh("md5sum -c --quiet '%s.md5'", base), 0);
    assert_int_equal(qemu_img_check(top), 0);
    assert_int_equal(qemu_img_check(mid), 0);
    /* The same bytes qemu-img reads. */
    char rawp[160];
    snprintf(rawp, sizeof(rawp), "%s/ref.raw", tmpdir);
    FILE *fp = fopen(rawp, "wb");
    assert_int_equal(fwrite(ref, 1, size, fp), size);
    fclose(fp);
    assert_int_equal(sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", top, rawp), 0);
    /* backing=off refuses the image, naming why. */
    char err[1024];
    assert_null(open_disk(top, AIO_AUTO, BLK_CACHE_WRITEBACK, false, true, err, sizeof(err)));
    assert_non_null(strstr(err, "backing files are refused for this disk"));
    assert_non_null(strstr(err, "mid.qcow2"));
    free(ref);
    free(buf);
    rmdir_all();
}

/* More pieces than the backing file's child queue holds: they wait in
 * order for its slots. */
static void backing_queue_full(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char base[128], top[128];
    snprintf(base, sizeof(base), "%s/base.qcow2", tmpdir);
    snprintf(top, sizeof(top), "%s/top.qcow2", tmpdir);
    mk_qcow2(base, 8 * MiB, 12, 3, NULL, NULL);
    uint8_t *ref = calloc(1, 8 * MiB);
    {
        struct fx *f = fx_open(base, AIO_THREADS, BLK_CACHE_WRITEBACK, false, 8);
        /* Every other 4 KiB cluster: reads of the top split into pieces. */
        uint8_t *b = aligned_alloc(4096, 4096);
        for (uint64_t off = 0; off < 8 * MiB; off += 8192) {
            fill(b, off, 4096, 3);
            memcpy(ref + off, b, 4096);
            assert_int_equal(run(f, BDEV_WRITE, 0, off, b, 4096), 0);
        }
        free(b);
        fx_close(f);
    }
    mk_qcow2(top, 8 * MiB, 16, 3, "base.qcow2", "qcow2");
    struct fx *f = fx_open(top, AIO_THREADS, BLK_CACHE_WRITEBACK, true, 64);
    struct req r[64];
    uint8_t *got = aligned_alloc(4096, 8 * MiB);
    for (unsigned i = 0; i < 64; i++) {
        prep(&r[i], BDEV_READ, 0, (uint64_t)i * 131072, got + (size_t)i * 131072, 131072, 5, 512);
        bdev_submit(f->q, &r[i].io);
    }
    bdev_unplug(f->q);
    run_until(f, r, 64);
    for (unsigned i = 0; i < 64; i++)
        assert_int_equal(r[i].ret, 0);
    assert_memory_equal(got, ref, 8 * MiB);
    /* A read-only disk refuses writes before the driver sees them. */
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, got, 4096), -EROFS);
    fx_close(f);
    free(got);
    free(ref);
    rmdir_all();
}

/* ---- compressed clusters ---- */

static void compressed(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char raw[128], img[128];
    snprintf(raw, sizeof(raw), "%s/src.raw", tmpdir);
    snprintf(img, sizeof(img), "%s/c.qcow2", tmpdir);
    uint64_t size = 2 * MiB;
    /* Compressible data: a pattern repeating every 64 bytes, and zeroes. */
    uint8_t *ref = calloc(1, size);
    for (uint64_t i = 0; i < MiB + 4096; i++)
        ref[i] = (uint8_t)(i % 64 + i / 65536);
    FILE *fp = fopen(raw, "wb");
    assert_int_equal(fwrite(ref, 1, size, fp), size);
    fclose(fp);
    for (int zstd = 0; zstd < 2; zstd++) {
        if (sh("qemu-img convert -q -c -f raw -O qcow2 -o cluster_size=65536%s '%s' '%s'",
               zstd ? ",compression_type=zstd" : "", raw, img) != 0) {
            if (zstd)
                break;   /* a qemu-img without zstd */
            fail_msg("qemu-img convert -c failed");
        }
        uint8_t *mine = malloc(size);
        memcpy(mine, ref, size);
        struct fx *f = fx_open(img, AIO_AUTO, BLK_CACHE_WRITEBACK, false, 16);
        check_all(f, mine, size);
        /* Overwriting part of a compressed cluster: the rest is inflated
         * and copied; the cluster is rewritten uncompressed. */
        uint8_t *b = aligned_alloc(4096, 4096);
        fill(b, 65536 + 8192, 4096, 9);
        memcpy(mine + 65536 + 8192, b, 4096);
        assert_int_equal(run(f, BDEV_WRITE, 0, 65536 + 8192, b, 4096), 0);
        /* Reads that start inside a compressed cluster. */
        uint8_t *got = aligned_alloc(4096, 3 * 65536);
        assert_int_equal(run(f, BDEV_READ, 0, 3 * 65536 + 512, got, 2 * 65536 + 1024), 0);
        assert_memory_equal(got, mine + 3 * 65536 + 512, 2 * 65536 + 1024);
        check_all(f, mine, size);
        fx_close(f);
        assert_int_equal(qemu_img_check(img), 0);
        free(b);
        free(got);
        free(mine);
    }
    free(ref);
    rmdir_all();
}

/* ---- flush, discard, write-zeroes ---- */

static void zeroes_and_discard(unsigned version, bool with_backing)
{
    mkdir_in("/dev/shm");
    char img[128], base[128];
    snprintf(img, sizeof(img), "%s/z.qcow2", tmpdir);
    snprintf(base, sizeof(base), "%s/base.raw", tmpdir);
    uint64_t size = 4 * MiB, cs = 65536;
    uint8_t *ref = calloc(1, size);
    if (with_backing) {
        mk_raw(base, size, 5);
        fill(ref, 0, size, 5);
    }
    mk_qcow2(img, size, 16, version, with_backing ? "base.raw" : NULL, with_backing ? "raw" : NULL);
    struct fx *f = fx_open(img, AIO_THREADS, BLK_CACHE_WRITEBACK, false, 16);
    uint8_t *b = aligned_alloc(4096, MiB);
    fill(b, 0, MiB, 11);
    memcpy(ref, b, MiB);
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, b, MiB), 0);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    /* Write-zeroes: partial clusters written, whole ones deallocated. */
    uint64_t zo = cs / 2 + 512, zl = 3 * cs;
    memset(ref + zo, 0, zl);
    assert_int_equal(run(f, BDEV_WRITE_ZEROES, BDEV_F_UNMAP, zo, NULL, zl), 0);
    /* Inside one cluster only. */
    memset(ref + 6 * cs + 1024, 0, 2048);
    assert_int_equal(run(f, BDEV_WRITE_ZEROES, 0, 6 * cs + 1024, NULL, 2048), 0);
    /* Write-through (FUA): flushed before it completes. */
    memset(ref + 9 * cs, 0, cs);
    assert_int_equal(run(f, BDEV_WRITE_ZEROES, BDEV_F_FUA, 9 * cs, NULL, cs), 0);
    fill(b, 12 * cs, 4096, 12);
    memcpy(ref + 12 * cs, b, 4096);
    assert_int_equal(run(f, BDEV_WRITE, BDEV_F_FUA, 12 * cs, b, 4096), 0);
    check_all(f, ref, size);
    /* Discard: whole clusters read zeroes afterwards (or the backing
     * file's data in a version 2 image), partial ones are left alone. */
    uint64_t d0 = 13 * cs - 4096, dl = 2 * cs + 8192;
    if (version >= 3 || !with_backing)
        memset(ref + 13 * cs, 0, 2 * cs);
    else
        fill(ref + 13 * cs, 13 * cs, 2 * cs, 5);
    assert_int_equal(run(f, BDEV_DISCARD, 0, d0, NULL, dl), 0);
    check_all(f, ref, size);
    assert_int_equal(run(f, BDEV_FLUSH, 0, 0, NULL, 0), 0);
    fx_close(f);
    assert_int_equal(qemu_img_check(img), 0);
    /* Whole clusters were deallocated: qemu-img sees no data there. */
    if (version >= 3)
        assert_int_equal(sh("qemu-img map --output=json '%s' | grep -Eq '\"start\": %llu, \"length\": %llu, "
                            "\"depth\": 0, \"present\": (true|false), \"zero\": true, \"data\": false'", img,
                            (unsigned long long)cs, (unsigned long long)(2 * cs)), 0);
    free(b);
    free(ref);
    rmdir_all();
}

static void zeroes_v3(void **s) { (void)s; zeroes_and_discard(3, false); }
static void zeroes_v3_backing(void **s) { (void)s; zeroes_and_discard(3, true); }
/* No zero clusters in version 2: zeroes over a backing file are written. */
static void zeroes_v2_backing(void **s) { (void)s; zeroes_and_discard(2, true); }

/* ---- two queues on two I/O threads ---- */

struct lane {
    struct bdev_queue *q;
    struct req *r;
    uint8_t *buf;
    unsigned n;
    uint64_t cs;
    atomic_bool submitted;
    /* Lane 0 starts its peer after its first batch and holds its own
     * thread until the peer has submitted everything: lane 0's first
     * allocations cannot complete meanwhile (their completions run on
     * the held thread), so the peer meets them in flight on every run,
     * however the host schedules the two threads. */
    struct lane *peer;
    struct event_loop *peer_loop;
    struct el_post *peer_go;
    bool peer_timed_out;
};

static void lane_done(struct bdev_req *io, int ret)
{
    struct req *r = (struct req *)io;
    r->ret = ret;
    atomic_store(&r->done, true);
}

static void lane_submit(void *arg)
{
    struct lane *l = arg;
    for (unsigned i = 0; i < l->n; i++) {
        bdev_submit(l->q, &l->r[i].io);
        if (i % 8 == 7)
            bdev_unplug(l->q);
        if (i == 7 && l->peer) {
            event_loop_post(l->peer_loop, l->peer_go);
            int ms = 0;
            while (!atomic_load(&l->peer->submitted) && ms++ < 10000)
                usleep(1000);
            l->peer_timed_out = !atomic_load(&l->peer->submitted);
        }
    }
    bdev_unplug(l->q);
    atomic_store(&l->submitted, true);
}

static void two_threads_same_clusters(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char img[128];
    snprintf(img, sizeof(img), "%s/t.qcow2", tmpdir);
    uint64_t size = 8 * MiB, cs = 65536;
    unsigned n = (unsigned)(size / cs);
    uint64_t waits = 0;
    {
        mk_qcow2(img, size, 16, 3, NULL, NULL);
        char err[1024];
        struct bdev *bs = open_disk(img, AIO_THREADS, BLK_CACHE_WRITEBACK, false, false, err, sizeof(err));
        assert_non_null(bs);
        struct iothread t[2];
        struct lane lane[2];
        for (int k = 0; k < 2; k++) {
            assert_int_equal(iothread_start(&t[k], k ? "q2b-b" : "q2b-a", 0, NULL), 0);
            lane[k] = (struct lane){.n = n, .cs = cs};
            lane[k].q = bdev_queue_new(bs, &t[k].loop, 256, err, sizeof(err));
            assert_non_null(lane[k].q);
            lane[k].r = calloc(n, sizeof(struct req));
            lane[k].buf = aligned_alloc(4096, (size_t)n * cs / 2);
            /* Lane 0 writes the first half of each cluster, lane 1 the
             * second: a cluster allocated twice loses one half. */
            for (unsigned i = 0; i < n; i++) {
                uint64_t off = i * cs + k * cs / 2;
                uint8_t *p = lane[k].buf + (size_t)i * cs / 2;
                fill(p, off, cs / 2, 40);
                prep(&lane[k].r[i], BDEV_WRITE, 0, off, p, cs / 2, 3, 512);
                lane[k].r[i].io.done = lane_done;
            }
        }
        struct el_post go[2] = {{lane_submit, &lane[0], NULL}, {lane_submit, &lane[1], NULL}};
        lane[0].peer = &lane[1];
        lane[0].peer_loop = &t[1].loop;
        lane[0].peer_go = &go[1];
        event_loop_post(&t[0].loop, &go[0]);
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < 5000; i++) {
                bool all = true;
                for (unsigned j = 0; j < n; j++)
                    all &= atomic_load(&lane[k].r[j].done);
                if (all)
                    break;
                usleep(1000);
            }
            for (unsigned j = 0; j < n; j++) {
                assert_true(atomic_load(&lane[k].r[j].done));
                assert_int_equal(lane[k].r[j].ret, 0);
            }
            waits += lane[k].q->stats.alloc_waits;
        }
        assert_false(lane[0].peer_timed_out);
        for (int k = 0; k < 2; k++) {
            bdev_queue_free(lane[k].q);
            iothread_stop(&t[k]);
            free(lane[k].r);
            free(lane[k].buf);
        }
        bdev_close(bs);
        uint8_t *ref = malloc(size);
        fill(ref, 0, size, 40);
        struct fx *f = fx_open(img, AIO_THREADS, BLK_CACHE_WRITEBACK, true, 8);
        check_all(f, ref, size);
        fx_close(f);
        free(ref);
        assert_int_equal(qemu_img_check(img), 0);
    }
    /* The cross-thread wake-up was exercised. */
    assert_true(waits > 0);
    rmdir_all();
}

/* ---- heavy random I/O on several queues, then qemu-img ---- */

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void random_io(unsigned cbits, bool with_backing, enum blk_cache cache, const char *base_dir)
{
    mkdir_in(base_dir);
    char img[128], base[128], refp[128];
    snprintf(img, sizeof(img), "%s/r.qcow2", tmpdir);
    snprintf(base, sizeof(base), "%s/base.qcow2", tmpdir);
    snprintf(refp, sizeof(refp), "%s/ref.raw", tmpdir);
    uint64_t size = 16 * MiB, cs = 1ull << cbits;
    uint8_t *ref = calloc(1, size);
    if (with_backing) {
        /* A qcow2 base with data in half its clusters. */
        mk_qcow2(base, size, 16, 3, NULL, NULL);
        struct fx *f = fx_open(base, AIO_THREADS, BLK_CACHE_WRITEBACK, false, 8);
        uint8_t *b = aligned_alloc(4096, 65536);
        for (uint64_t off = 0; off < size; off += 131072) {
            fill(b, off, 65536, 77);
            memcpy(ref + off, b, 65536);
            assert_int_equal(run(f, BDEV_WRITE, 0, off, b, 65536), 0);
        }
        free(b);
        fx_close(f);
    }
    mk_qcow2(img, size, cbits, 3, with_backing ? "base.qcow2" : NULL, with_backing ? "qcow2" : NULL);
    struct fx *f = fx_open(img, AIO_IO_URING, cache, false, 64);
    /* A second queue of the disk (its own engine) on the same loop:
     * requests alternate between them. */
    char err[512];
    struct bdev_queue *qs[2] = {f->q, bdev_queue_new(f->bs, &f->loop, 64, err, sizeof(err))};
    assert_non_null(qs[1]);
    uint64_t seed = 0x1234567 + cbits;
    uint64_t a = f->bs->request_align;
    enum { BATCH = 24, MAXLEN = 256 * 1024 };
    uint8_t *bufs = aligned_alloc(4096, (size_t)BATCH * MAXLEN);
    struct req r[BATCH];
    for (int round = 0; round < 120; round++) {
        uint64_t lo[BATCH], hi[BATCH];
        unsigned n = 0;
        for (unsigned tries = 0; n < BATCH && tries < 200; tries++) {
            uint64_t len = ((rnd(&seed) % (MAXLEN / a)) + 1) * a;
            if (rnd(&seed) % 4)
                len = len % (16 * a) + a;   /* mostly small */
            uint64_t off = (rnd(&seed) % ((size - len) / a + 1)) * a;
            bool overlap = false;
            for (unsigned k = 0; k < n; k++)
                overlap |= off < hi[k] && lo[k] < off + len;
            if (overlap)
                continue;
            lo[n] = off;
            hi[n] = off + len;
            unsigned kind = (unsigned)(rnd(&seed) % 100);
            uint8_t *b = bufs + (size_t)n * MAXLEN;
            if (kind < 55) {
                fill(b, off, len, (unsigned)round);
                memcpy(ref + off, b, len);
                prep(&r[n], BDEV_WRITE, 0, off, b, len, 1 + (unsigned)(rnd(&seed) % 8), a);
            } else if (kind < 80) {
                prep(&r[n], BDEV_READ, 0, off, b, len, 1 + (unsigned)(rnd(&seed) % 8), a);
            } else if (kind < 92) {
                memset(ref + off, 0, len);
                prep(&r[n], BDEV_WRITE_ZEROES, kind & 1 ? BDEV_F_UNMAP : 0, off, NULL, len, 1, a);
            } else if (kind < 97) {
                /* Whole clusters read zeroes afterwards; the rest is kept. */
                uint64_t ca = (off + cs - 1) & ~(cs - 1), cb = (off + len) & ~(cs - 1);
                if (cb > ca)
                    memset(ref + ca, 0, cb - ca);
                prep(&r[n], BDEV_DISCARD, 0, off, NULL, len, 1, a);
            } else {
                prep(&r[n], BDEV_FLUSH, 0, 0, NULL, 0, 1, a);
                lo[n] = hi[n] = 0;
            }
            n++;
        }
        for (unsigned k = 0; k < n; k++)
            bdev_submit(qs[k % 2], &r[k].io);
        bdev_unplug(qs[0]);
        bdev_unplug(qs[1]);
        run_until(f, r, n);
        for (unsigned k = 0; k < n; k++) {
            if (r[k].ret)
                fail_msg("round %d request %u (op %d at %llu, %llu bytes): %d", round, k, r[k].io.op,
                         (unsigned long long)r[k].io.offset, (unsigned long long)r[k].io.len, r[k].ret);
            if (r[k].io.op == BDEV_READ)
                assert_memory_equal(bufs + (size_t)k * MAXLEN, ref + r[k].io.offset, r[k].io.len);
        }
        if (round % 40 == 39)
            check_all(f, ref, size);
    }
    check_all(f, ref, size);
    bdev_queue_free(qs[1]);
    fx_close(f);
    int rc = qemu_img_check(img);
    assert_int_equal(rc, 0);
    FILE *fp = fopen(refp, "wb");
    assert_int_equal(fwrite(ref, 1, size, fp), size);
    fclose(fp);
    assert_int_equal(sh("qemu-img compare -q -f qcow2 -F raw '%s' '%s'", img, refp), 0);
    free(ref);
    free(bufs);
    rmdir_all();
}

static void random_64k(void **s) { (void)s; random_io(16, false, BLK_CACHE_WRITEBACK, "/dev/shm"); }
static void random_4k_backing(void **s) { (void)s; random_io(12, true, BLK_CACHE_WRITEBACK, "/dev/shm"); }
static void random_direct_backing(void **s) { (void)s; random_io(16, true, BLK_CACHE_NONE, "/tmp"); }

/* ---- errors and the synchronous path ---- */

static void corrupt_mapping_fails(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char img[128];
    snprintf(img, sizeof(img), "%s/bad.qcow2", tmpdir);
    mk_qcow2(img, 4 * MiB, 16, 3, NULL, NULL);
    struct fx *f = fx_open(img, AIO_THREADS, BLK_CACHE_WRITEBACK, false, 8);
    uint8_t *b = aligned_alloc(4096, 65536);
    memset(b, 0x5A, 65536);
    assert_int_equal(run(f, BDEV_WRITE, 0, 0, b, 65536), 0);
    fx_close(f);
    /* Point guest cluster 0's L2 entry at the header (cluster 0). */
    int fd = open(img, O_RDWR);
    uint8_t h[48];
    assert_int_equal(pread(fd, h, 48, 0), 48);
    uint64_t l1 = 0;
    for (int i = 0; i < 8; i++)
        l1 = l1 << 8 | h[40 + i];
    uint8_t e[8];
    assert_int_equal(pread(fd, e, 8, (off_t)l1), 8);
    uint64_t l2 = 0;
    for (int i = 0; i < 8; i++)
        l2 = l2 << 8 | e[i];
    l2 &= 0x00fffffffffffe00ull;
    uint8_t bad[8] = {0x80, 0, 0, 0, 0, 0, 0, 0};   /* copied flag, offset 0 */
    assert_int_equal(pwrite(fd, bad, 8, (off_t)l2), 8);
    close(fd);
    f = fx_open(img, AIO_THREADS, BLK_CACHE_WRITEBACK, false, 8);
    assert_int_equal(run(f, BDEV_WRITE, 0, 4096, b, 4096), -EIO);
    assert_int_equal(run(f, BDEV_READ, 0, 65536, b, 4096), -EIO);   /* broken from now on */
    fx_close(f);
    free(b);
    rmdir_all();
}

static void sync_path(void **state)
{
    (void)state;
    mkdir_in("/dev/shm");
    char img[128], base[128];
    snprintf(img, sizeof(img), "%s/s.qcow2", tmpdir);
    snprintf(base, sizeof(base), "%s/b.raw", tmpdir);
    mk_raw(base, MiB, 3);
    mk_qcow2(img, MiB, 16, 3, "b.raw", "raw");
    char err[1024];
    struct bdev *bs = open_disk(img, AIO_AUTO, BLK_CACHE_WRITEBACK, false, false, err, sizeof(err));
    assert_non_null(bs);
    uint8_t w[1000], r[1000], ref[1000];
    memset(w, 0xAB, sizeof(w));
    assert_int_equal(bdev_pwrite(bs, 70000, w, sizeof(w)), 0);
    assert_int_equal(bdev_pread(bs, 70000 - 300, r, sizeof(r)), 0);
    fill(ref, 70000 - 300, 300, 3);
    assert_memory_equal(r, ref, 300);
    assert_memory_equal(r + 300, w, sizeof(r) - 300);
    /* Past the end: zeroes. */
    assert_int_equal(bdev_pread(bs, MiB - 100, r, 200), 0);
    fill(ref, MiB - 100, 100, 3);
    assert_memory_equal(r, ref, 100);
    for (int i = 100; i < 200; i++)
        assert_int_equal(r[i], 0);
    assert_int_equal(bdev_sync(bs), 0);
    int fds[2] = {-1, -1};
    assert_int_equal(bdev_fds(bs, fds, 2), 2);
    assert_true(fds[0] >= 0 && fds[1] >= 0 && fds[0] != fds[1]);
    bdev_close(bs);
    assert_int_equal(qemu_img_check(img), 0);
    /* The format is the configuration's: a raw file is not opened as qcow2. */
    assert_null(open_disk(base, AIO_AUTO, BLK_CACHE_WRITEBACK, false, false, err, sizeof(err)));
    assert_non_null(strstr(err, "b.raw"));
    rmdir_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rw_threads),
        cmocka_unit_test(rw_uring),
        cmocka_unit_test(rw_inline_4k),
        cmocka_unit_test(rw_direct),
        cmocka_unit_test(rw_512_clusters),
        cmocka_unit_test(backing_chain),
        cmocka_unit_test(backing_queue_full),
        cmocka_unit_test(compressed),
        cmocka_unit_test(zeroes_v3),
        cmocka_unit_test(zeroes_v3_backing),
        cmocka_unit_test(zeroes_v2_backing),
        cmocka_unit_test(two_threads_same_clusters),
        cmocka_unit_test(random_64k),
        cmocka_unit_test(random_4k_backing),
        cmocka_unit_test(random_direct_backing),
        cmocka_unit_test(corrupt_mapping_fails),
        cmocka_unit_test(sync_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

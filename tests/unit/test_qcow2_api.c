/* The qcow2 core's contract with the code that drives it (the disk
 * back-end's adapter; qcow2_sync.c): a write to a cluster being allocated
 * waits and is woken; a freed cluster is not reused while a request
 * mapped before the free is in flight; a failed data write releases its
 * clusters; several threads writing parts of the same new clusters lose
 * nothing; what is refused is refused with the right error; a corrupt
 * mapping marks the image corrupt and fails what follows. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/qcow2.h"
#include "block/qcow2_header.h"
#include "block/qcow2_sync.h"
#include "memfile.h"

#define CS 4096u

static struct bfile *new_image(uint64_t size, uint32_t version)
{
    struct bfile *f = memfile_new(NULL, 0, 256 << 20);
    struct qcow2_create_opts o = {.size = size, .cluster_bits = 12, .version = version};
    char err[256];
    assert_int_equal(qcow2_create(f, &o, err, sizeof(err)), 0);
    return f;
}

static struct qcow2 *open_view(struct bfile *f, bool ro)
{
    struct qcow2 *q;
    char err[512];
    struct qcow2_open_opts o = {.read_only = ro};
    if (qcow2_open(&q, memfile_view(f), "img", &o, err, sizeof(err)) < 0)
        fail_msg("open: %s", err);
    return q;
}

struct waiter {
    struct qcow2_wait w;
    int woken;
};

static void wake(struct qcow2_wait *w)
{
    ((struct waiter *)w)->woken++;
}

static void allocation_in_flight_waits(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 3);
    struct qcow2 *q = open_view(f, false);
    struct waiter w1 = {.w = {.wake = wake}, .woken = 0}, w2 = {.w = {.wake = wake}, .woken = 0};
    struct qcow2_wplan a, b;
    /* A allocates cluster 0 (bytes 0-511); B wants bytes 1024-2047 of it. */
    assert_int_equal(qcow2_write_prepare(q, 0, 512, &a, &w1.w), 0);
    assert_int_equal(a.tail.len, CS - 512);
    assert_true(a.tail.skip);   /* fresh cluster, zero content: nothing to write */
    assert_int_equal(qcow2_write_prepare(q, 1024, 1024, &b, &w2.w), -EAGAIN);
    /* Discard and write-zeroes of it wait too. */
    struct waiter w3 = {.w = {.wake = wake}, .woken = 0};
    assert_int_equal(qcow2_zero(q, 0, CS, true, &w3.w), -EAGAIN);
    /* Reads are not held up: they see the old content. */
    struct qcow2_map m;
    assert_int_equal(qcow2_map_read(q, 0, CS, &m), 0);
    assert_int_equal(m.ext[0].kind, QCOW2_ZERO);
    qcow2_io_end(q, m.ticket);
    uint8_t d[512];
    memset(d, 0xab, sizeof(d));
    assert_int_equal(bfile_pwrite(qcow2_file(q), d, sizeof(d), a.host), 0);
    assert_int_equal(w2.woken, 0);
    assert_int_equal(qcow2_write_done(q, &a, 0), 0);
    assert_int_equal(w2.woken, 1);
    assert_int_equal(w3.woken, 1);
    /* Now in place, in the cluster A allocated. */
    assert_int_equal(qcow2_write_prepare(q, 1024, 1024, &b, &w2.w), 0);
    assert_int_equal(b.host, a.host + 1024);
    assert_int_equal(b.head.len + b.tail.len, 0);
    assert_int_equal(qcow2_write_done(q, &b, 0), 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

static void failed_write_releases(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 3);
    struct qcow2 *q = open_view(f, false);
    struct waiter w = {.w = {.wake = wake}, .woken = 0};
    struct qcow2_wplan a, b;
    assert_int_equal(qcow2_write_prepare(q, 8 * CS, CS, &a, &w.w), 0);
    assert_int_equal(qcow2_write_done(q, &a, -EIO), -EIO);
    /* The cluster is free again and the guest cluster unallocated. */
    assert_int_equal(qcow2_write_prepare(q, 8 * CS, CS, &b, &w.w), 0);
    assert_int_equal(b.host, a.host);
    assert_int_equal(qcow2_write_done(q, &b, 0), 0);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    assert_int_equal(r.corruptions + r.leaks, 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

static void ticket_holds_freed_cluster(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 3);
    struct qcow2 *q = open_view(f, false);
    uint8_t d[CS];
    memset(d, 1, sizeof(d));
    assert_int_equal(qcow2_sync_write(q, d, CS, 0), 0);
    assert_int_equal(qcow2_flush(q), 0);
    /* A read of cluster 0 is in flight... */
    struct qcow2_map m;
    assert_int_equal(qcow2_map_read(q, 0, CS, &m), 0);
    uint64_t host = m.ext[0].host;
    /* ...when the guest discards it, and the metadata is written back. */
    struct waiter w = {.w = {.wake = wake}, .woken = 0};
    assert_int_equal(qcow2_zero(q, 0, CS, true, &w.w), CS);
    assert_int_equal(qcow2_flush(q), 0);
    /* The next allocation does not get the cluster the read may still use. */
    struct qcow2_wplan p;
    assert_int_equal(qcow2_write_prepare(q, 5 * CS, CS, &p, &w.w), 0);
    assert_true(p.host != host);
    assert_int_equal(qcow2_write_done(q, &p, 0), 0);
    /* Once the read is over (and a write-back later) it is free again. */
    qcow2_io_end(q, m.ticket);
    assert_int_equal(qcow2_flush(q), 0);
    assert_int_equal(qcow2_write_prepare(q, 6 * CS, CS, &p, &w.w), 0);
    assert_int_equal(p.host, host);
    assert_int_equal(qcow2_write_done(q, &p, 0), 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

struct worker {
    struct qcow2 *q;
    unsigned id;
};

#define THREADS 4
#define CLUSTERS 64

/* Thread t owns bytes [t*1024, (t+1)*1024) of every cluster and writes
 * them in its own order: each new cluster is allocated once, by whoever
 * comes first; the others wait and then write in place. */
static void *worker(void *arg)
{
    struct worker *w = arg;
    uint8_t d[CS / THREADS];
    memset(d, 0x10 + (int)w->id, sizeof(d));
    for (unsigned k = 0; k < CLUSTERS; k++) {
        unsigned c = (k * 17 + w->id * 5) % CLUSTERS;
        if (qcow2_sync_write(w->q, d, sizeof(d), (uint64_t)c * CS + w->id * sizeof(d)))
            return (void *)1;
    }
    return NULL;
}

static void threads_share_new_clusters(void **state)
{
    (void)state;
    for (int round = 0; round < 20; round++) {
        struct bfile *f = new_image(1 << 20, 3);
        struct qcow2 *q = open_view(f, false);
        pthread_t t[THREADS];
        struct worker w[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            w[i] = (struct worker){q, i};
            pthread_create(&t[i], NULL, worker, &w[i]);
        }
        for (unsigned i = 0; i < THREADS; i++) {
            void *ret;
            pthread_join(t[i], &ret);
            assert_null(ret);
        }
        uint8_t got[CS];
        for (unsigned c = 0; c < CLUSTERS; c++) {
            assert_int_equal(qcow2_sync_read(q, got, CS, (uint64_t)c * CS), 0);
            for (unsigned i = 0; i < CS; i++)
                if (got[i] != 0x10 + i / (CS / THREADS))
                    fail_msg("round %d: cluster %u byte %u is %u", round, c, i, got[i]);
        }
        struct qcow2_check_result r;
        assert_int_equal(qcow2_flush(q), 0);
        assert_int_equal(qcow2_check(q, &r), 0);
        assert_int_equal(r.corruptions, 0);
        assert_int_equal(r.leaks, 0);
        assert_int_equal(qcow2_close(q), 0);
        bfile_close(f);
    }
}

/* Four threads on one image with a tiny L2 cache (so slices are
 * evicted and written back from any of them) and 512-byte clusters (many
 * L2 tables and refcount blocks): each writes, zeroes, discards and reads
 * back clusters of its own, and flushes, while the others allocate and
 * free around it.  Nothing is lost, nothing leaks, the image is clean.
 * Run under ThreadSanitizer too (meson -Db_sanitize=thread). */
#define MIX_CS 512u
#define MIX_CLUSTERS 2048u

struct mixer {
    struct qcow2 *q;
    unsigned id;
    uint8_t *ref;          /* the whole disk; this thread touches its own clusters only */
    char why[128];
};

static void *mixer(void *arg)
{
    struct mixer *m = arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (m->id + 1);
    uint8_t buf[MIX_CS], got[MIX_CS];
    for (unsigned i = 0; i < 3000; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        uint64_t c = (s >> 8) % (MIX_CLUSTERS / THREADS) * THREADS + m->id, off = c * MIX_CS;
        unsigned op = (unsigned)(s % 100);
        int r = 0;
        if (op < 50) {
            uint64_t a = (s >> 20) % MIX_CS, len = 1 + (s >> 30) % (MIX_CS - a);
            memset(buf, (int)(s >> 40) | 1, len);
            r = qcow2_sync_write(m->q, buf, len, off + a);
            memcpy(m->ref + off + a, buf, len);
        } else if (op < 60) {
            r = qcow2_sync_discard(m->q, off, MIX_CS);
            memset(m->ref + off, 0, MIX_CS);
        } else if (op < 70) {
            r = qcow2_sync_write_zeroes(m->q, off, MIX_CS);
            memset(m->ref + off, 0, MIX_CS);
        } else if (op < 97) {
            r = qcow2_sync_read(m->q, got, MIX_CS, off);
            if (!r && memcmp(got, m->ref + off, MIX_CS)) {
                snprintf(m->why, sizeof(m->why), "thread %u, op %u: cluster %llu reads wrong", m->id, i,
                         (unsigned long long)c);
                return m;
            }
        } else {
            r = qcow2_flush(m->q);
        }
        if (r) {
            snprintf(m->why, sizeof(m->why), "thread %u, op %u (%u): %d", m->id, i, op, r);
            return m;
        }
    }
    return NULL;
}

static void threads_mixed_operations(void **state)
{
    (void)state;
    struct bfile *f = memfile_new(NULL, 0, 256 << 20);
    struct qcow2_create_opts co = {.size = MIX_CLUSTERS * MIX_CS, .cluster_bits = 9};
    char err[256];
    assert_int_equal(qcow2_create(f, &co, err, sizeof(err)), 0);
    struct qcow2 *q;
    struct qcow2_open_opts o = {.l2_cache_bytes = 1};
    assert_int_equal(qcow2_open(&q, memfile_view(f), "img", &o, err, sizeof(err)), 0);
    uint8_t *ref = calloc(1, MIX_CLUSTERS * MIX_CS), *got = malloc(MIX_CLUSTERS * MIX_CS);
    pthread_t t[THREADS];
    struct mixer m[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        m[i] = (struct mixer){.q = q, .id = i, .ref = ref};
        pthread_create(&t[i], NULL, mixer, &m[i]);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        if (ret)
            fail_msg("%s", m[i].why);
    }
    assert_int_equal(qcow2_flush(q), 0);
    assert_int_equal(qcow2_sync_read(q, got, MIX_CLUSTERS * MIX_CS, 0), 0);
    assert_memory_equal(got, ref, MIX_CLUSTERS * MIX_CS);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    if (r.corruptions)
        fail_msg("corrupt: %s", r.first);
    assert_int_equal(r.leaks, 0);
    assert_int_equal(qcow2_close(q), 0);
    free(ref);
    free(got);
    bfile_close(f);
}

static void refusals(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 3);
    struct qcow2 *q = open_view(f, true);
    struct waiter w = {.w = {.wake = wake}, .woken = 0};
    struct qcow2_wplan p;
    struct qcow2_map m;
    assert_int_equal(qcow2_write_prepare(q, 0, 512, &p, &w.w), -EROFS);
    assert_int_equal(qcow2_zero(q, 0, CS, true, &w.w), -EROFS);
    assert_int_equal(qcow2_map_read(q, 1 << 20, 1, &m), -EINVAL);
    assert_int_equal(qcow2_map_read(q, 0, 0, &m), -EINVAL);
    assert_int_equal(qcow2_map_read(q, 4096, UINT64_MAX, &m), -EINVAL);
    assert_int_equal(qcow2_close(q), 0);
    q = open_view(f, false);
    assert_int_equal(qcow2_zero(q, 512, CS, true, &w.w), -EINVAL);   /* not cluster-aligned */
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

static int raw_open(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    (void)path;
    (void)err;
    (void)errlen;
    *out = memfile_view(ctx);
    return 0;
}

static void v2_backing_write_zeroes(void **state)
{
    (void)state;
    uint8_t pat[CS];
    memset(pat, 0x77, sizeof(pat));
    struct bfile *base = memfile_new(NULL, 1 << 20, 1 << 20);
    for (unsigned i = 0; i < 256; i++)
        bfile_pwrite(base, pat, CS, (uint64_t)i * CS);
    struct bfile *f = memfile_new(NULL, 0, 64 << 20);
    struct qcow2_create_opts o = {.size = 1 << 20, .cluster_bits = 12, .version = 2, .backing = "b", .backing_fmt = "raw"};
    char err[256];
    assert_int_equal(qcow2_create(f, &o, err, sizeof(err)), 0);
    struct qcow2_opener op = {raw_open, base};
    struct qcow2_open_opts oo = {.opener = &op};
    struct qcow2 *q;
    assert_int_equal(qcow2_open(&q, memfile_view(f), "img", &oo, err, sizeof(err)), 0);
    struct waiter w = {.w = {.wake = wake}, .woken = 0};
    assert_int_equal(qcow2_zero(q, 0, CS, false, &w.w), -ENOTSUP);
    /* The synchronous path writes zeroes instead. */
    assert_int_equal(qcow2_sync_write_zeroes(q, 0, 2 * CS), 0);
    uint8_t got[2 * CS], zero[2 * CS] = {0};
    assert_int_equal(qcow2_sync_read(q, got, sizeof(got), 0), 0);
    assert_memory_equal(got, zero, sizeof(got));
    /* A discard shows the backing file again (no zero flag in v2). */
    assert_int_equal(qcow2_sync_discard(q, 0, CS), 0);
    assert_int_equal(qcow2_sync_read(q, got, CS, 0), 0);
    assert_memory_equal(got, pat, CS);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
    bfile_close(base);
}

static void corruption_marks_image(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 3);
    struct qcow2 *q = open_view(f, false);
    uint8_t d[CS];
    memset(d, 1, sizeof(d));
    assert_int_equal(qcow2_sync_write(q, d, CS, 0), 0);
    assert_int_equal(qcow2_close(q), 0);
    /* Point guest cluster 0 at the L1 table (cluster 3), copied flag set:
     * a write there would overwrite metadata. */
    uint64_t size;
    const uint8_t *data = memfile_data(f, &size);
    uint64_t l1 = qcow2_be64(data + 40), l2 = qcow2_be64(data + l1) & 0x00fffffffffffe00ull;
    uint8_t e[8];
    qcow2_put64(e, l1 | (1ull << 63));
    assert_int_equal(bfile_pwrite(f, e, 8, l2), 0);
    q = open_view(f, false);
    assert_int_equal(qcow2_sync_write(q, d, 512, 0), -EIO);
    uint8_t got[512];
    assert_int_equal(qcow2_sync_read(q, got, 512, 8192), -EIO);   /* broken from now on */
    qcow2_close(q);
    data = memfile_data(f, &size);
    assert_true(qcow2_be64(data + 72) & QCOW2_INCOMPAT_CORRUPT);
    char err[512];
    struct bfile *v = memfile_view(f);
    assert_int_equal(qcow2_open(&q, v, "img", NULL, err, sizeof(err)), -1);
    bfile_close(v);
    assert_string_equal(err, "img: the image is marked corrupt (incompatible feature bit 1); repair it with "
                             "'qemu-img check -r all'");
    bfile_close(f);
}

/* An image opened with O_DIRECT (cache=none): the core's small and
 * unaligned metadata writes (header fields, 512-byte table sectors on 4
 * KiB-aligned buffers or not) are bounced; the data here is aligned, as a
 * guest's is.  In the test's folder (the build tree), whose file system
 * takes O_DIRECT. */
static void direct_io(void **state)
{
    (void)state;
    char path[] = "qcow2-direct-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct bfile *f = bfile_fd_wrap(fd, 1);
    struct qcow2_create_opts o = {.size = 8 << 20, .cluster_bits = 9, .refcount_bits = 64};
    char err[512];
    assert_int_equal(qcow2_create(f, &o, err, sizeof(err)), 0);
    bfile_close(f);
    int r = bfile_fd_open(&f, path, false, true, err, sizeof(err));
    if (r < 0) {
        unlink(path);
        fail_msg("%s", err);
    }
    struct qcow2 *q;
    assert_int_equal(qcow2_open(&q, f, path, NULL, err, sizeof(err)), 0);
    void *buf = NULL;
    assert_int_equal(posix_memalign(&buf, 4096, 64 << 10), 0);
    uint8_t *ref = calloc(1, 8 << 20);
    uint64_t s = 12345;
    for (int i = 0; i < 300; i++) {
        s = s * 6364136223846793005ull + 1;
        uint64_t off = (s >> 20) % (8 << 20) & ~511ull, len = 512 * (1 + (s >> 50) % 128);
        if (off + len > (8 << 20))
            len = (8 << 20) - off;
        memset(buf, (int)(s >> 33), len);
        assert_int_equal(qcow2_sync_write(q, buf, len, off), 0);
        memset(ref + off, (int)(s >> 33), len);
        if (i % 50 == 0)
            assert_int_equal(qcow2_flush(q), 0);
    }
    assert_int_equal(qcow2_close(q), 0);
    /* Read back buffered. */
    assert_int_equal(bfile_fd_open(&f, path, true, false, err, sizeof(err)), 0);
    struct qcow2_open_opts ro = {.read_only = true};
    assert_int_equal(qcow2_open(&q, f, path, &ro, err, sizeof(err)), 0);
    for (uint64_t off = 0; off < (8 << 20); off += 64 << 10) {
        assert_int_equal(qcow2_sync_read(q, buf, 64 << 10, off), 0);
        assert_memory_equal(buf, ref + off, 64 << 10);
    }
    struct qcow2_check_result res;
    assert_int_equal(qcow2_check(q, &res), 0);
    assert_int_equal(res.corruptions, 0);
    assert_int_equal(qcow2_close(q), 0);
    free(buf);
    free(ref);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allocation_in_flight_waits),
        cmocka_unit_test(failed_write_releases),
        cmocka_unit_test(ticket_holds_freed_cluster),
        cmocka_unit_test(threads_share_new_clusters),
        cmocka_unit_test(threads_mixed_operations),
        cmocka_unit_test(refusals),
        cmocka_unit_test(v2_backing_write_zeroes),
        cmocka_unit_test(corruption_marks_image),
        cmocka_unit_test(direct_io),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

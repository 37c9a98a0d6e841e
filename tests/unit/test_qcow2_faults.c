/* The qcow2 core where the model test does not go: a failed fdatasync in
 * the middle of a write-back, a power loss at any sync of a resize, an
 * L2 table copied onto a cluster that held another L2 table, resizes that
 * need many new refcount blocks.  Each case is checked the way a crash
 * would be: the image on "disk" opens, has no corruption (leaks are
 * allowed), and holds what was flushed. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "block/qcow2.h"
#include "block/qcow2_header.h"
#include "block/qcow2_sync.h"
#include "memfile.h"

#define COPIED (1ull << 63)

static struct bfile *new_image(uint64_t size, uint32_t cb, uint32_t refbits)
{
    struct bfile *f = memfile_new(NULL, 0, 256 << 20);
    struct qcow2_create_opts o = {.size = size, .cluster_bits = cb, .refcount_bits = refbits};
    char err[256];
    if (qcow2_create(f, &o, err, sizeof(err)) < 0)
        fail_msg("create: %s", err);
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

static uint64_t peek64(struct bfile *f, uint64_t off)
{
    uint64_t size;
    const uint8_t *d = memfile_data(f, &size);
    assert_true(off + 8 <= size);
    return qcow2_be64(d + off);
}

static void poke64(struct bfile *f, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    qcow2_put64(b, v);
    assert_int_equal(bfile_pwrite(f, b, 8, off), 0);
}

/* Opens the image in f read-only and counts what `qemu-img check` would. */
static void expect_consistent(struct bfile *f, const char *when)
{
    struct qcow2 *q = open_view(f, true);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    if (r.corruptions)
        fail_msg("%s: %llu corruptions, the first: %s", when, (unsigned long long)r.corruptions, r.first);
    assert_int_equal(qcow2_close(q), 0);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* An L2 table whose L1 entry lacks the copied flag is copied on write,
 * and the old one freed when its refcount was 1 (an image whose flags
 * another tool left wrong: qemu-img check reports OFLAG_COPIED errors,
 * QEMU itself copies).  The next such copy may land on the freed
 * table's cluster: its cached slices must not stand for the new table,
 * and the cluster is no longer metadata. */
static void cow_onto_freed_l2_table(void **state)
{
    (void)state;
    const uint64_t cs = 4096, table = 2 << 20;   /* one L2 table maps 2 MiB */
    struct bfile *f = new_image(8 << 20, 12, 16);
    struct qcow2 *q = open_view(f, false);
    uint8_t a[4096], b[4096], c[4096], got[4096];
    fill(a, cs, 1);
    fill(b, cs, 2);
    fill(c, cs, 3);
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_sync_write(q, b, cs, table), 0);
    assert_int_equal(qcow2_close(q), 0);
    uint64_t l1 = peek64(f, 40);
    poke64(f, l1, peek64(f, l1) & ~COPIED);
    poke64(f, l1 + 8, peek64(f, l1 + 8) & ~COPIED);
    uint64_t t0 = peek64(f, l1) & 0x00fffffffffffe00ull;

    q = open_view(f, false);
    assert_int_equal(qcow2_sync_read(q, got, cs, 0), 0);           /* table 0 in the cache */
    assert_memory_equal(got, a, cs);
    assert_int_equal(qcow2_sync_write(q, c, cs, cs), 0);           /* copies table 0 */
    assert_int_equal(qcow2_flush(q), 0);                           /* the old table 0 is free */
    assert_int_equal(qcow2_sync_read(q, got, cs, table), 0);
    assert_memory_equal(got, b, cs);
    assert_int_equal(qcow2_sync_write(q, c, cs, table + cs), 0);   /* copies table 1 */
    assert_int_equal(qcow2_sync_read(q, got, cs, table), 0);
    assert_memory_equal(got, b, cs);
    assert_int_equal(qcow2_sync_read(q, got, cs, table + cs), 0);
    assert_memory_equal(got, c, cs);
    assert_int_equal(qcow2_sync_read(q, got, cs, 0), 0);
    assert_memory_equal(got, a, cs);
    assert_int_equal(qcow2_close(q), 0);
    /* The new table 1 went where table 0 was. */
    assert_int_equal(peek64(f, l1 + 8) & 0x00fffffffffffe00ull, t0);
    expect_consistent(f, "after the copies");
    q = open_view(f, true);
    assert_int_equal(qcow2_sync_read(q, got, cs, table), 0);
    assert_memory_equal(got, b, cs);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

/* 512-byte clusters with 64-bit refcounts: a refcount block covers 64
 * clusters, so the L1 table of a 1 GiB disk (512 clusters) spans ranges
 * that have no refcount block yet. */
static void grow_across_refcount_ranges(void **state)
{
    (void)state;
    struct bfile *f = new_image(1 << 20, 9, 64);
    struct qcow2 *q = open_view(f, false);
    char err[512] = "";
    if (qcow2_grow(q, 1 << 30, err, sizeof(err)) < 0)
        fail_msg("grow: %s", err);
    uint8_t d[4096], got[4096];
    fill(d, sizeof(d), 9);
    assert_int_equal(qcow2_sync_write(q, d, sizeof(d), (1 << 30) - sizeof(d)), 0);
    assert_int_equal(qcow2_close(q), 0);
    expect_consistent(f, "after the resize");
    q = open_view(f, true);
    assert_int_equal(qcow2_size(q), 1 << 30);
    assert_int_equal(qcow2_sync_read(q, got, sizeof(got), (1 << 30) - sizeof(got)), 0);
    assert_memory_equal(got, d, sizeof(d));
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    assert_int_equal(r.leaks, 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

struct crashes {
    unsigned tried;
    char first[512];
};

/* A power loss at this sync, 8 ways. */
static void crash_hook(void *ctx, struct bfile *f)
{
    struct crashes *c = ctx;
    for (uint64_t seed = 0; seed < 8; seed++) {
        struct bfile *x = memfile_crash(f, seed + 100 * c->tried);
        struct qcow2 *q;
        char err[256];
        struct qcow2_open_opts o = {.read_only = true};
        c->tried++;
        if (qcow2_open(&q, x, "crashed", &o, err, sizeof(err)) < 0) {
            if (!c->first[0])
                snprintf(c->first, sizeof(c->first), "does not open: %s", err);
            bfile_close(x);
            continue;
        }
        struct qcow2_check_result r;
        if (qcow2_check(q, &r) < 0 || r.corruptions) {
            if (!c->first[0])
                snprintf(c->first, sizeof(c->first), "corrupt: %s", r.first);
        }
        qcow2_close(q);
    }
}

/* A resize whose new L1 table needs a new refcount block (512-byte
 * clusters, 16-bit refcounts: a block covers 256 clusters), with a power
 * loss simulated at every sync of it and of the close after it. */
static void grow_power_loss(void **state)
{
    (void)state;
    uint8_t *d = malloc(258 * 512);
    fill(d, 258 * 512, 4);
    /* Images filled to just below, at and past a block's range, so the
     * new table lands across the boundary in some of them. */
    for (unsigned k = 230; k < 258; k++) {
        struct bfile *f = new_image(4 << 20, 9, 16);
        struct qcow2 *q = open_view(f, false);
        assert_int_equal(qcow2_sync_write(q, d, (uint64_t)k * 512, 0), 0);
        assert_int_equal(qcow2_close(q), 0);
        struct crashes c = {0};
        memfile_journal(f, true);
        memfile_sync_hook(f, crash_hook, &c);
        q = open_view(f, false);
        char err[512];
        if (qcow2_grow(q, 16 << 20, err, sizeof(err)) < 0)
            fail_msg("grow: %s", err);
        crash_hook(&c, f);   /* killed before the close */
        assert_int_equal(qcow2_close(q), 0);
        memfile_sync_hook(f, NULL, NULL);
        memfile_journal(f, false);
        if (c.first[0])
            fail_msg("%u clusters written, then a resize: a power loss leaves the image %s", k, c.first);
        assert_true(c.tried > 8);
        expect_consistent(f, "after the resize");
        bfile_close(f);
    }
    free(d);
}

/* An fdatasync that fails may have lost what was written since the last
 * one (Linux marks the pages clean anyway): nothing written afterwards
 * may rely on it, so the image takes no more writes. */
static void lost_sync_stops_writes(void **state)
{
    (void)state;
    const uint64_t cs = 4096;
    struct bfile *f = new_image(1 << 20, 12, 16);
    struct qcow2 *q = open_view(f, false);
    uint8_t a[4096], b[4096], got[4096];
    fill(a, cs, 5);
    fill(b, cs, 6);
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_flush(q), 0);
    memfile_journal(f, true);
    assert_int_equal(qcow2_sync_write(q, b, cs, 16 * cs), 0);   /* a new cluster: refcount, L2 entry */
    memfile_lose_next_sync(f);
    assert_int_equal(qcow2_flush(q), -EIO);
    /* The retry must not write the L2 entry over a lost refcount. */
    assert_int_equal(qcow2_flush(q), -EIO);
    assert_int_equal(qcow2_sync_write(q, b, cs, 32 * cs), -EIO);
    qcow2_close(q);
    memfile_journal(f, false);
    expect_consistent(f, "after the lost sync");
    q = open_view(f, true);
    assert_int_equal(qcow2_sync_read(q, got, cs, 0), 0);
    assert_memory_equal(got, a, cs);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

/* A guest FLUSH whose fdatasync runs outside the image's lock (the block
 * device's asynchronous one): once it reports back, the next flush needs
 * no fdatasync, unless a write completed after the write-back it
 * followed; one runs at a time (a second FLUSH waits for it); and a
 * failed one breaks the image as a failed q2_sync does. */
struct flush_waiter {
    struct qcow2_wait w;
    int woken;
};

static void on_flush_wake(struct qcow2_wait *w)
{
    ((struct flush_waiter *)w)->woken++;
}

static void async_flush_generations(void **state)
{
    (void)state;
    const uint64_t cs = 4096;
    struct bfile *f = new_image(1 << 20, 12, 16);
    struct qcow2 *q = open_view(f, false);
    uint8_t a[4096];
    fill(a, cs, 7);
    uint64_t gen = 0, gen2 = 0;
    struct flush_waiter fw = {.w = {.wake = on_flush_wake}};
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_flush(q), 0);
    /* In place: data only, which the write-back's own barriers do not
     * cover. */
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_writeback(q, &gen, &fw.w), 0);
    assert_int_not_equal(gen, 0);
    /* A second FLUSH while that fdatasync runs waits for its end, and
     * then has nothing left to sync. */
    assert_int_equal(qcow2_writeback(q, &gen2, &fw.w), -EAGAIN);
    assert_int_equal(fw.woken, 0);
    assert_int_equal(qcow2_synced(q, gen, bfile_sync(f)), 0);
    assert_int_equal(fw.woken, 1);
    uint64_t syncs = memfile_syncs(f);
    assert_int_equal(qcow2_writeback(q, &gen2, &fw.w), 0);
    assert_int_equal(gen2, 0);
    assert_int_equal(qcow2_flush(q), 0);
    assert_int_equal(memfile_syncs(f), syncs);

    /* A write that completes while the fdatasync runs stays unsynced. */
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_writeback(q, &gen, &fw.w), 0);
    assert_int_not_equal(gen, 0);
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), 0);
    assert_int_equal(qcow2_synced(q, gen, bfile_sync(f)), 0);
    assert_int_equal(qcow2_writeback(q, &gen2, &fw.w), 0);
    assert_true(gen2 > gen);

    /* It fails: the FLUSH waiting for it learns so when it calls again. */
    assert_int_equal(qcow2_writeback(q, &gen, &fw.w), -EAGAIN);
    assert_int_equal(qcow2_synced(q, gen2, -EIO), -EIO);
    assert_int_equal(fw.woken, 2);
    assert_int_equal(qcow2_writeback(q, &gen, &fw.w), -EIO);
    /* A success reported for an fdatasync that overlapped the failed one
     * (Linux tells only one of them) is no success. */
    assert_int_equal(qcow2_synced(q, gen2, 0), -EIO);
    assert_int_equal(qcow2_sync_write(q, a, cs, 0), -EIO);
    assert_int_equal(qcow2_flush(q), -EIO);
    qcow2_close(q);
    expect_consistent(f, "after the failed asynchronous sync");
    bfile_close(f);
}

/* A file that cannot grow: allocations fail with ENOSPC, and the clusters
 * reserved before the failure are released (they leaked at every try). */
static void enospc_releases_clusters(void **state)
{
    (void)state;
    struct bfile *big = new_image(1 << 20, 12, 16);
    uint64_t size;
    const uint8_t *d = memfile_data(big, &size);
    struct bfile *f = memfile_new(d, size, size);
    bfile_close(big);
    struct qcow2 *q = open_view(f, false);
    uint8_t buf[8192];
    memset(buf, 7, sizeof(buf));
    for (int i = 0; i < 3; i++)
        assert_int_equal(qcow2_sync_write(q, buf, sizeof(buf), (uint64_t)i << 16), -ENOSPC);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    assert_int_equal(r.corruptions, 0);
    assert_int_equal(r.leaks, 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cow_onto_freed_l2_table),
        cmocka_unit_test(grow_across_refcount_ranges),
        cmocka_unit_test(grow_power_loss),
        cmocka_unit_test(lost_sync_stops_writes),
        cmocka_unit_test(async_flush_generations),
        cmocka_unit_test(enospc_releases_clusters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

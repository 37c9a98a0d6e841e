/* The qcow2 core against a flat reference buffer: thousands of random
 * reads, writes, write-zeroes, discards, flushes and reopenings, for
 * cluster sizes of 512 B, 4 KiB, 64 KiB and 2 MiB, with no backing file, a
 * raw one and a qcow2 one, version 2 and 3, narrow and wide refcounts,
 * and L2 caches so small that slices are evicted all the time.
 *
 * Power losses are simulated along the way: the image file in memory
 * keeps what was written since its last fdatasync, and a crash keeps any
 * subset of those writes, torn at 512-byte sectors.  The crashed image
 * must open, have no corruption (leaked clusters are allowed), and hold
 * every byte written before the last completed flush.  Some crashed
 * images are adopted and written on.
 *
 * At the end the image and its backing file are written to a folder and
 * `qemu-img check` must be clean (leaks only after adopted crashes) and
 * `qemu-img compare` must find the disk equal to the reference. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "block/qcow2.h"
#include "block/qcow2_sync.h"
#include "memfile.h"

#define MAX_FILE (512ull << 20)

/* Sanitizers make it 3 times slower: half the operations there. */
#if defined(__SANITIZE_ADDRESS__)
#define OPS(n) ((n) / 2)
#else
#define OPS(n) (n)
#endif

struct cfg {
    uint32_t cb;             /* cluster bits */
    uint64_t size;           /* virtual size */
    int backing;             /* 0 none, 1 raw, 2 qcow2 */
    uint32_t version;
    uint32_t refbits;
    bool tiny_cache;
    bool snapshot;           /* made by qemu-img, with data and an internal snapshot */
    unsigned ops;
    uint64_t seed;
};

struct model {
    const struct cfg *c;
    struct bfile *top;           /* the image file (memory) */
    struct bfile *base;          /* the backing file (memory), or NULL */
    uint8_t *bref;               /* the backing file's disk content (size bytes, zeroes past it) */
    struct qcow2 *q;
    uint8_t *ref, *stable;       /* the disk now; at the last completed flush */
    uint8_t *dirty;              /* bytes written since that flush (bitmap) */
    uint64_t rng;
    bool leaks_ok;
    unsigned crashes, sync_crashes, qemu_checks;
    unsigned sync_every;         /* a power loss at one sync in this many (up to 60) */
    uint8_t *snap;               /* the disk when the internal snapshot was taken */
};

static uint64_t q2min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t rnd(struct model *m)
{
    m->rng ^= m->rng << 13;
    m->rng ^= m->rng >> 7;
    m->rng ^= m->rng << 17;
    return m->rng;
}

static void fill(struct model *m, uint8_t *p, uint64_t len)
{
    uint64_t x = rnd(m);
    for (uint64_t i = 0; i < len; i++) {
        if (!(i & 7))
            x = x * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (uint8_t)(x >> (8 * (i & 7)));
    }
}

static void mark(struct model *m, uint64_t off, uint64_t len)
{
    for (uint64_t i = off; i < off + len; i++)
        m->dirty[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static int base_open(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    struct model *m = ctx;
    if (!m->base || strcmp(path, "m/base.img")) {
        snprintf(err, errlen, "%s: no such file", path);
        return -1;
    }
    *out = memfile_view(m->base);
    return 0;
}

static struct qcow2 *open_top(struct model *m, struct bfile *f)
{
    static struct qcow2_opener op;
    op = (struct qcow2_opener){base_open, m};
    struct qcow2_open_opts o = {.opener = &op};
    if (m->c->tiny_cache)
        o.l2_cache_bytes = 1;   /* the minimum: 16 slices */
    struct qcow2 *q;
    char err[512];
    if (qcow2_open(&q, memfile_view(f), "m/top.img", &o, err, sizeof(err)) < 0)
        fail_msg("open (after %u power losses between operations, %u at syncs): %s", m->crashes, m->sync_crashes,
                 err);
    return q;
}

static void make_backing(struct model *m)
{
    const struct cfg *c = m->c;
    uint64_t bsize = c->size / 4 * 3;   /* shorter than the disk: zeroes past it */
    uint8_t *data = malloc(bsize);
    fill(m, data, bsize);
    memset(data + bsize / 3, 0, bsize / 6);   /* a hole in the middle */
    memcpy(m->bref, data, bsize);
    if (c->backing == 1) {
        m->base = memfile_new(data, bsize, bsize);
    } else {
        m->base = memfile_new(NULL, 0, MAX_FILE);
        struct qcow2_create_opts o = {.size = bsize, .cluster_bits = c->cb == 16 ? 12 : 16};
        char err[256];
        assert_int_equal(qcow2_create(m->base, &o, err, sizeof(err)), 0);
        struct qcow2 *b;
        assert_int_equal(qcow2_open(&b, memfile_view(m->base), "m/base.img", NULL, err, sizeof(err)), 0);
        /* Allocated where written; the zero hole left unallocated. */
        assert_int_equal(qcow2_sync_write(b, data, bsize / 3, 0), 0);
        assert_int_equal(qcow2_sync_write(b, data + bsize / 2, bsize - bsize / 2, bsize / 2), 0);
        assert_int_equal(qcow2_close(b), 0);
    }
    free(data);
}

/* What a power loss now could leave: it opens, has no corruption, and
 * holds every byte written before the last completed flush.  Returns the
 * crashed image open, with its disk content in *got. */
static struct qcow2 *crash_check(struct model *m, struct bfile *c, uint8_t **got_out)
{
    struct qcow2 *q = open_top(m, c);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    if (r.corruptions)
        fail_msg("crash %u: corrupt: %s", m->crashes, r.first);
    uint64_t size = m->c->size;
    uint8_t *got = malloc(size);
    assert_int_equal(qcow2_sync_read(q, got, size, 0), 0);
    /* 4 KiB at a time (512 bytes of bitmap): untouched ones by memcmp. */
    static const uint8_t clean[512];
    for (uint64_t b = 0; b < size; b += 4096) {
        uint64_t n = q2min(4096, size - b);
        if (!memcmp(m->dirty + b / 8, clean, (n + 7) / 8)) {
            if (!memcmp(got + b, m->stable + b, n))
                continue;
        }
        for (uint64_t i = b; i < b + n; i++) {
            if (m->dirty[i >> 3] & (1u << (i & 7)))
                continue;
            if (got[i] != m->stable[i])
                fail_msg("crash %u: byte %llu flushed as %u reads %u", m->crashes, (unsigned long long)i,
                         m->stable[i], got[i]);
        }
    }
    *got_out = got;
    return q;
}

/* A power loss at a sync, i.e. in the middle of an operation or a
 * write-back: checked, not adopted. */
static void sync_crash(void *ctx, struct bfile *f)
{
    struct model *m = ctx;
    if (m->sync_crashes >= 60 || rnd(m) % m->sync_every)
        return;
    struct bfile *c = memfile_crash(f, rnd(m));
    assert_non_null(c);
    uint8_t *got;
    struct qcow2 *q = crash_check(m, c, &got);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(c);
    free(got);
    m->sync_crashes++;
}

/* A power loss between operations; adopted sometimes. */
static void crash(struct model *m)
{
    struct bfile *c = memfile_crash(m->top, rnd(m));
    assert_non_null(c);
    uint8_t *got;
    struct qcow2 *q = crash_check(m, c, &got);
    uint64_t size = m->c->size;
    m->crashes++;
    if (rnd(m) % 2) {
        /* Go on from the crashed image, as a restarted VM would. */
        assert_int_equal(qcow2_close(m->q), 0);
        bfile_close(m->top);
        m->q = q;
        m->top = c;
        memfile_journal(c, true);
        memfile_sync_hook(c, sync_crash, m);
        memcpy(m->ref, got, size);
        memcpy(m->stable, got, size);
        memset(m->dirty, 0, (size + 7) / 8);
        m->leaks_ok = true;
    } else {
        assert_int_equal(qcow2_close(q), 0);
        bfile_close(c);
    }
    free(got);
}

static void discard_ref(struct model *m, uint64_t off, uint64_t len)
{
    uint64_t cs = 1ull << m->c->cb, end = off + len;
    uint64_t a = (off + cs - 1) & ~(cs - 1), b = end == m->c->size ? end : end & ~(cs - 1);
    if (b <= a)
        return;
    if (m->c->version == 2 && m->base)
        memcpy(m->ref + a, m->bref + a, b - a);
    else
        memset(m->ref + a, 0, b - a);
    mark(m, a, b - a);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

static struct bfile *load(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)n);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    struct bfile *b = memfile_new(d, (uint64_t)n, MAX_FILE);
    free(d);
    return b;
}

/* An image QEMU made: data written with qemu-io, then an internal
 * snapshot, so this image's writes must copy shared clusters and shared
 * L2 tables, never overwrite them. */
static struct bfile *qemu_snapshot_image(struct model *m)
{
    const struct cfg *c = m->c;
    char dir[] = "/tmp/vireo-q2snap-XXXXXX";
    assert_non_null(mkdtemp(dir));
    uint64_t h = c->size / 2, q = c->size / 8;
    if (sh("qemu-img create -q -f qcow2 -o cluster_size=%llu %s/s.img %llu && "
           "qemu-io -c 'write -P 0x5a 0 %llu' -c 'write -P 0xa5 %llu %llu' %s/s.img >/dev/null && "
           "qemu-img snapshot -c s1 %s/s.img",
           1ull << c->cb, dir, (unsigned long long)c->size, (unsigned long long)h, (unsigned long long)(6 * q),
           (unsigned long long)q, dir, dir))
        fail_msg("qemu-img could not make the snapshot image");
    memset(m->ref, 0x5a, h);
    memset(m->ref + 6 * q, 0xa5, q);
    m->snap = malloc(c->size);
    memcpy(m->snap, m->ref, c->size);
    char p[128];
    snprintf(p, sizeof(p), "%s/s.img", dir);
    struct bfile *b = load(p);
    sh("rm -rf %s", dir);
    return b;
}

/* The reference implementation's verdict on the image as it is now. */
static void qemu_verify(struct model *m, bool compare)
{
    char dir[] = "/tmp/vireo-q2model-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof(p), "%s/top.img", dir);
    assert_int_equal(memfile_save(m->top, p), 0);
    if (m->base) {
        snprintf(p, sizeof(p), "%s/base.img", dir);
        assert_int_equal(memfile_save(m->base, p), 0);
    }
    /* 0: clean; 3: leaked clusters only. */
    int st = sh("qemu-img check -q %s/top.img >%s/check.txt 2>&1", dir, dir);
    if (st != 0 && !(st == 3 && m->leaks_ok)) {
        sh("cat %s/check.txt >&2", dir);
        fail_msg("qemu-img check: exit %d", st);
    }
    if (compare) {
        snprintf(p, sizeof(p), "%s/ref.raw", dir);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(m->ref, 1, m->c->size, f), m->c->size);
        fclose(f);
        st = sh("qemu-img compare -q -f qcow2 -F raw %s/top.img %s/ref.raw", dir, dir);
        if (st)
            fail_msg("qemu-img compare: exit %d (0 is identical)", st);
    }
    if (m->snap) {
        /* The snapshot still holds what it held. */
        snprintf(p, sizeof(p), "%s/snap.raw", dir);
        FILE *f = fopen(p, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(m->snap, 1, m->c->size, f), m->c->size);
        fclose(f);
        st = sh("qemu-img convert -l snapshot.name=s1 -O raw %s/top.img %s/snap-now.raw && "
                "cmp -s %s/snap.raw %s/snap-now.raw", dir, dir, dir, dir);
        if (st)
            fail_msg("the internal snapshot changed");
    }
    sh("rm -rf %s", dir);
    m->qemu_checks++;
}

static void run(const struct cfg *c)
{
    struct model M = {.c = c, .rng = c->seed * 0x9e3779b97f4a7c15ull + 11}, *m = &M;
    uint64_t size = c->size, cs = 1ull << c->cb;
    m->ref = calloc(1, size);
    m->stable = calloc(1, size);
    m->bref = calloc(1, size);
    m->dirty = calloc(1, (size + 7) / 8);
    if (c->backing)
        make_backing(m);
    memcpy(m->ref, m->bref, size);
    if (c->snapshot) {
        m->top = qemu_snapshot_image(m);
    } else {
        m->top = memfile_new(NULL, 0, MAX_FILE);
        struct qcow2_create_opts co = {.size = size, .cluster_bits = c->cb, .version = c->version,
                                       .refcount_bits = c->refbits, .backing = c->backing ? "base.img" : NULL,
                                       .backing_fmt = c->backing == 1 ? "raw" : "qcow2"};
        char err[256];
        assert_int_equal(qcow2_create(m->top, &co, err, sizeof(err)), 0);
    }
    memcpy(m->stable, m->ref, size);
    memfile_journal(m->top, true);
    /* A power loss at one sync in 6, up to 60 per case. */
    m->sync_every = 6;
    memfile_sync_hook(m->top, sync_crash, m);
    m->q = open_top(m, m->top);

    uint64_t maxlen = q2min(3 * cs, 256u << 10), biglen = 256u << 10;
    uint8_t *buf = malloc(biglen), *got = malloc(biglen);
    for (unsigned i = 0; i < OPS(c->ops); i++) {
        unsigned op = (unsigned)(rnd(m) % 1000);
        uint64_t len = 1 + rnd(m) % maxlen;
        if (rnd(m) % 4)
            len = (len + 511) & ~511ull;
        if (rnd(m) % 8 == 0)
            len = q2min(cs, maxlen);   /* whole clusters now and then */
        if (rnd(m) % 16 == 0)
            len = 1 + rnd(m) % biglen;   /* long runs of new clusters */
        len = len > size ? size : len;
        uint64_t off = rnd(m) % (size - len + 1);
        if (rnd(m) % 4)
            off &= ~511ull;
        if (rnd(m) % 8 == 0)
            off &= ~(cs - 1);
        if (op < 520) {
            fill(m, buf, len);
            mark(m, off, len);
            int r = qcow2_sync_write(m->q, buf, len, off);
            if (r)
                fail_msg("op %u: write %llu+%llu: %d", i, (unsigned long long)off, (unsigned long long)len, r);
            memcpy(m->ref + off, buf, len);
        } else if (op < 620) {
            mark(m, off, len);
            assert_int_equal(qcow2_sync_write_zeroes(m->q, off, len), 0);
            memset(m->ref + off, 0, len);
        } else if (op < 740) {
            mark(m, off, len);
            assert_int_equal(qcow2_sync_discard(m->q, off, len), 0);
            discard_ref(m, off, len);
        } else if (op < 920) {
            assert_int_equal(qcow2_sync_read(m->q, got, len, off), 0);
            if (memcmp(got, m->ref + off, len))
                fail_msg("op %u: read %llu+%llu differs from the reference", i, (unsigned long long)off,
                         (unsigned long long)len);
        } else if (op < 970) {
            assert_int_equal(qcow2_flush(m->q), 0);
            memcpy(m->stable, m->ref, size);
            memset(m->dirty, 0, (size + 7) / 8);
        } else if (op < 994) {
            assert_int_equal(qcow2_close(m->q), 0);
            m->q = open_top(m, m->top);
            /* close made everything stable */
            memcpy(m->stable, m->ref, size);
            memset(m->dirty, 0, (size + 7) / 8);
        } else {
            crash(m);
        }
    }
    /* Everything reads back, nothing leaks (a flush applies every
     * deferred free), and the reference implementation agrees. */
    assert_int_equal(qcow2_flush(m->q), 0);
    for (uint64_t off = 0; off < size; off += maxlen) {
        uint64_t n = q2min(maxlen, size - off);
        assert_int_equal(qcow2_sync_read(m->q, got, n, off), 0);
        if (memcmp(got, m->ref + off, n))
            fail_msg("final read at %llu differs", (unsigned long long)off);
    }
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(m->q, &r), 0);
    if (r.corruptions)
        fail_msg("corrupt: %s", r.first);
    if (r.leaks && !m->leaks_ok)
        fail_msg("%llu leaked clusters without a crash", (unsigned long long)r.leaks);
    assert_int_equal(qcow2_close(m->q), 0);
    qemu_verify(m, true);
    uint64_t fsize;
    memfile_data(m->top, &fsize);
    print_message("cluster %llu, backing %d, v%u, %u-bit refcounts%s%s: %u ops, power losses: %u between "
                  "operations, %u at syncs; file %llu bytes\n",
                  (unsigned long long)cs, c->backing, c->version, c->refbits, c->tiny_cache ? ", tiny L2 cache" : "",
                  c->snapshot ? ", internal snapshot" : "", OPS(c->ops), m->crashes, m->sync_crashes, (unsigned long long)fsize);
    bfile_close(m->top);
    bfile_close(m->base);
    free(m->ref);
    free(m->stable);
    free(m->bref);
    free(m->dirty);
    free(m->snap);
    free(buf);
    free(got);
}

static void qemu_img_present(void **state)
{
    (void)state;
    if (sh("qemu-img --version >/dev/null 2>&1"))
        fail_msg("qemu-img is needed (Debian qemu-utils; scripts/install-deps.sh test)");
}

#define CASE(name, ...) \
    static void name(void **state) \
    { \
        (void)state; \
        static const struct cfg c = {__VA_ARGS__}; \
        run(&c); \
    }

CASE(c512, .cb = 9, .size = 4 << 20, .version = 3, .refbits = 64, .ops = 6000, .seed = 1)
CASE(c512_raw, .cb = 9, .size = 4 << 20, .backing = 1, .version = 3, .refbits = 16, .ops = 5000, .seed = 2)
CASE(c512_qcow2_tiny, .cb = 9, .size = 4 << 20, .backing = 2, .version = 3, .refbits = 16, .tiny_cache = true,
     .ops = 5000, .seed = 3)
CASE(c512_big, .cb = 9, .size = 32 << 20, .version = 3, .refbits = 64, .ops = 6000, .seed = 13)
CASE(c4k, .cb = 12, .size = 16 << 20, .version = 3, .refbits = 16, .ops = 5000, .seed = 4)
CASE(c4k_raw_v2, .cb = 12, .size = 16 << 20, .backing = 1, .version = 2, .refbits = 16, .ops = 5000, .seed = 5)
CASE(c4k_qcow2_tiny, .cb = 12, .size = 16 << 20, .backing = 2, .version = 3, .refbits = 16, .tiny_cache = true,
     .ops = 5000, .seed = 6)
CASE(c4k_snapshot, .cb = 12, .size = 16 << 20, .version = 3, .refbits = 16, .snapshot = true, .ops = 5000,
     .seed = 14)
CASE(c64k, .cb = 16, .size = 32 << 20, .version = 3, .refbits = 16, .ops = 4000, .seed = 7)
CASE(c64k_raw, .cb = 16, .size = 32 << 20, .backing = 1, .version = 3, .refbits = 1, .ops = 4000, .seed = 8)
CASE(c64k_qcow2_v2, .cb = 16, .size = 32 << 20, .backing = 2, .version = 2, .refbits = 16, .ops = 4000, .seed = 9)
CASE(c64k_snapshot_tiny, .cb = 16, .size = 32 << 20, .version = 3, .refbits = 16, .snapshot = true,
     .tiny_cache = true, .ops = 4000, .seed = 15)
CASE(c2m, .cb = 21, .size = 64 << 20, .version = 3, .refbits = 64, .ops = 1500, .seed = 10)
CASE(c2m_raw, .cb = 21, .size = 64 << 20, .backing = 1, .version = 3, .refbits = 16, .ops = 1500, .seed = 11)
CASE(c2m_qcow2, .cb = 21, .size = 64 << 20, .backing = 2, .version = 3, .refbits = 16, .tiny_cache = true,
     .ops = 1500, .seed = 12)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(qemu_img_present),
        cmocka_unit_test(c512), cmocka_unit_test(c512_raw), cmocka_unit_test(c512_qcow2_tiny),
        cmocka_unit_test(c512_big),
        cmocka_unit_test(c4k), cmocka_unit_test(c4k_raw_v2), cmocka_unit_test(c4k_qcow2_tiny),
        cmocka_unit_test(c4k_snapshot),
        cmocka_unit_test(c64k), cmocka_unit_test(c64k_raw), cmocka_unit_test(c64k_qcow2_v2),
        cmocka_unit_test(c64k_snapshot_tiny),
        cmocka_unit_test(c2m), cmocka_unit_test(c2m_raw), cmocka_unit_test(c2m_qcow2),
    };
    /* QCOW2_MODEL=c2m runs one case (debugging). */
    if (getenv("QCOW2_MODEL"))
        cmocka_set_test_filter(getenv("QCOW2_MODEL"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}

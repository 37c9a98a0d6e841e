/* qcow2 header and table validation against hostile images: every field
 * that could send the core outside the file, wrap an offset, allocate
 * without bound or hide an unsupported feature is refused with its own
 * message (the exact wording is checked: users read these).  Tables and
 * backing chains are checked through qcow2_open on files in memory. */
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

#define CS 65536u

/* A valid version 3 header: 64 KiB clusters, 1 GiB, reftable at cluster
 * 1, L1 at cluster 3. */
static struct qcow2_header base(void)
{
    struct qcow2_header h = {0};
    h.version = 3;
    h.cluster_bits = 16;
    h.size = 1ull << 30;
    h.l1_size = 2;
    h.l1_offset = 3 * CS;
    h.reftable_offset = CS;
    h.reftable_clusters = 1;
    h.refcount_order = 4;
    h.header_length = 104;
    return h;
}

static uint8_t buf[CS];

static void encode(const struct qcow2_header *h)
{
    memset(buf, 0, sizeof(buf));
    qcow2_header_encode(h, buf);
}

static int parse(uint64_t fsize, struct qcow2_header *out, char *err)
{
    size_t need;
    return qcow2_header_parse(buf, sizeof(buf), fsize, out, &need, err, 512);
}

static void expect_err(uint64_t fsize, const char *want)
{
    struct qcow2_header h;
    char err[512] = "";
    if (parse(fsize, &h, err) != -1)
        fail_msg("accepted; expected: %s", want);
    assert_string_equal(err, want);
}

#define FSIZE (16ull * CS)

static void valid_headers(void **state)
{
    (void)state;
    struct qcow2_header h = base(), out;
    char err[512];
    encode(&h);
    assert_int_equal(parse(FSIZE, &out, err), 0);
    assert_int_equal(out.cluster_bits, 16);
    assert_int_equal(out.size, 1ull << 30);
    assert_false(out.has_backing);
    h.version = 2;
    encode(&h);
    assert_int_equal(parse(FSIZE, &out, err), 0);
    assert_int_equal(out.header_length, 72);
    assert_int_equal(out.refcount_order, 4);
}

static void first_cluster_size(void **state)
{
    (void)state;
    struct qcow2_header h = base(), out;
    h.cluster_bits = 21;
    h.l1_offset = 3ull << 21;
    h.reftable_offset = 1ull << 21;
    encode(&h);
    size_t need = 0;
    char err[512];
    assert_int_equal(qcow2_header_parse(buf, 4096, 16ull << 21, &out, &need, err, sizeof(err)), 1);
    assert_int_equal(need, 2u << 20);
}

static void bad_basics(void **state)
{
    (void)state;
    struct qcow2_header h = base();
    encode(&h);
    expect_err(50, "50 bytes: too small for a qcow2 header");
    buf[0] = 'X';
    expect_err(FSIZE, "not a qcow2 image (no QFI\\xfb magic)");
    h.version = 1;
    encode(&h);
    expect_err(FSIZE, "qcow2 version 1 is not supported (2 and 3 are)");
    h = base();
    h.cluster_bits = 8;
    encode(&h);
    expect_err(FSIZE, "cluster_bits 8: the cluster size must be 512 B to 2 MiB (cluster_bits 9 to 21)");
    h.cluster_bits = 0xffffffffu;
    encode(&h);
    expect_err(FSIZE, "cluster_bits 4294967295: the cluster size must be 512 B to 2 MiB (cluster_bits 9 to 21)");
    h = base();
    h.header_length = 100;
    encode(&h);
    expect_err(FSIZE, "header_length 100: a version 3 header is 104 bytes or more, a multiple of 8, within the "
                      "first cluster");
    h.header_length = 106;
    encode(&h);
    expect_err(FSIZE, "header_length 106: a version 3 header is 104 bytes or more, a multiple of 8, within the "
                      "first cluster");
    h.header_length = CS + 8;
    encode(&h);
    expect_err(FSIZE, "header_length 65544: a version 3 header is 104 bytes or more, a multiple of 8, within the "
                      "first cluster");
    h = base();
    h.refcount_order = 7;
    encode(&h);
    expect_err(FSIZE, "refcount_order 7: refcounts are 1 to 64 bits wide (order 0 to 6)");
}

static void bad_backing_and_extensions(void **state)
{
    (void)state;
    struct qcow2_header h = base(), out;
    char err[512];
    h.backing_offset = 200;
    h.backing_len = 2000;
    encode(&h);
    expect_err(FSIZE, "backing file name of 2000 bytes is longer than 1023");
    h.backing_offset = CS - 10;
    h.backing_len = 20;
    encode(&h);
    expect_err(FSIZE, "backing file name at byte 65526 (20 bytes) is not in the header cluster after the header");
    h.backing_offset = 0xffffffffffffff00ull;
    encode(&h);
    expect_err(FSIZE, "backing file name at byte 18446744073709551360 (20 bytes) is not in the header cluster "
                      "after the header");
    h.backing_offset = 50;
    encode(&h);
    expect_err(FSIZE, "backing file name at byte 50 (20 bytes) is not in the header cluster after the header");
    h.backing_offset = 200;
    h.backing_len = 4;
    encode(&h);
    memcpy(buf + 200, "a\0bc", 4);
    expect_err(FSIZE, "backing file name contains a NUL byte");
    memcpy(buf + 200, "base", 4);
    assert_int_equal(parse(FSIZE, &out, err), 0);
    assert_string_equal(out.backing, "base");
    assert_false(out.has_backing_fmt);
    /* An extension whose length runs past the backing name. */
    qcow2_put32(buf + 104, QCOW2_EXT_BACKING_FMT);
    qcow2_put32(buf + 108, 0xfffffff0u);
    expect_err(FSIZE, "header extension 0xe2792aca at byte 104: its 4294967280 bytes run past the end of the "
                      "header area (byte 200)");
    qcow2_put32(buf + 108, 20);
    expect_err(FSIZE, "backing format name of 20 bytes is too long");
    qcow2_put32(buf + 108, 5);
    memcpy(buf + 112, "qcow2", 5);
    assert_int_equal(parse(FSIZE, &out, err), 0);
    assert_string_equal(out.backing_fmt, "qcow2");
    /* Many extensions, each with a length of 0: stops at the area's end. */
    for (unsigned o = 104; o + 8 <= 200; o += 8) {
        qcow2_put32(buf + o, 0x12345678u);
        qcow2_put32(buf + o + 4, 0);
    }
    assert_int_equal(parse(FSIZE, &out, err), 0);
}

static void bad_l1(void **state)
{
    (void)state;
    struct qcow2_header h = base();
    h.l1_offset = 3 * CS + 8;
    encode(&h);
    expect_err(FSIZE, "L1 table offset 0x30008 is not aligned to the cluster size (65536)");
    h = base();
    h.l1_size = (32u << 20) / 8 + 1;
    encode(&h);
    expect_err(FSIZE, "L1 table of 4194305 entries is over QEMU's 32 MiB limit");
    h = base();
    h.l1_offset = 0;
    encode(&h);
    expect_err(FSIZE, "L1 table at 0x0 overlaps the header cluster");
    h = base();
    h.l1_offset = FSIZE;
    encode(&h);
    expect_err(FSIZE, "L1 table at 0x100000 (2 entries) extends past the end of the file (1048576 bytes)");
    h.l1_offset = 0xffffffffffff0000ull;   /* would wrap */
    encode(&h);
    expect_err(FSIZE, "L1 table at 0xffffffffffff0000 (2 entries) extends past the end of the file (1048576 bytes)");
    h = base();
    h.size = 1ull << 62;
    encode(&h);
    expect_err(FSIZE, "L1 table of 2 entries is too small for the virtual size of 4611686018427387904 bytes "
                      "(it needs 8589934592)");
    h.size = UINT64_MAX;
    encode(&h);
    expect_err(FSIZE, "L1 table of 2 entries is too small for the virtual size of 18446744073709551615 bytes "
                      "(it needs 34359738368)");
}

static void bad_reftable(void **state)
{
    (void)state;
    struct qcow2_header h = base();
    h.reftable_clusters = 0;
    encode(&h);
    expect_err(FSIZE, "refcount table of 0 clusters");
    h = base();
    h.reftable_offset = CS + 512;
    encode(&h);
    expect_err(FSIZE, "refcount table offset 0x10200 is not aligned to the cluster size (65536)");
    h = base();
    h.reftable_clusters = 129;
    encode(&h);
    expect_err(1ull << 40, "refcount table of 129 clusters is over QEMU's 8 MiB limit");
    h = base();
    h.reftable_offset = 0;
    encode(&h);
    expect_err(FSIZE, "refcount table at 0x0 overlaps the header cluster");
    h = base();
    h.reftable_offset = 15 * CS;
    h.reftable_clusters = 2;
    encode(&h);
    expect_err(FSIZE, "refcount table at 0xf0000 (2 clusters) extends past the end of the file (1048576 bytes)");
    h = base();
    h.reftable_offset = 3 * CS;
    encode(&h);
    expect_err(FSIZE, "L1 table at 0x30000 and refcount table at 0x30000 overlap");
    /* 512-byte clusters, 64-bit refcounts: a one-cluster table covers
     * 64 blocks of 64 clusters; placed beyond that it cannot cover itself. */
    h = base();
    h.cluster_bits = 9;
    h.refcount_order = 6;
    h.size = 1 << 20;
    h.l1_size = 32;
    h.l1_offset = 512;
    h.reftable_offset = 5000 * 512;
    encode(&h);
    expect_err(1 << 30, "refcount table at 0x271000 (1 clusters) cannot hold the refcounts of its own clusters");
}

static void bad_snapshots(void **state)
{
    (void)state;
    struct qcow2_header h = base();
    h.nb_snapshots = 65537;
    encode(&h);
    expect_err(FSIZE, "65537 snapshots: over QEMU's limit of 65536");
    h.nb_snapshots = 1;
    h.snapshots_offset = 4 * CS + 1;
    encode(&h);
    expect_err(FSIZE, "snapshot table offset 0x40001 is not aligned to the cluster size");
    h.snapshots_offset = 0;
    encode(&h);
    expect_err(FSIZE, "snapshot table at 0x0 overlaps the header cluster");
    h.snapshots_offset = FSIZE;
    encode(&h);
    expect_err(FSIZE, "snapshot table at 0x100000 is past the end of the file (1048576 bytes)");

    /* The table's entries. */
    h.snapshots_offset = 4 * CS;
    uint8_t t[256] = {0};
    struct qcow2_snap *s;
    uint64_t len;
    char err[512];
    qcow2_put64(t, 5 * CS);
    qcow2_put32(t + 8, 2);
    qcow2_put16(t + 12, 1);
    qcow2_put16(t + 14, 3);
    qcow2_put32(t + 36, 16);
    assert_int_equal(qcow2_snapshots_parse(t, 64, &h, FSIZE, &s, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 64);
    assert_int_equal(s[0].l1_offset, 5 * CS);
    free(s);
    assert_int_equal(qcow2_snapshots_parse(t, 56, &h, FSIZE, &s, &len, err, sizeof(err)), -2);
    assert_string_equal(err, "snapshot 0 runs past the end of the snapshot table");
    qcow2_put32(t + 36, 5000);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "snapshot 0: 5000 bytes of extra data (at most 1024)");
    qcow2_put32(t + 36, 16);
    qcow2_put64(t, 5 * CS + 8);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "snapshot 0: L1 table offset 0x50008 is not aligned to the cluster size");
    qcow2_put64(t, FSIZE);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "snapshot 0: L1 table at 0x100000 (2 entries) is not inside the file");
    qcow2_put64(t, 5 * CS);
    qcow2_put32(t + 8, 0x7fffffffu);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "snapshot 0: L1 table of 2147483647 entries is over QEMU's 32 MiB limit");
    /* Two snapshots whose L1 tables each fill most of the file: they
     * cannot both have their own. */
    h.nb_snapshots = 2;
    qcow2_put64(t, CS);
    qcow2_put32(t + 8, 15 * CS / 8);
    memcpy(t + 64, t, 64);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "snapshot 1: the snapshots' L1 tables add up to more than the file's 1048576 bytes");
    qcow2_put32(t + 8, 7 * CS / 8);
    qcow2_put32(t + 64 + 8, 7 * CS / 8);
    assert_int_equal(qcow2_snapshots_parse(t, 256, &h, FSIZE, &s, &len, err, sizeof(err)), 0);
    free(s);
}

static void expect_feature(const struct qcow2_header *h, bool inspect, const char *want)
{
    char err[512] = "";
    if (!want) {
        assert_int_equal(qcow2_header_features(h, inspect, err, sizeof(err)), 0);
        return;
    }
    assert_int_equal(qcow2_header_features(h, inspect, err, sizeof(err)), -1);
    assert_string_equal(err, want);
}

static void features(void **state)
{
    (void)state;
    struct qcow2_header h = base();
    expect_feature(&h, false, NULL);
    h.crypt_method = 1;
    expect_feature(&h, false, "encrypted image (AES): encryption is not supported");
    h.crypt_method = 2;
    expect_feature(&h, false, "encrypted image (LUKS): encryption is not supported");
    h.crypt_method = 9;
    expect_feature(&h, false, "unknown encryption method 9: encryption is not supported");
    h = base();
    h.incompat = QCOW2_INCOMPAT_DATA_FILE;
    expect_feature(&h, false, "external data file (incompatible feature bit 2): not supported");
    h.incompat = QCOW2_INCOMPAT_EXTL2;
    expect_feature(&h, false, "extended L2 entries (subclusters, incompatible feature bit 4): not supported");
    h.incompat = QCOW2_INCOMPAT_CORRUPT;
    expect_feature(&h, false, "the image is marked corrupt (incompatible feature bit 1); repair it with "
                              "'qemu-img check -r all'");
    expect_feature(&h, true, NULL);
    h.incompat = QCOW2_INCOMPAT_DIRTY;
    expect_feature(&h, false, NULL);
    h.incompat = 1ull << 9;
    expect_feature(&h, false, "unknown incompatible feature bit 9");
    h.nfeatures = 1;
    h.features[0] = (struct qcow2_feature_name){.type = 0, .bit = 9, .name = "teleportation"};
    expect_feature(&h, false, "unsupported incompatible feature 'teleportation' (bit 9)");
    h.features[0] = (struct qcow2_feature_name){.type = 0, .bit = 9, .name = "tele\x1b[2Jport"};
    expect_feature(&h, false, "unsupported incompatible feature 'tele\\x1b[2Jport' (bit 9)");
    h = base();
    h.incompat = QCOW2_INCOMPAT_COMPRESSION;
    expect_feature(&h, false, "the compression-type feature bit is set but no compression type is given");
    h.header_length = 112;
    h.compression_type = 7;
    expect_feature(&h, false, "unknown compression type 7 (zlib and zstd are supported)");
    h.compression_type = QCOW2_COMPRESSION_ZSTD;
    expect_feature(&h, false, NULL);
    h.incompat = 0;
    expect_feature(&h, false, "compression type 1 without the compression-type feature bit");
}

/* --- tables and chains, through qcow2_open on images in memory ---------- */

struct opener_ctx {
    struct bfile *files[4];
    const char *names[4];
    unsigned n;
    bool new_identity;   /* each open a different file (else the same file again) */
};

/* Hands out copies of named in-memory files. */
static int mem_open(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    struct opener_ctx *c = ctx;
    for (unsigned i = 0; i < c->n; i++) {
        if (strcmp(path, c->names[i]))
            continue;
        uint64_t size;
        const uint8_t *d = memfile_data(c->files[i], &size);
        *out = memfile_new(d, size, size);
        if (!c->new_identity) {
            (*out)->dev = c->files[i]->dev;
            (*out)->ino = c->files[i]->ino;
        }
        return 0;
    }
    snprintf(err, errlen, "%s: No such file or directory", path);
    return -1;
}

static struct bfile *make(uint64_t size, uint32_t cb, const char *backing, const char *fmt)
{
    struct bfile *f = memfile_new(NULL, 0, 64 << 20);
    struct qcow2_create_opts o = {.size = size, .cluster_bits = cb, .backing = backing, .backing_fmt = fmt};
    char err[256];
    if (qcow2_create(f, &o, err, sizeof(err)) < 0)
        fail_msg("create: %s", err);
    return f;
}

static void poke64(struct bfile *f, uint64_t off, uint64_t v)
{
    uint8_t b[8];
    qcow2_put64(b, v);
    assert_int_equal(f->ops->pwrite(f, b, 8, off), 0);
}

static void expect_open_err(struct bfile *f, const char *path, const struct qcow2_open_opts *o, const char *want)
{
    struct qcow2 *q;
    char err[1024] = "";
    if (qcow2_open(&q, f, path, o, err, sizeof(err)) == 0) {
        qcow2_close(q);
        fail_msg("opened; expected: %s", want);
    }
    bfile_close(f);
    assert_string_equal(err, want);
}

static void bad_tables(void **state)
{
    (void)state;
    /* 4 KiB clusters: header 0, reftable 1, block 2, L1 3. */
    struct bfile *f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 3 * 4096, 2 * 4096 + 512);
    expect_open_err(f, "img", NULL, "img: L1 entry 0: L2 table offset 0x2200 is not aligned to the cluster size");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 3 * 4096, 1ull << 40);
    expect_open_err(f, "img", NULL, "img: L1 entry 0: L2 table at 0x10000000000 is past the end of the file");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 7 * 4096, 0);   /* the file grows to 8 clusters */
    poke64(f, 3 * 4096, 5 * 4096);
    poke64(f, 3 * 4096 + 8, 5 * 4096);
    expect_open_err(f, "img", NULL, "img: L1 entry 1: L2 table at 0x5000 is used by another L1 entry too");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 3 * 4096, 1 * 4096);
    expect_open_err(f, "img", NULL, "img: L1 entry 0: L2 table at 0x1000 overlaps the header, the L1 table or the "
                                    "refcount table");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 1 * 4096, 2 * 4096 + 1);
    expect_open_err(f, "img", NULL, "img: refcount table entry 0 (0x2001): reserved bits set");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 1 * 4096 + 8, 2 * 4096);
    expect_open_err(f, "img", NULL, "img: refcount table entry 1: block at 0x2000 is also another block or an L2 "
                                    "table");
    f = make(16 << 20, 12, NULL, NULL);
    poke64(f, 1 * 4096, 0);
    poke64(f, 1 * 4096 + 8, 1ull << 45);
    expect_open_err(f, "img", NULL, "img: refcount table entry 1: block at 0x200000000000 is past the end of the "
                                    "file");
}

static uint64_t peek64(struct bfile *f, uint64_t off)
{
    uint64_t size;
    const uint8_t *d = memfile_data(f, &size);
    assert_true(off + 8 <= size);
    return qcow2_be64(d + off);
}

/* Guest clusters mapped in place (copied flag) past the end of the image:
 * a write there would put guest bytes where the core later places new
 * tables without writing them (it knows that part of the file reads as
 * zeroes), so the guest would write L2 entries.  Refused as corrupt. */
static void writes_past_the_end(void **state)
{
    (void)state;
    const uint64_t cs = 4096, copied = 1ull << 63;
    uint8_t d[2 * 4096];
    memset(d, 0x3c, sizeof(d));
    for (int zero_flag = 0; zero_flag < 2; zero_flag++) {
        struct bfile *f = make(8 << 20, 12, NULL, NULL);
        struct qcow2 *q;
        char err[512];
        assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
        assert_int_equal(qcow2_sync_write(q, d, 2 * cs, 0), 0);
        assert_int_equal(qcow2_close(q), 0);
        uint64_t fsize;
        memfile_data(f, &fsize);
        uint64_t l2 = peek64(f, peek64(f, 40)) & 0x00fffffffffffe00ull;
        if (zero_flag) {
            /* A preallocated zero cluster of ours, past the end. */
            poke64(f, l2 + 8, fsize | copied | 1);
            assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
            assert_int_equal(qcow2_sync_write(q, d, 512, cs), -EIO);
        } else {
            /* Two contiguous clusters, the second past the end. */
            poke64(f, l2, (fsize - cs) | copied);
            poke64(f, l2 + 8, fsize | copied);
            assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
            assert_int_equal(qcow2_sync_write(q, d, 2 * cs, 0), -EIO);
        }
        qcow2_close(q);
        uint64_t now;
        memfile_data(f, &now);
        assert_int_equal(now, fsize);   /* nothing written past it */
        assert_true(peek64(f, 72) & QCOW2_INCOMPAT_CORRUPT);
        bfile_close(f);
    }
}

/* A guest cluster mapped onto the image's own metadata (a data entry on
 * its L2 table, a compressed one inside the header cluster): discarding
 * it must not free that cluster (refcount 0, its bytes punched away: the
 * header or the table gone on disk).  Refused as corrupt. */
static void discard_never_frees_metadata(void **state)
{
    (void)state;
    const uint64_t cs = 4096, copied = 1ull << 63, compressed = 1ull << 62;
    uint8_t d[2 * 4096];
    memset(d, 0x5a, sizeof(d));
    for (int shape = 0; shape < 2; shape++) {
        struct bfile *f = make(8 << 20, 12, NULL, NULL);
        struct qcow2 *q;
        char err[512];
        assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
        assert_int_equal(qcow2_sync_write(q, d, 2 * cs, 0), 0);
        assert_int_equal(qcow2_close(q), 0);
        uint64_t l2 = peek64(f, peek64(f, 40)) & 0x00fffffffffffe00ull;
        uint64_t l2_first = peek64(f, l2);
        /* Guest cluster 1 on the L2 table itself, or compressed bytes at
         * byte 16 of the header cluster (one sector). */
        poke64(f, l2 + 8, shape ? (compressed | 16) : (l2 | copied));
        assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
        int failed = qcow2_sync_discard(q, cs, cs) < 0;
        /* The freeing waits for the L2 entry to be on disk: a few rounds. */
        for (int i = 0; i < 4 && !failed; i++)
            failed = qcow2_flush(q) < 0 || qcow2_sync_write(q, d, cs, 2 * cs) < 0;
        if (!failed)
            failed = qcow2_flush(q) < 0;
        qcow2_close(q);
        assert_true(failed);
        assert_int_equal(peek64(f, 0) >> 32, 0x514649fb);   /* the magic is still there */
        assert_int_equal(peek64(f, l2), l2_first);         /* and the L2 table */
        assert_true(peek64(f, 72) & QCOW2_INCOMPAT_CORRUPT);
        bfile_close(f);
    }
}

/* Snapshots share L2 tables; a hostile image points every entry of every
 * snapshot's L1 table at one.  Counting references (qemu-img check's
 * way, and the rebuild of a dirty image's refcounts) reads each table
 * once, not once per entry: 64 snapshots of 512 entries here, 128 MiB of
 * reads the other way. */
static void shared_l2_counted_once(void **state)
{
    (void)state;
    const uint64_t cs = 4096;
    struct bfile *f = make(16 << 20, 12, NULL, NULL);
    struct qcow2 *q;
    char err[512];
    uint8_t d[4096];
    memset(d, 0x11, sizeof(d));
    assert_int_equal(qcow2_open(&q, memfile_view(f), "img", NULL, err, sizeof(err)), 0);
    assert_int_equal(qcow2_sync_write(q, d, cs, 0), 0);
    assert_int_equal(qcow2_close(q), 0);
    uint64_t fsize;
    memfile_data(f, &fsize);
    uint64_t l2 = peek64(f, peek64(f, 40)) & 0x00fffffffffffe00ull;
    const unsigned nsnap = 64;
    for (unsigned i = 0; i < nsnap; i++)
        for (unsigned k = 0; k < cs / 8; k++)
            poke64(f, fsize + i * cs + k * 8, l2);
    uint64_t table = fsize + nsnap * cs;
    for (unsigned i = 0; i < nsnap; i++) {
        uint8_t e[48] = {0};
        qcow2_put64(e, fsize + i * cs);
        qcow2_put32(e + 8, cs / 8);
        qcow2_put16(e + 12, 1);
        qcow2_put16(e + 14, 1);
        e[40] = e[41] = 'a';
        assert_int_equal(bfile_pwrite(f, e, sizeof(e), table + i * sizeof(e)), 0);
    }
    uint8_t n[4];
    qcow2_put32(n, nsnap);
    assert_int_equal(bfile_pwrite(f, n, 4, 60), 0);
    poke64(f, 64, table);
    struct qcow2_open_opts ro = {.read_only = true};
    assert_int_equal(qcow2_open(&q, memfile_view(f), "img", &ro, err, sizeof(err)), 0);
    uint64_t before = memfile_read_bytes(f);
    struct qcow2_check_result r;
    assert_int_equal(qcow2_check(q, &r), 0);
    uint64_t read = memfile_read_bytes(f) - before;
    if (read > (4u << 20))
        fail_msg("the check read %llu bytes", (unsigned long long)read);
    /* The shared table and its cluster are counted for every reference
     * (QEMU's counting), so the image's refcounts of 1 fall short. */
    assert_true(r.corruptions > 0);
    assert_int_equal(qcow2_close(q), 0);
    bfile_close(f);
}

static void chains(void **state)
{
    (void)state;
    struct opener_ctx ctx = {0};
    struct qcow2_opener op = {mem_open, &ctx};
    struct qcow2_open_opts o = {.opener = &op};

    /* Missing backing file: the message names the chain. */
    expect_open_err(make(1 << 20, 16, "base.qcow2", "qcow2"), "dir/top.qcow2", &o,
                    "dir/top.qcow2: backing file 'base.qcow2': dir/base.qcow2: No such file or directory");
    /* No recorded format: refused, never guessed. */
    ctx.files[0] = make(1 << 20, 16, NULL, NULL);
    ctx.names[0] = "dir/base.qcow2";
    ctx.n = 1;
    struct bfile *f = make(1 << 20, 16, NULL, NULL);
    uint8_t hdr[512];
    /* Give it a backing name without the format extension. */
    memset(hdr, 0, sizeof(hdr));
    memcpy(hdr, "base.qcow2", 10);
    assert_int_equal(f->ops->pwrite(f, hdr, 10, 200), 0);
    poke64(f, 8, 200);
    uint8_t len[4];
    qcow2_put32(len, 10);
    assert_int_equal(f->ops->pwrite(f, len, 4, 16), 0);
    expect_open_err(f, "dir/top.qcow2", &o,
                    "dir/top.qcow2: the format of backing file 'base.qcow2' is not recorded, and vireo never "
                    "guesses it (record it with 'qemu-img rebase -u -b base.qcow2 -F raw|qcow2 dir/top.qcow2')");
    expect_open_err(make(1 << 20, 16, "base.qcow2", "vmdk"), "dir/top.qcow2", &o,
                    "dir/top.qcow2: backing file 'base.qcow2' has format 'vmdk'; only raw and qcow2 are supported");
    expect_open_err(make(1 << 20, 16, "nbd://host/x", "raw"), "dir/top.qcow2", &o,
                    "dir/top.qcow2: backing file 'nbd://host/x': protocol 'nbd' is not supported (only local "
                    "files are)");
    /* backing=off. */
    struct qcow2_open_opts nob = o;
    nob.no_backing = true;
    expect_open_err(make(1 << 20, 16, "base.qcow2", "qcow2"), "dir/top.qcow2", &nob,
                    "dir/top.qcow2: names the backing file 'base.qcow2', and backing files are refused for this "
                    "disk");
    /* Names from the image are escaped in every message (an escape
     * sequence would drive the terminal of whoever reads the log). */
    expect_open_err(make(1 << 20, 16, "e\x1b]0;x\x07vil", "raw"), "dir/top.qcow2", &o,
                    "dir/top.qcow2: backing file 'e\\x1b]0;x\\x07vil': dir/e\\x1b]0;x\\x07vil: No such file or "
                    "directory");
    expect_open_err(make(1 << 20, 16, "base.qcow2", "ra\x1b[2Jw"), "dir/top.qcow2", &o,
                    "dir/top.qcow2: backing file 'base.qcow2' has format 'ra\\x1b[2Jw'; only raw and qcow2 are "
                    "supported");
    expect_open_err(make(1 << 20, 16, "\x1b[2J", "qcow2"), "dir/top.qcow2", &nob,
                    "dir/top.qcow2: names the backing file '\\x1b[2J', and backing files are refused for this disk");
    /* A chain that works, two deep: mid -> base. */
    bfile_close(ctx.files[0]);
    ctx.files[0] = make(1 << 20, 16, NULL, NULL);
    ctx.files[1] = make(1 << 20, 16, "base.qcow2", "qcow2");
    ctx.names[1] = "dir/mid.qcow2";
    ctx.n = 2;
    struct qcow2 *q;
    char err[1024];
    f = make(1 << 20, 16, "mid.qcow2", "qcow2");
    assert_int_equal(qcow2_open(&q, f, "dir/top.qcow2", &o, err, sizeof(err)), 0);
    const struct qcow2_link *l = qcow2_backing(q);
    assert_int_equal(l->fmt, IMG_FORMAT_QCOW2);
    assert_string_equal(l->path, "dir/mid.qcow2");
    assert_string_equal(qcow2_backing(l->qcow2)->path, "dir/base.qcow2");
    assert_int_equal(qcow2_close(q), 0);
    /* A loop: base names itself. */
    bfile_close(ctx.files[0]);
    ctx.files[0] = make(1 << 20, 16, "base.qcow2", "qcow2");
    expect_open_err(make(1 << 20, 16, "base.qcow2", "qcow2"), "dir/top.qcow2", &o,
                    "dir/top.qcow2 -> dir/base.qcow2: backing chain loop: 'dir/base.qcow2' is already in the chain");
    /* The same, each open a different file: the depth limit ends it. */
    ctx.new_identity = true;
    char want[2048] = "dir/top.qcow2";
    for (int i = 0; i < QCOW2_MAX_CHAIN; i++)
        strcat(want, " -> dir/base.qcow2");
    strcat(want, ": backing chain longer than 32 images");
    expect_open_err(make(1 << 20, 16, "base.qcow2", "qcow2"), "dir/top.qcow2", &o, want);
    for (unsigned i = 0; i < ctx.n; i++)
        bfile_close(ctx.files[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_headers),
        cmocka_unit_test(first_cluster_size),
        cmocka_unit_test(bad_basics),
        cmocka_unit_test(bad_backing_and_extensions),
        cmocka_unit_test(bad_l1),
        cmocka_unit_test(bad_reftable),
        cmocka_unit_test(bad_snapshots),
        cmocka_unit_test(features),
        cmocka_unit_test(bad_tables),
        cmocka_unit_test(writes_past_the_end),
        cmocka_unit_test(discard_never_frees_metadata),
        cmocka_unit_test(shared_l2_counted_once),
        cmocka_unit_test(chains),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* MBR and GPT partition tables (src/bootloader/parttable.c) on disks made
 * in memory byte by byte, so that every broken table a guest could write
 * can be made: partitions past the end, overlapping, loops in the
 * extended partition's chain, bad CRCs, absurd entry counts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "bootloader/fsprobe.h"
#include "bootloader/parttable.h"

struct memdisk {
    uint8_t *buf;
    uint64_t size;
    bool fail;
};

static int md_read(void *ctx, uint64_t off, void *buf, size_t len)
{
    struct memdisk *m = ctx;
    if (m->fail || off > m->size || len > m->size - off) {
        errno = EIO;
        return -1;
    }
    memcpy(buf, m->buf + off, len);
    return 0;
}

static struct memdisk *md_new(uint64_t size)
{
    struct memdisk *m = calloc(1, sizeof(*m));
    m->buf = calloc(1, size);
    m->size = size;
    return m;
}

static void md_free(struct memdisk *m)
{
    free(m->buf);
    free(m);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static int read_pt(struct memdisk *m, struct pt_table *t, char *err, size_t errlen)
{
    struct bl_disk d = {md_read, m, m->size};
    return pt_read(&d, t, err, errlen);
}

#define MB (1024 * 1024)

/* ---- MBR ---- */

static void mbr_entry(uint8_t *sec, unsigned i, uint8_t status, uint8_t type, uint32_t lba, uint32_t count)
{
    uint8_t *p = sec + 446 + 16 * i;
    p[0] = status;
    p[4] = type;
    put32(p + 8, lba);
    put32(p + 12, count);
    sec[510] = 0x55;
    sec[511] = 0xAA;
}

static void expect_err(struct memdisk *m, const char *text)
{
    struct pt_table t;
    char err[512];
    int r = read_pt(m, &t, err, sizeof(err));
    if (r == 0)
        fail_msg("expected an error with '%s'", text);
    if (!strstr(err, text))
        fail_msg("error '%s' lacks '%s'", err, text);
}

static void no_table(void **state)
{
    (void)state;
    struct memdisk *m = md_new(4 * MB);
    struct pt_table t;
    char err[256];
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.scheme, PT_NONE);
    /* A FAT boot sector also ends in 0x55AA; its "table" is code. */
    memset(m->buf + 446, 0x5a, 64);
    m->buf[510] = 0x55;
    m->buf[511] = 0xAA;
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.scheme, PT_NONE);
    md_free(m);
}

static void mbr_primaries(void **state)
{
    (void)state;
    struct memdisk *m = md_new(16 * MB);
    mbr_entry(m->buf, 0, 0x80, 0x83, 2048, 8192);
    mbr_entry(m->buf, 2, 0, 0x83, 10240, 4096);
    put32(m->buf + 440, 0xdeadbeef);
    struct pt_table t;
    char err[256];
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.scheme, PT_MBR);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.parts[0].number, 1);
    assert_int_equal(t.parts[0].start, 2048 * 512);
    assert_int_equal(t.parts[0].size, 8192 * 512);
    assert_int_equal(t.parts[1].number, 3);
    assert_int_equal(t.mbr_id, 0xdeadbeef);
    md_free(m);
}

static void mbr_bad(void **state)
{
    (void)state;
    struct memdisk *m = md_new(16 * MB);   /* 32768 sectors */
    mbr_entry(m->buf, 0, 0, 0x83, 2048, 8192);
    mbr_entry(m->buf, 1, 0, 0x83, 30000, 4096);
    expect_err(m, "MBR partition 2 (sectors 30000-34095) runs past the end of the disk (32768 sectors)");
    mbr_entry(m->buf, 1, 0, 0x83, 8000, 4096);
    expect_err(m, "MBR partitions 1 and 2 overlap (sectors 2048-10239 and 8000-12095)");
    mbr_entry(m->buf, 1, 0, 0x83, 0, 100);
    expect_err(m, "MBR partition 2 starts at sector 0");
    mbr_entry(m->buf, 1, 0, 0x83, 20000, 0);
    expect_err(m, "MBR partition 2 has no sectors");
    /* The sum overflows 32 bits: still past the end. */
    mbr_entry(m->buf, 1, 0, 0x83, 0xFFFFFF00u, 0x200);
    expect_err(m, "runs past the end of the disk");
    mbr_entry(m->buf, 1, 0, 0x05, 20000, 4000);
    mbr_entry(m->buf, 2, 0, 0x0F, 25000, 4000);
    expect_err(m, "MBR has two extended partitions (2 and 3)");
    md_free(m);
}

/* An EBR at sector ebr: one logical partition at rel (from the EBR), the
 * next EBR at next (from the extended partition's start), 0: none. */
static void ebr(struct memdisk *m, uint32_t ebr_lba, uint32_t rel, uint32_t count, uint32_t next, uint32_t next_count)
{
    uint8_t *sec = m->buf + (uint64_t)ebr_lba * 512;
    mbr_entry(sec, 0, 0, 0x83, rel, count);
    if (next)
        mbr_entry(sec, 1, 0, 0x05, next, next_count);
}

static void mbr_logical(void **state)
{
    (void)state;
    struct memdisk *m = md_new(16 * MB);
    mbr_entry(m->buf, 0, 0, 0x82, 2048, 2048);
    mbr_entry(m->buf, 1, 0, 0x05, 8192, 16384);   /* sectors 8192-24575 */
    ebr(m, 8192, 2048, 4096, 8192, 6144);          /* logical 5 at 10240; next EBR at 16384 */
    ebr(m, 16384, 2048, 4096, 0, 0);               /* logical 6 at 18432 */
    struct pt_table t;
    char err[256];
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 3);
    assert_int_equal(t.parts[0].number, 1);
    assert_int_equal(t.parts[1].number, 5);
    assert_int_equal(t.parts[1].start, 10240ull * 512);
    assert_int_equal(t.parts[2].number, 6);
    assert_int_equal(t.parts[2].start, 18432ull * 512);
    /* A chain whose second EBR points at itself. */
    ebr(m, 16384, 2048, 4096, 8192, 6144);
    expect_err(m, "more than 64 logical partitions");
    /* A logical partition outside its extended partition. */
    memset(m->buf + 8192ull * 512, 0, 512);
    memset(m->buf + 16384ull * 512, 0, 512);
    ebr(m, 8192, 16000, 4096, 0, 0);
    expect_err(m, "MBR logical partition 5 (sectors 24192-28287) is not inside its extended partition (sectors "
                  "8192-24575)");
    /* An EBR without its signature. */
    memset(m->buf + 8192ull * 512, 0, 512);
    expect_err(m, "the extended partition's table at sector 8192 has no 0x55AA signature");
    md_free(m);
}

/* ---- GPT ---- */

struct gent {
    uint64_t first, last;
    uint8_t type;   /* 0: unused entry */
};

/* A GPT (and protective MBR) on m with sector size ss. */
static void gpt_build(struct memdisk *m, unsigned ss, const struct gent *e, unsigned n, uint32_t nentries)
{
    uint64_t sectors = m->size / ss;
    uint32_t esize = 128;
    uint64_t earray = ((uint64_t)nentries * esize + ss - 1) / ss;
    memset(m->buf, 0, 512);
    mbr_entry(m->buf, 0, 0, 0xEE, 1, (uint32_t)(sectors - 1 > 0xFFFFFFFF ? 0xFFFFFFFF : sectors - 1));
    uint8_t *arr = calloc(nentries, esize);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = arr + (size_t)i * esize;
        if (!e[i].type)
            continue;
        memset(p, e[i].type, 16);                  /* type GUID */
        memset(p + 16, 0x10 + (int)i, 16);         /* unique GUID */
        put64(p + 32, e[i].first);
        put64(p + 40, e[i].last);
    }
    uint32_t ecrc = (uint32_t)crc32(0, arr, nentries * esize);
    for (int copy = 0; copy < 2; copy++) {
        uint64_t hlba = copy ? sectors - 1 : 1, elba = copy ? sectors - 1 - earray : 2;
        memcpy(m->buf + elba * ss, arr, (size_t)nentries * esize);
        uint8_t *h = m->buf + hlba * ss;
        memset(h, 0, ss);
        memcpy(h, "EFI PART", 8);
        put32(h + 8, 0x00010000);
        put32(h + 12, 92);
        put64(h + 24, hlba);
        put64(h + 32, copy ? 1 : sectors - 1);
        put64(h + 40, 2 + earray);
        put64(h + 48, sectors - 2 - earray);
        memset(h + 56, 0xab, 16);
        put64(h + 72, elba);
        put32(h + 80, nentries);
        put32(h + 84, esize);
        put32(h + 88, ecrc);
        put32(h + 16, (uint32_t)crc32(0, h, 92));
    }
    free(arr);
}

/* Recomputes a header's CRC after a test changed it. */
static void gpt_recrc(struct memdisk *m, unsigned ss, uint64_t lba)
{
    uint8_t *h = m->buf + lba * ss;
    put32(h + 16, 0);
    put32(h + 16, (uint32_t)crc32(0, h, 92));
}

static void gpt_good(void **state)
{
    (void)state;
    struct memdisk *m = md_new(8 * MB);   /* 16384 sectors */
    struct gent e[] = {{2048, 4095, 1}, {0, 0, 0}, {4096, 16000, 2}};
    gpt_build(m, 512, e, 3, 128);
    struct pt_table t;
    char err[256];
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.scheme, PT_GPT);
    assert_int_equal(t.sector, 512);
    assert_int_equal(t.n, 2);
    assert_int_equal(t.parts[0].number, 1);
    assert_int_equal(t.parts[1].number, 3);   /* an empty entry keeps its number */
    assert_int_equal(t.parts[1].start, 4096ull * 512);
    assert_int_equal(t.parts[1].size, (16000ull - 4096 + 1) * 512);
    assert_string_equal(t.note, "");
    char g[37];
    pt_guid_format(t.parts[0].guid, g);
    assert_string_equal(g, "10101010-1010-1010-1010-101010101010");
    md_free(m);
}

static void gpt_backup(void **state)
{
    (void)state;
    struct memdisk *m = md_new(8 * MB);
    struct gent e[] = {{2048, 4095, 1}};
    gpt_build(m, 512, e, 1, 128);
    struct pt_table t;
    char err[256];
    /* The primary header damaged: the backup at the last sector serves. */
    m->buf[512 + 60] ^= 1;
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.note, "primary GPT unusable (GPT header at sector 1 has a bad CRC); using the backup at "
                                "sector 16383");
    /* The primary entries damaged instead. */
    gpt_build(m, 512, e, 1, 128);
    m->buf[2 * 512 + 40] ^= 1;
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_non_null(strstr(t.note, "partition entries at sector 2 have a bad CRC"));
    /* Both copies damaged. */
    m->buf[16383 * 512 + 60] ^= 1;
    expect_err(m, "GPT partition entries at sector 2 have a bad CRC; the backup GPT is unusable too (GPT header at "
                  "sector 16383 has a bad CRC)");
    /* The primary header gone entirely, the protective MBR left: the backup. */
    gpt_build(m, 512, e, 1, 128);
    memset(m->buf + 512, 0, 512);
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.scheme, PT_GPT);
    assert_non_null(strstr(t.note, "no GPT signature at sector 1"));
    md_free(m);
}

/* Breaks both copies the same way (so no backup saves it). */
static void both(struct memdisk *m, void (*f)(uint8_t *h))
{
    f(m->buf + 512);
    gpt_recrc(m, 512, 1);
    f(m->buf + (m->size / 512 - 1) * 512);
    gpt_recrc(m, 512, m->size / 512 - 1);
}

static void absurd_count(uint8_t *h) { put32(h + 80, 0xFFFFFFFF); }
static void odd_entry_size(uint8_t *h) { put32(h + 84, 100); }
static void larger_disk(uint8_t *h) { put64(h + 48, 1ull << 40); }
static void entries_off_disk(uint8_t *h) { put64(h + 72, 1ull << 50); }

static void gpt_bad(void **state)
{
    (void)state;
    struct memdisk *m = md_new(8 * MB);
    struct gent e[] = {{2048, 4095, 1}, {4096, 8191, 2}};
    gpt_build(m, 512, e, 2, 128);
    both(m, absurd_count);
    expect_err(m, "GPT header declares 4294967295 partition entries; at most 1024 are supported");
    gpt_build(m, 512, e, 2, 128);
    both(m, odd_entry_size);
    expect_err(m, "GPT partition entries of 100 bytes; expected a multiple of 8 from 128 to 1024");
    gpt_build(m, 512, e, 2, 128);
    both(m, larger_disk);
    expect_err(m, "the GPT at sector 1 was made for a larger disk: its partitions may use sectors up to 1099511627776, "
                  "but the disk has 16384 (was the image truncated?)");
    gpt_build(m, 512, e, 2, 128);
    both(m, entries_off_disk);
    expect_err(m, "GPT partition entries (sector 1125899906842624, 16384 bytes) are not inside the disk");
    /* Partitions the header's usable range does not hold, or that overlap
     * (the tables' CRCs are right: the guest wrote them so). */
    struct gent past[] = {{2048, 4095, 1}, {4096, 16380, 2}};
    gpt_build(m, 512, past, 2, 128);
    expect_err(m, "GPT partition 2 (sectors 4096-16380) runs outside the disk's usable sectors (34-16350)");
    struct gent overlap[] = {{2048, 4095, 1}, {4000, 8191, 2}};
    gpt_build(m, 512, overlap, 2, 128);
    expect_err(m, "GPT partitions 1 and 2 overlap (sectors 2048-4095 and 4000-8191)");
    struct gent backwards[] = {{4095, 2048, 1}};
    gpt_build(m, 512, backwards, 1, 128);
    expect_err(m, "GPT partition 1 ends (sector 2048) before it starts (sector 4095)");
    md_free(m);
}

static void gpt_4k(void **state)
{
    (void)state;
    struct memdisk *m = md_new(16 * MB);   /* 4096 sectors of 4 KiB */
    struct gent e[] = {{256, 1023, 1}};
    gpt_build(m, 4096, e, 1, 128);
    struct pt_table t;
    char err[256];
    assert_int_equal(read_pt(m, &t, err, sizeof(err)), 0);
    assert_int_equal(t.sector, 4096);
    assert_int_equal(t.parts[0].start, 256ull * 4096);
    md_free(m);
}

static void read_errors(void **state)
{
    (void)state;
    struct memdisk *m = md_new(8 * MB);
    m->fail = true;
    expect_err(m, "reading the disk at byte 0: Input/output error");
    md_free(m);
    m = md_new(512);
    expect_err(m, "the disk is 512 bytes: too small to hold a file system");
    md_free(m);
}

static void probe(void **state)
{
    (void)state;
    struct memdisk *m = md_new(1 * MB);
    struct bl_disk d = {md_read, m, m->size};
    struct bl_region r = {&d, 0, m->size};
    struct fs_probe p;
    assert_int_equal(fs_probe(&r, &p), 0);
    assert_int_equal(p.kind, FS_UNKNOWN);
    memcpy(m->buf, "XFSB", 4);
    assert_int_equal(fs_probe(&r, &p), 0);
    assert_string_equal(p.name, "xfs");
    assert_int_equal(p.kind, FS_OTHER);
    memset(m->buf, 0, 8);
    memcpy(m->buf + 65536 + 64, "_BHRfS_M", 8);
    assert_int_equal(fs_probe(&r, &p), 0);
    assert_string_equal(p.name, "btrfs");
    memset(m->buf + 65536, 0, 128);
    memcpy(m->buf + 4096 - 10, "SWAPSPACE2", 10);
    assert_int_equal(fs_probe(&r, &p), 0);
    assert_int_equal(p.kind, FS_NOT_FS);
    memset(m->buf + 4086, 0, 10);
    m->buf[1024 + 56] = 0x53;
    m->buf[1024 + 57] = 0xEF;
    m->buf[1024 + 0x60] = 0x40;   /* extents */
    memcpy(m->buf + 1024 + 0x68, "\x5f\x3c\xa4\xd0\x8a\x3c\x4d\x2a\x9b\x3e\x1f\x2e\x3d\x4c\x5b\x6a", 16);
    memcpy(m->buf + 1024 + 0x78, "rootfs", 6);
    assert_int_equal(fs_probe(&r, &p), 0);
    assert_int_equal(p.kind, FS_EXT);
    assert_string_equal(p.name, "ext4");
    assert_string_equal(p.label, "rootfs");
    char u[37];
    fs_uuid_format(p.uuid, u);
    assert_string_equal(u, "5f3ca4d0-8a3c-4d2a-9b3e-1f2e3d4c5b6a");
    md_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_table),
        cmocka_unit_test(mbr_primaries),
        cmocka_unit_test(mbr_bad),
        cmocka_unit_test(mbr_logical),
        cmocka_unit_test(gpt_good),
        cmocka_unit_test(gpt_backup),
        cmocka_unit_test(gpt_bad),
        cmocka_unit_test(gpt_4k),
        cmocka_unit_test(read_errors),
        cmocka_unit_test(probe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

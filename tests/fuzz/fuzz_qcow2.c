/* libFuzzer target: a qcow2 image file a user downloaded.  The input's
 * first 8 bytes choose the operations, the rest is the image, held in
 * memory (allowed to grow by 4 MiB, so allocation runs into ENOSPC
 * rather than memory).  It is opened for inspection and for writing
 * (every backing file it names is a small raw file in memory), then gets
 * reads, writes, write-zeroes, discards, resizes, flushes and a
 * consistency check.
 * Nothing may crash, hang, leak or touch memory out of bounds; an open
 * that fails says why, naming the image; a write that succeeded within
 * one cluster reads back. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"
#include "block/qcow2_sync.h"
#include "memfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GROWTH (4u << 20)
#define MAX_IO (64u << 10)

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static int backing_open(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    (void)ctx;
    (void)path;
    (void)err;
    (void)errlen;
    static uint8_t pattern[256 << 10];
    if (!pattern[1])
        for (size_t i = 0; i < sizeof(pattern); i++)
            pattern[i] = (uint8_t)(i * 31 + 7);
    *out = memfile_new(pattern, sizeof(pattern), sizeof(pattern));
    return *out ? 0 : -1;
}

static void check_error(int r, const char *err)
{
    if (r == 0)
        return;
    if (strncmp(err, "fuzz.img", 8))
        abort();   /* every open error names the image */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8 + 72)
        return 0;
    uint64_t seed;
    memcpy(&seed, data, 8);
    const uint8_t *img = data + 8;
    size_t n = size - 8;
    struct qcow2_opener op = {backing_open, NULL};
    char err[2048];
    struct qcow2 *q;

    /* `vireo image info`'s open. */
    struct bfile *f = memfile_new(img, n, n);
    struct qcow2_open_opts io = {.inspect = true, .opener = &op};
    int r = qcow2_open(&q, f, "fuzz.img", &io, err, sizeof(err));
    check_error(r, err);
    if (r == 0) {
        struct qcow2_info info;
        qcow2_get_info(q, &info);
        qcow2_close(q);
    } else {
        bfile_close(f);
    }

    /* A disk. */
    f = memfile_new(img, n, n + GROWTH);
    struct qcow2_open_opts o = {.opener = &op, .read_only = seed & 1};
    if (seed & 2)
        o.l2_cache_bytes = 1;   /* the smallest cache: evictions everywhere */
    r = qcow2_open(&q, f, "fuzz.img", &o, err, sizeof(err));
    check_error(r, err);
    if (r) {
        bfile_close(f);
        return 0;
    }
    uint64_t disk = qcow2_size(q), cs = qcow2_cluster_size(q);
    uint8_t *buf = malloc(MAX_IO), *back = malloc(MAX_IO);
    for (unsigned k = 0; k < 12 && disk; k++) {
        uint64_t x = mix(seed + k);
        uint64_t off = mix(x) % disk;
        if (x & 8)
            off &= ~(cs - 1);
        uint64_t len = 1 + mix(x + 1) % MAX_IO;
        if (len > disk - off)
            len = disk - off;
        switch (x % 7) {
        case 0:
        case 1:
            r = qcow2_sync_read(q, buf, len, off);
            break;
        case 2:
        case 3:
            memset(buf, (int)(x >> 8), len);
            r = qcow2_sync_write(q, buf, len, off);
            /* Within one cluster, what was written reads back. */
            if (!r && off / cs == (off + len - 1) / cs && !qcow2_sync_read(q, back, len, off) &&
                memcmp(buf, back, len))
                abort();
            break;
        case 4:
            r = (x & 16) ? qcow2_sync_discard(q, off, len) : qcow2_sync_write_zeroes(q, off, len);
            break;
        case 5: {
            /* `vireo image resize` of a downloaded image. */
            char gerr[256];
            r = qcow2_grow(q, disk + ((x >> 16) % (64u << 20) & ~511ull), gerr, sizeof(gerr)) < 0 ? -EINVAL : 0;
            disk = qcow2_size(q);
            break;
        }
        default:
            r = qcow2_flush(q);
            break;
        }
        if (r > 0)
            abort();   /* 0 or -errno */
    }
    if (!(seed & 4)) {
        struct qcow2_check_result res;
        qcow2_check(q, &res);
    }
    qcow2_close(q);
    free(buf);
    free(back);
    return 0;
}

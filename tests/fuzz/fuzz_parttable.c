/* libFuzzer target: a guest disk's first bytes as the partition-table
 * reader and the file system probe see them (src/bootloader/parttable.c,
 * fsprobe.c).  The input is the whole disk.  Nothing may crash or read out
 * of bounds; an accepted table must hold only partitions inside the disk,
 * not overlapping, and the probe must answer for each. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/fsprobe.h"
#include "bootloader/parttable.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
    const uint8_t *p;
    size_t n;
};

static int rd(void *ctx, uint64_t off, void *buf, size_t len)
{
    const struct mem *m = ctx;
    if (off > m->n || len > m->n - off)
        abort();   /* the reader must never ask past the disk's end */
    memcpy(buf, m->p + off, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mem m = {data, size};
    struct bl_disk d = {rd, &m, size};
    static struct pt_table t;
    char err[512];
    if (pt_read(&d, &t, err, sizeof(err)) < 0) {
        if (!err[0] || !memchr(err, 0, sizeof(err)))
            abort();
        return 0;
    }
    if (t.n > PT_MAX_PARTS || (t.scheme == PT_NONE && t.n))
        abort();
    for (unsigned i = 0; i < t.n; i++) {
        const struct pt_part *a = &t.parts[i];
        if (!a->size || a->start > size || a->size > size - a->start)
            abort();
        for (unsigned j = i + 1; j < t.n; j++) {
            const struct pt_part *b = &t.parts[j];
            if (a->start < b->start + b->size && b->start < a->start + a->size)
                abort();
        }
        struct bl_region r = {&d, a->start, a->size};
        struct fs_probe p;
        if (fs_probe(&r, &p) < 0 || !p.name)
            abort();
    }
    return 0;
}

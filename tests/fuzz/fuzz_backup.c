/* libFuzzer target: backup streams handed to `vireo image import` (made on
 * another machine, carried over ssh or a file: nothing in them is trusted),
 * read by backup_read_mem, plain or compressed.  Nothing may crash, hang,
 * leak or read out of bounds; the sink must see a manifest before any
 * content, each disk's bytes inside its declared size at increasing
 * offsets, and a refusal must say why. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/backup_stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A compressed stream can unpack to far more than it is: the sink stops
 * the read past this many bytes, as a full disk would. */
#define DATA_LIMIT (16u << 20)

struct seen {
    bool manifest, config;
    unsigned ndisks;
    uint64_t size[BACKUP_MAX_DISKS], next[BACKUP_MAX_DISKS];
    bool ended[BACKUP_MAX_DISKS];
    uint64_t total;
};

static int on_manifest(void *ctx, const struct backup_manifest *m, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct seen *s = ctx;
    if (s->manifest || !m->ndisks || m->ndisks > BACKUP_MAX_DISKS)
        abort();
    s->manifest = true;
    s->ndisks = m->ndisks;
    for (unsigned i = 0; i < m->ndisks; i++) {
        if (m->disks[i].size % 512 || m->disks[i].size > BACKUP_SIZE_MAX || !backup_name_ok(m->disks[i].file, BACKUP_NAME_MAX))
            abort();
        s->size[i] = m->disks[i].size;
    }
    return 0;
}

static int on_config(void *ctx, const char *text, size_t len, char *err, size_t errlen)
{
    (void)text, (void)err, (void)errlen;
    struct seen *s = ctx;
    if (!s->manifest || s->config || len > BACKUP_CONFIG_MAX)
        abort();
    s->config = true;
    return 0;
}

static int on_data(void *ctx, unsigned i, const void *buf, size_t len, uint64_t off, char *err, size_t errlen)
{
    struct seen *s = ctx;
    if (!s->config || i >= s->ndisks || s->ended[i] || off < s->next[i] || off > s->size[i] || len > s->size[i] - off)
        abort();
    volatile uint8_t x = 0;
    if (len)   /* every byte handed over is readable */
        x = ((const uint8_t *)buf)[0] ^ ((const uint8_t *)buf)[len - 1];
    (void)x;
    s->next[i] = off + len;
    s->total += len;
    if (s->total > DATA_LIMIT) {
        snprintf(err, errlen, "fuzz: more than %u bytes", DATA_LIMIT);
        return -1;
    }
    return 0;
}

static int on_disk_end(void *ctx, unsigned i, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct seen *s = ctx;
    if (i >= s->ndisks || s->ended[i])
        abort();
    s->ended[i] = true;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen s;
    memset(&s, 0, sizeof(s));
    const struct backup_sink sink = {&s, on_manifest, on_config, on_data, on_disk_end};
    struct backup_manifest m;
    char err[1024] = "";
    int r = backup_read_mem(data, size, &sink, &m, err, sizeof(err));
    if (r < 0 && !err[0])
        abort();
    if (r == 0) {
        /* Accepted: every disk was complete. */
        if (!s.manifest || !s.config)
            abort();
        for (unsigned i = 0; i < s.ndisks; i++)
            if (!s.ended[i])
                abort();
    }
    return 0;
}

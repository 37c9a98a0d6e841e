/* The metadata caches: L2 slices and refcount-block slices, each looked up
 * by file offset through a hash, replaced by CLOCK (clean slices first).
 * Slot buffers are allocated as slots are first used, so a cache costs
 * memory only for what the disk's workload touches, up to its bound. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

int q2c_init(struct q2_cache *c, uint32_t cap, uint32_t size, bool is_l2)
{
    memset(c, 0, sizeof(*c));
    c->cap = cap;
    c->size = size;
    c->is_l2 = is_l2;
    c->nbucket = 16;
    while (c->nbucket < 2 * cap)
        c->nbucket *= 2;
    c->s = calloc(cap, sizeof(*c->s));
    c->bucket = malloc(c->nbucket * sizeof(*c->bucket));
    if (!c->s || !c->bucket) {
        q2c_free(c);
        return -ENOMEM;
    }
    memset(c->bucket, 0xff, c->nbucket * sizeof(*c->bucket));
    return 0;
}

void q2c_free(struct q2_cache *c)
{
    for (uint32_t i = 0; c->s && i < c->used; i++)
        free(c->s[i].buf);
    free(c->s);
    free(c->bucket);
    memset(c, 0, sizeof(*c));
}

static uint32_t bucket_of(const struct q2_cache *c, uint64_t off)
{
    return (uint32_t)(((off >> 9) * 0x9e3779b97f4a7c15ull) >> 32) & (c->nbucket - 1);
}

static int32_t lookup(const struct q2_cache *c, uint64_t off)
{
    for (int32_t i = c->bucket[bucket_of(c, off)]; i >= 0; i = c->s[i].next)
        if (c->s[i].off == off)
            return i;
    return -1;
}

static void unlink_slot(struct q2_cache *c, int32_t i)
{
    int32_t *p = &c->bucket[bucket_of(c, c->s[i].off)];
    while (*p != i)
        p = &c->s[*p].next;
    *p = c->s[i].next;
    c->s[i].off = 0;
}

/* A slot to reuse: unpinned, not recently used, clean.  When only dirty
 * ones are left they are written back first; for L2 slices that is a whole
 * ordered write-back (refcounts and data must reach the disk before the L2
 * tables that depend on them). */
static int32_t evict(struct qcow2 *q, struct q2_cache *c)
{
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t n = 0; n < 2 * c->used; n++) {
            int32_t i = (int32_t)c->hand;
            c->hand = (c->hand + 1) % c->used;
            struct q2_slot *s = &c->s[i];
            if (s->pins)
                continue;
            if (s->ref) {
                s->ref = 0;
                continue;
            }
            if (s->dirty)
                continue;
            return i;
        }
        int r = c->is_l2 ? q2_writeback(q) : q2c_write_dirty(q, c);
        if (r < 0)
            return r;
    }
    return -EBUSY;
}

int q2c_get(struct qcow2 *q, struct q2_cache *c, uint64_t off, bool zero, struct q2_slot **out)
{
    int32_t i = lookup(c, off);
    if (i >= 0) {
        struct q2_slot *s = &c->s[i];
        s->pins++;
        s->ref = 1;
        *out = s;
        return 0;
    }
    i = -1;
    if (c->used < c->cap) {
        void *buf;
        if (!posix_memalign(&buf, 4096, c->size)) {
            i = (int32_t)c->used++;
            c->s[i] = (struct q2_slot){.buf = buf, .next = -1};
        }
    }
    if (i < 0) {
        if (!c->used)
            return -ENOMEM;
        i = evict(q, c);
        if (i < 0)
            return i;
        if (c->s[i].off)
            unlink_slot(c, i);
    }
    struct q2_slot *s = &c->s[i];
    if (zero) {
        memset(s->buf, 0, c->size);
    } else {
        int r = bfile_pread(q->file, s->buf, c->size, off);
        if (r < 0)
            return r;
    }
    uint32_t b = bucket_of(c, off);
    s->off = off;
    s->next = c->bucket[b];
    c->bucket[b] = i;
    s->pins = 1;
    s->ref = 1;
    s->dirty = 0;
    *out = s;
    return 0;
}

void q2c_put(struct q2_cache *c, struct q2_slot *s)
{
    (void)c;
    s->pins--;
}

void q2c_dirty(struct q2_cache *c, struct q2_slot *s)
{
    if (!s->dirty) {
        s->dirty = 1;
        c->ndirty++;
    }
}

int q2c_write_dirty(struct qcow2 *q, struct q2_cache *c)
{
    for (uint32_t i = 0; i < c->used && c->ndirty; i++) {
        struct q2_slot *s = &c->s[i];
        if (!s->dirty)
            continue;
        int r = q2_pwrite(q, s->buf, c->size, s->off);
        if (r < 0)
            return r;
        s->dirty = 0;
        c->ndirty--;
    }
    return 0;
}

void q2c_forget(struct q2_cache *c, uint64_t off, uint64_t len)
{
    for (uint64_t o = off; o < off + len; o += c->size) {
        int32_t i = lookup(c, o);
        if (i < 0)
            continue;
        struct q2_slot *s = &c->s[i];
        if (s->dirty) {
            s->dirty = 0;
            c->ndirty--;
        }
        s->ref = 0;
        memset(s->buf, 0, c->size);
    }
}

void q2c_fill(struct q2_cache *c, uint64_t off, const uint8_t *buf, uint64_t len)
{
    for (uint64_t o = 0; o < len; o += c->size) {
        int32_t i = lookup(c, off + o);
        if (i < 0)
            continue;
        struct q2_slot *s = &c->s[i];
        if (s->dirty) {
            s->dirty = 0;
            c->ndirty--;
        }
        memcpy(s->buf, buf + o, c->size);
    }
}

void q2c_reset(struct q2_cache *c)
{
    for (uint32_t i = 0; i < c->used; i++) {
        if (c->s[i].off)
            unlink_slot(c, (int32_t)i);
        c->s[i].dirty = 0;
        c->s[i].ref = 0;
    }
    c->ndirty = 0;
}

/* Refcounts and cluster allocation.  Increases go into the refcount cache
 * at once (they must reach the disk before whatever uses the cluster, and
 * the write-back writes refcounts first); decreases wait in q2_pending
 * until the reference they drop is gone on disk and no I/O mapped before
 * may still touch the cluster, so a freed cluster is never reused while a
 * table on disk or a request in flight still points to it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"
#include "util/log.h"

/* Up to this many pending decreases are remembered; past it, clusters are
 * leaked (qemu-img check -r leaks gets them back) rather than memory
 * spent. */
#define PENDING_MAX (1u << 20)

uint64_t q2_rc_load(const uint8_t *p, uint64_t bit, unsigned order)
{
    if (order < 3)
        return (p[bit >> 3] >> (bit & 7)) & ((1u << (1u << order)) - 1);
    p += bit >> 3;
    switch (order) {
    case 3: return p[0];
    case 4: return qcow2_be16(p);
    case 5: return qcow2_be32(p);
    default: return qcow2_be64(p);
    }
}

void q2_rc_store(uint8_t *p, uint64_t bit, unsigned order, uint64_t v)
{
    if (order < 3) {
        unsigned mask = ((1u << (1u << order)) - 1) << (bit & 7);
        p[bit >> 3] = (uint8_t)((p[bit >> 3] & ~mask) | ((unsigned)(v << (bit & 7)) & mask));
        return;
    }
    p += bit >> 3;
    switch (order) {
    case 3: p[0] = (uint8_t)v; break;
    case 4: qcow2_put16(p, (uint16_t)v); break;
    case 5: qcow2_put32(p, (uint32_t)v); break;
    default: qcow2_put64(p, v); break;
    }
}

/* The cached slice holding cluster c's refcount; *s NULL when c has no
 * refcount block (refcount 0). */
static int rc_locate(struct qcow2 *q, uint64_t c, struct q2_slot **s, uint64_t *bit)
{
    uint64_t i = c >> q->rb_bits;
    *s = NULL;
    if (i >= q->rt_size || !(q->rt[i] & RTE_OFFSET_MASK))
        return 0;
    uint64_t block = q->rt[i] & RTE_OFFSET_MASK;
    uint64_t b = (c & ((1ull << q->rb_bits) - 1)) << q->h.refcount_order;
    uint64_t slice_bits = (uint64_t)q->slice * 8;
    *bit = b % slice_bits;
    return q2c_get(q, &q->rcc, block + b / slice_bits * q->slice, false, s);
}

int q2_rc_get(struct qcow2 *q, uint64_t c, uint64_t *v)
{
    struct q2_slot *s;
    uint64_t bit;
    int r = rc_locate(q, c, &s, &bit);
    if (r < 0)
        return r;
    *v = s ? q2_rc_load(s->buf, bit, q->h.refcount_order) : 0;
    if (s)
        q2c_put(&q->rcc, s);
    return 0;
}

static void rt_mark(struct qcow2 *q, uint64_t i)
{
    q->rt_dirty[i / 64 / 8] |= (uint8_t)(1u << (i / 64 % 8));
    q->rt_changed = true;
}

void q2_forget_cluster(struct qcow2 *q, uint64_t c)
{
    q2c_forget(&q->l2c, c << q->cb, q->cs);
    q2c_forget(&q->rcc, c << q->cb, q->cs);
}

int q2_zero_new(struct qcow2 *q, uint64_t off, uint64_t n)
{
    if (off >= q->zero_from)
        return q2_file_cover(q, off + (n << q->cb));
    void *z = calloc(1, q->cs);
    if (!z)
        return -ENOMEM;
    int r = 0;
    for (uint64_t i = 0; i < n && !r; i++)
        r = q2_pwrite(q, z, q->cs, off + (i << q->cb));
    free(z);
    return r;
}

static int ensure_block(struct qcow2 *q, uint64_t c)
{
    uint64_t i = c >> q->rb_bits;
    if (i >= q->rt_size) {
        int r = q2_reftable_grow(q, i + 1);
        if (r < 0)
            return r;
    }
    if (q->rt[i] & RTE_OFFSET_MASK)
        return 0;
    /* A range without a block has refcount 0 everywhere: its first
     * cluster becomes the block, which then describes itself. */
    uint64_t x = i << q->rb_bits;
    if (q2_is_metadata(q, x))
        return q2_corrupt(q, "cluster %llu holds metadata but has no refcount block", (ull)x);
    if ((x + 1) << q->cb > QCOW2_MAX_HOST_OFFSET)
        return -ENOSPC;
    uint64_t off = x << q->cb;
    int r = q2_zero_new(q, off, 1);
    if (r < 0)
        return r;
    q->zero_from = q2_max(q->zero_from, off + q->cs);
    q2_forget_cluster(q, x);
    q->rt[i] = off;
    rt_mark(q, i);
    r = q2_clset_add(&q->meta, x);
    if (r < 0)
        return r;
    struct q2_slot *s;
    uint64_t bit;
    r = rc_locate(q, x, &s, &bit);
    if (r < 0)
        return r;
    q2_rc_store(s->buf, bit, q->h.refcount_order, 1);
    q2c_dirty(&q->rcc, s);
    q2c_put(&q->rcc, s);
    return 0;
}

int q2_rc_set(struct qcow2 *q, uint64_t c, uint64_t v)
{
    if (v > q->rc_max)
        return q2_corrupt(q, "refcount of cluster %llu would exceed %llu", (ull)c, (ull)q->rc_max);
    int r = ensure_block(q, c);
    if (r < 0)
        return r;
    struct q2_slot *s;
    uint64_t bit;
    r = rc_locate(q, c, &s, &bit);
    if (r < 0)
        return r;
    q2_rc_store(s->buf, bit, q->h.refcount_order, v);
    q2c_dirty(&q->rcc, s);
    q2c_put(&q->rcc, s);
    return 0;
}

/* The first cluster at or after c whose refcount is 0, scanning cached
 * slices directly (the allocator's hot loop after an open). */
static int find_free(struct qcow2 *q, uint64_t c, uint64_t *out)
{
    for (;;) {
        if ((c + 1) << q->cb > QCOW2_MAX_HOST_OFFSET)
            return -ENOSPC;
        int r = ensure_block(q, c);
        if (r < 0)
            return r;
        struct q2_slot *s;
        uint64_t bit;
        r = rc_locate(q, c, &s, &bit);
        if (r < 0)
            return r;
        uint64_t end_bit = (uint64_t)q->slice * 8, step = 1ull << q->h.refcount_order;
        /* Entries left in this slice and in this block. */
        uint64_t left = (end_bit - bit) / step;
        uint64_t in_block = (1ull << q->rb_bits) - (c & ((1ull << q->rb_bits) - 1));
        if (left > in_block)
            left = in_block;
        for (uint64_t k = 0; k < left; k++, bit += step, c++) {
            if (!q2_rc_load(s->buf, bit, q->h.refcount_order)) {
                q2c_put(&q->rcc, s);
                *out = c;
                return 0;
            }
        }
        q2c_put(&q->rcc, s);
    }
}

/* Clusters below it may be in use: a refcount table growing meanwhile
 * lays itself out after them. */
static void claim(struct qcow2 *q, uint64_t end_cluster)
{
    q->zero_from = q2_max(q->zero_from, end_cluster << q->cb);
}

int q2_alloc(struct qcow2 *q, uint64_t want, uint64_t *start, uint64_t *got, bool *fresh)
{
    uint64_t c;
    int r = find_free(q, q->free_hint, &c);
    if (r < 0)
        return r;
    q->free_hint = c;
    if (q2_is_metadata(q, c))
        return q2_corrupt(q, "cluster %llu holds metadata but its refcount is 0", (ull)c);
    bool fr = (c << q->cb) >= q->zero_from;
    r = q2_rc_set(q, c, 1);
    if (r < 0)
        return r;
    claim(q, c + 1);
    uint64_t n = 1;
    while (n < want) {
        uint64_t x = c + n, v;
        if ((x + 1) << q->cb > QCOW2_MAX_HOST_OFFSET)
            break;
        if ((r = ensure_block(q, x)) < 0 || (r = q2_rc_get(q, x, &v)) < 0)
            goto fail;
        if (v)
            break;
        if (q2_is_metadata(q, x))
            return q2_corrupt(q, "cluster %llu holds metadata but its refcount is 0", (ull)x);
        if ((r = q2_rc_set(q, x, 1)) < 0)
            goto fail;
        claim(q, x + 1);
        n++;
    }
    if (c == q->free_hint)
        q->free_hint = c + n;
    if ((r = q2_file_cover(q, (c + n) << q->cb)) < 0)
        goto fail;
    *start = c;
    *got = n;
    *fresh = fr;
    return 0;
fail:
    /* Nothing refers to them yet (ENOSPC: they would leak at every try). */
    q2_unref_now(q, c, n);
    return r;
}

int q2_alloc_end(struct qcow2 *q, uint64_t n, uint64_t *start)
{
    /* The refcount blocks the run needs go first, then the run: a block
     * placed at the start of its own range (as ensure_block does) would
     * land inside any run longer than a range. */
    for (int iter = 0; iter < 8; iter++) {
        uint64_t a = (q->zero_from + q->cs - 1) >> q->cb, nb = 0, end = 0;
        for (int it = 0;; it++) {
            end = a + nb + n;
            if (end << q->cb > QCOW2_MAX_HOST_OFFSET || it > 64)
                return -ENOSPC;
            uint64_t missing = 0;
            for (uint64_t i = a >> q->rb_bits; i <= (end - 1) >> q->rb_bits; i++)
                if (i >= q->rt_size || !(q->rt[i] & RTE_OFFSET_MASK))
                    missing++;
            if (missing == nb)
                break;
            nb = missing;
        }
        uint64_t last = (end - 1) >> q->rb_bits;
        if (last >= q->rt_size) {
            /* The table grows after everything (zero_from moves): lay the
             * run out again behind it. */
            int r = q2_reftable_grow(q, last + 1);
            if (r < 0)
                return r;
            continue;
        }
        claim(q, end);
        int r = q2_file_cover(q, end << q->cb);
        if (r < 0)
            return r;
        /* Clusters past zero_from read as zeroes: empty blocks, no write. */
        uint64_t b = a;
        for (uint64_t i = a >> q->rb_bits; i <= last; i++) {
            if (q->rt[i] & RTE_OFFSET_MASK)
                continue;
            q2_forget_cluster(q, b);
            q->rt[i] = b << q->cb;
            rt_mark(q, i);
            if ((r = q2_clset_add(&q->meta, b)) < 0)
                return r;
            b++;
        }
        for (uint64_t x = a; x < end; x++) {
            if ((r = q2_rc_set(q, x, 1)) < 0)
                return r;
        }
        *start = a + nb;
        return 0;
    }
    return q2_corrupt(q, "cannot lay out %llu clusters at the end of the image", (ull)n);
}

int q2_unref_later(struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t c0, c1;
    qcow2_clusters_of(off, len, q->cb, &c0, &c1);
    if (c1 <= c0)
        return 0;
    if (q->npend) {
        struct q2_pending *p = &q->pend[q->npend - 1];
        if (p->gen == q->meta_gen && p->epoch == q->epoch && p->c + p->n == c0) {
            p->n += c1 - c0;
            return 0;
        }
    }
    if (q->npend == q->cap_pend) {
        if (q->cap_pend >= PENDING_MAX) {
            if (!q->pend_full_logged)
                vlog_err("%s: too many clusters waiting to be freed; leaking some (qemu-img check -r leaks "
                         "recovers them)", q->path);
            q->pend_full_logged = true;
            return 0;
        }
        uint32_t cap = q->cap_pend ? q->cap_pend * 2 : 64;
        struct q2_pending *np = realloc(q->pend, cap * sizeof(*np));
        if (!np)
            return 0;   /* a leak, not an error */
        q->pend = np;
        q->cap_pend = cap;
    }
    q->pend[q->npend++] = (struct q2_pending){.c = c0, .n = c1 - c0, .gen = q->meta_gen, .epoch = q->epoch};
    return 0;
}

int q2_unref_now(struct qcow2 *q, uint64_t c, uint64_t n)
{
    uint64_t hole = 0, holes = 0;   /* a run of clusters freed, punched at once */
    int r = 0;
    for (uint64_t x = c; x < c + n; x++) {
        uint64_t v;
        r = q2_rc_get(q, x, &v);
        if (r < 0)
            break;
        if (!v) {
            r = q2_corrupt(q, "refcount of cluster %llu would drop below 0", (ull)x);
            break;
        }
        /* Callers take a table out of the metadata before freeing it; a
         * guest cluster mapped onto one (a hostile L2 entry) must not
         * free it: its bytes would be punched away under the live table. */
        if (q2_is_metadata(q, x)) {
            r = q2_corrupt(q, "cluster %llu holds metadata but is freed as guest data", (ull)x);
            break;
        }
        r = q2_rc_set(q, x, v - 1);
        if (r < 0)
            break;
        if (v - 1)
            continue;
        if (x < q->free_hint)
            q->free_hint = x;
        if (holes && hole + holes == x) {
            holes++;
            continue;
        }
        if (holes)
            bfile_punch(q->file, hole << q->cb, holes << q->cb);
        hole = x;
        holes = 1;
    }
    /* Space goes back to the host file system; where it cannot (no
     * hole punching), the cluster is reused by the next allocation. */
    if (holes)
        bfile_punch(q->file, hole << q->cb, holes << q->cb);
    return r;
}

int q2_apply_pending(struct qcow2 *q)
{
    q2_epoch_advance(q);
    uint32_t i = 0;
    int r = 0;
    for (; i < q->npend; i++) {
        struct q2_pending *p = &q->pend[i];
        if (p->gen >= q->meta_gen || p->epoch > q->drained)
            break;
        r = q2_unref_now(q, p->c, p->n);
        if (r < 0) {
            i++;
            break;
        }
    }
    if (i) {
        memmove(q->pend, q->pend + i, (q->npend - i) * sizeof(*q->pend));
        q->npend -= i;
    }
    return r;
}

static void rt_to_disk(const uint64_t *rt, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; i < n; i++)
        qcow2_put64(out + i * 8, rt[i]);
}

/* A bigger refcount table, with the new refcount blocks it needs, after
 * everything in use (so none of it can be referenced from an old table):
 * blocks and table are written and synced, then the header switches to
 * them in one sector write.  A crash before the switch leaves the old
 * table in place and the new clusters as unreferenced tail. */
int q2_reftable_grow(struct qcow2 *q, uint64_t need)
{
    uint64_t epb_bits = q->rb_bits;
    uint64_t new_n = q2_max(need, (uint64_t)q->rt_size * 2);
    uint64_t a = (q->zero_from + q->cs - 1) >> q->cb;
    uint64_t nb = 0, rtc = 0, r0 = 0, r1 = 0;
    for (int iter = 0;; iter++) {
        rtc = (new_n * 8 + q->cs - 1) >> q->cb;
        new_n = (rtc << q->cb) / 8;
        if ((rtc << q->cb) > QCOW2_MAX_REFTABLE_BYTES)
            return -ENOSPC;
        uint64_t k = nb + rtc, missing = 0;
        r0 = a >> epb_bits;
        r1 = (a + k - 1) >> epb_bits;
        for (uint64_t r = r0; r <= r1; r++)
            if (r >= q->rt_size || !(q->rt[r] & RTE_OFFSET_MASK))
                missing++;
        if (missing == nb && new_n > r1)
            break;
        nb = missing;
        new_n = q2_max(new_n, r1 + 1);
        if (iter > 64)
            return q2_corrupt(q, "cannot lay out a bigger refcount table");
    }
    uint64_t k = nb + rtc;
    if ((a + k) << q->cb > QCOW2_MAX_HOST_OFFSET)
        return -ENOSPC;

    uint64_t *nrt = calloc(new_n, sizeof(*nrt));
    uint8_t *nrt_dirty = calloc((new_n + 511) / 512, 1);
    uint8_t *blocks = calloc(nb ? nb : 1, q->cs);
    uint8_t *disk = malloc(rtc << q->cb);
    uint64_t *newblk = calloc(nb ? nb : 1, sizeof(*newblk));   /* range of each new block */
    int r = -ENOMEM;
    if (!nrt || !nrt_dirty || !blocks || !disk || !newblk)
        goto out;
    memcpy(nrt, q->rt, (uint64_t)q->rt_size * sizeof(*nrt));
    uint64_t idx = 0;
    for (uint64_t rr = r0; rr <= r1; rr++) {
        if (rr < q->rt_size && (q->rt[rr] & RTE_OFFSET_MASK))
            continue;
        newblk[idx] = rr;
        nrt[rr] = (a + idx) << q->cb;
        idx++;
    }
    for (uint64_t x = a; x < a + k; x++) {
        uint64_t rr = x >> epb_bits;
        uint64_t bit = (x & ((1ull << epb_bits) - 1)) << q->h.refcount_order;
        uint64_t j = 0;
        while (j < nb && newblk[j] != rr)
            j++;
        if (j < nb) {
            q2_rc_store(blocks + (j << q->cb), bit, q->h.refcount_order, 1);
        } else {
            r = q2_rc_set(q, x, 1);   /* an existing block: through the cache */
            if (r < 0)
                goto out;
        }
    }
    r = q2c_write_dirty(q, &q->rcc);
    if (r < 0)
        goto out;
    r = q2_file_cover(q, (a + k) << q->cb);
    if (r < 0)
        goto out;
    q->zero_from = q2_max(q->zero_from, (a + k) << q->cb);
    for (uint64_t j = 0; j < nb; j++) {
        q2_forget_cluster(q, a + j);
        r = q2_pwrite(q, blocks + (j << q->cb), q->cs, (a + j) << q->cb);
        if (r < 0)
            goto out;
    }
    memset(disk, 0, rtc << q->cb);
    rt_to_disk(nrt, new_n, disk);
    r = q2_pwrite(q, disk, rtc << q->cb, (a + nb) << q->cb);
    if (r < 0)
        goto out;
    r = q2_sync(q);
    if (r < 0)
        goto out;
    uint64_t old_off = q->h.reftable_offset, old_clusters = q->h.reftable_clusters;
    q->h.reftable_offset = (a + nb) << q->cb;
    q->h.reftable_clusters = (uint32_t)rtc;
    r = q2_header_write(q, QCOW2_OFF_REFTABLE, 12);
    if (r == 0)
        r = q2_sync(q);
    if (r < 0) {
        /* Whether the header reached the disk is unknown: stop here. */
        q->broken = true;
        goto out;
    }
    free(q->rt);
    free(q->rt_dirty);
    q->rt = nrt;
    q->rt_dirty = nrt_dirty;
    q->rt_size = (uint32_t)new_n;
    q->rt_changed = false;     /* the old dirty entries went into the new table */
    nrt = NULL;
    nrt_dirty = NULL;
    for (uint64_t j = 0; j < nb; j++) {
        r = q2_clset_add(&q->meta, a + j);
        if (r < 0)
            goto out;
    }
    r = q2_regions_build(q);
    if (r < 0)
        goto out;
    r = q2_unref_now(q, old_off >> q->cb, old_clusters);
out:
    free(nrt);
    free(nrt_dirty);
    free(blocks);
    free(disk);
    free(newblk);
    return r;
}

/* Counting references the way `qemu-img check` does (header, L1 tables,
 * L2 tables, data and compressed clusters of the active state and of
 * every snapshot, the snapshot table, the refcount table and blocks): the
 * consistency check, and the rebuild of a dirty image's refcounts
 * (lazy refcounts: QEMU repairs such an image when it opens it for
 * writing, so vireo does too). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

/* The count array is 2 bytes per cluster; past this (256 MiB of counts)
 * the image is left to qemu-img. */
#define REFS_MAX_CLUSTERS (1ull << 27)
#define COUNT_MAX 0xffffu

struct refs {
    uint16_t *cnt;
    uint64_t n;
    uint64_t limit;        /* clusters past the end of the file, and some slack */
    uint64_t bad;          /* references that are malformed or out of reach */
    char first[256];
};

static void refs_bad(struct refs *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refs_bad(struct refs *R, const char *fmt, ...)
{
    if (!R->bad++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(R->first, sizeof(R->first), fmt, ap);
        va_end(ap);
    }
}

static int refs_grow(struct refs *R, uint64_t n)
{
    if (n <= R->n)
        return 0;
    if (n > REFS_MAX_CLUSTERS)
        return -EFBIG;
    uint64_t cap = q2_min(q2_max(n, R->n * 2), REFS_MAX_CLUSTERS);
    uint16_t *c = realloc(R->cnt, cap * sizeof(*c));
    if (!c)
        return -ENOMEM;
    memset(c + R->n, 0, (cap - R->n) * sizeof(*c));
    R->cnt = c;
    R->n = cap;
    return 0;
}

/* Adds `add` references to every cluster of [off, off+len); 1 if the
 * range is out of reach (recorded as bad), 0, or -errno. */
static int refs_add(struct qcow2 *q, struct refs *R, uint64_t off, uint64_t len, uint64_t add, const char *what)
{
    uint64_t c0, c1;
    if (!len)
        return 0;
    if (off >= QCOW2_MAX_HOST_OFFSET || len > QCOW2_MAX_HOST_OFFSET - off) {
        refs_bad(R, "%s at 0x%llx is past the 56-bit limit", what, (ull)off);
        return 1;
    }
    qcow2_clusters_of(off, len, q->cb, &c0, &c1);
    if (c1 > R->limit) {
        refs_bad(R, "%s at 0x%llx is past the end of the file", what, (ull)off);
        return 1;
    }
    int r = refs_grow(R, c1);
    if (r == -EFBIG) {
        refs_bad(R, "%s at 0x%llx is too far out to count", what, (ull)off);
        return 1;
    }
    if (r < 0)
        return r;
    for (uint64_t c = c0; c < c1; c++)
        R->cnt[c] = (uint16_t)q2_min(R->cnt[c] + add, COUNT_MAX);
    return 0;
}

static int refs_inc(struct qcow2 *q, struct refs *R, uint64_t off, uint64_t len, const char *what)
{
    int r = refs_add(q, R, off, len, 1, what);
    return r < 0 ? r : 0;
}

/* The L2 tables the L1 tables point to, each with the number of L1
 * entries pointing to it: snapshots share tables, and a hostile image can
 * point every entry of every snapshot's L1 at one table, so each table is
 * read once and its entries counted that many times. */
struct l2set {
    uint64_t *key;         /* cluster + 1; 0 is empty */
    uint32_t *mult;
    uint64_t cap, n;
};

static int l2set_add(struct l2set *S, uint64_t c)
{
    if ((S->n + 1) * 2 > S->cap) {
        uint64_t cap = S->cap ? S->cap * 2 : 1024;
        uint64_t *key = calloc(cap, sizeof(*key));
        uint32_t *mult = calloc(cap, sizeof(*mult));
        if (!key || !mult) {
            free(key);
            free(mult);
            return -ENOMEM;
        }
        for (uint64_t i = 0; i < S->cap; i++) {
            if (!S->key[i])
                continue;
            uint64_t j = ((S->key[i] * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
            while (key[j])
                j = (j + 1) & (cap - 1);
            key[j] = S->key[i];
            mult[j] = S->mult[i];
        }
        free(S->key);
        free(S->mult);
        S->key = key;
        S->mult = mult;
        S->cap = cap;
    }
    uint64_t j = (((c + 1) * 0x9e3779b97f4a7c15ull) >> 17) & (S->cap - 1);
    while (S->key[j] && S->key[j] != c + 1)
        j = (j + 1) & (S->cap - 1);
    if (!S->key[j]) {
        S->key[j] = c + 1;
        S->n++;
    }
    if (S->mult[j] < COUNT_MAX)
        S->mult[j]++;
    return 0;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int count_l2(struct qcow2 *q, struct refs *R, const uint8_t *t, uint64_t mult)
{
    for (uint64_t k = 0; k < q->cs / 8; k++) {
        uint64_t e = qcow2_be64(t + k * 8);
        enum q2_type ty = q2_type_of(q, e);
        int r = 0;
        if (ty == Q2_NORMAL || ty == Q2_ZERO_ALLOC) {
            uint64_t off = e & L2E_OFFSET_MASK;
            if (off & (q->cs - 1))
                refs_bad(R, "data cluster offset 0x%llx is not aligned", (ull)off);
            else
                r = refs_add(q, R, off, q->cs, mult, "data cluster");
        } else if (ty == Q2_COMPRESSED) {
            uint64_t off, len;
            q2_compressed_range(q, e, &off, &len);
            uint64_t start = off & ~511ull;
            r = refs_add(q, R, start, ((off + len + 511) & ~511ull) - start, mult, "compressed cluster");
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int count_l1(struct qcow2 *q, struct refs *R, const uint64_t *l1, uint32_t n, struct l2set *S)
{
    for (uint32_t i = 0; i < n; i++) {
        uint64_t l2 = l1[i] & L1E_OFFSET_MASK;
        if (!l2)
            continue;
        if (l2 & (q->cs - 1)) {
            refs_bad(R, "L1 entry %u: L2 table offset 0x%llx is not aligned", i, (ull)l2);
            continue;
        }
        int r = refs_add(q, R, l2, q->cs, 1, "L2 table");
        if (r == 0)
            r = l2set_add(S, l2 >> q->cb);
        if (r < 0)
            return r;
    }
    return 0;
}

/* Every reference except those of the refcount structures themselves. */
static int count_refs(struct qcow2 *q, struct refs *R)
{
    /* A compressed cluster's last sector may end past the file (QEMU
     * does not pad it); nothing else may. */
    R->limit = ((q2_max(q->file_size, q->zero_from) + q->cs - 1) >> q->cb) + 2;
    struct l2set S = {0};
    int r = refs_inc(q, R, 0, q->cs, "header");
    if (!r)
        r = refs_inc(q, R, q->h.l1_offset, (uint64_t)q->l1_size * 8, "L1 table");
    if (!r)
        r = count_l1(q, R, q->l1, q->l1_size, &S);
    if (!r && q->h.nb_snapshots)
        r = refs_inc(q, R, q->h.snapshots_offset, q->snap_bytes, "snapshot table");
    for (uint32_t i = 0; !r && i < q->h.nb_snapshots; i++) {
        uint64_t *l1;
        const struct qcow2_snap *s = &q->snaps[i];
        r = refs_inc(q, R, s->l1_offset, (uint64_t)s->l1_size * 8, "snapshot L1 table");
        if (r || !s->l1_size)
            continue;
        uint8_t *raw = malloc((uint64_t)s->l1_size * 8);
        l1 = malloc((uint64_t)s->l1_size * 8);
        if (!raw || !l1)
            r = -ENOMEM;
        if (!r)
            r = bfile_pread(q->file, raw, (uint64_t)s->l1_size * 8, s->l1_offset);
        for (uint32_t k = 0; !r && k < s->l1_size; k++)
            l1[k] = qcow2_be64(raw + k * 8);
        if (!r)
            r = count_l1(q, R, l1, s->l1_size, &S);
        free(raw);
        free(l1);
    }
    /* Each table once, in file order. */
    uint64_t *order = r ? NULL : malloc((S.n ? S.n : 1) * 2 * sizeof(*order));
    uint8_t *buf = r ? NULL : malloc(q->cs);
    if (!r && (!order || !buf))
        r = -ENOMEM;
    uint64_t m = 0;
    for (uint64_t j = 0; !r && j < S.cap; j++) {
        if (S.key[j]) {
            order[2 * m] = S.key[j] - 1;
            order[2 * m + 1] = S.mult[j];
            m++;
        }
    }
    if (!r)
        qsort(order, m, 2 * sizeof(*order), u64_cmp);
    for (uint64_t j = 0; !r && j < m; j++) {
        r = bfile_pread(q->file, buf, q->cs, order[2 * j] << q->cb);
        if (!r)
            r = count_l2(q, R, buf, order[2 * j + 1]);
    }
    free(order);
    free(buf);
    free(S.key);
    free(S.mult);
    return r;
}

static int count_refcount_structures(struct qcow2 *q, struct refs *R)
{
    int r = refs_inc(q, R, q->h.reftable_offset, (uint64_t)q->h.reftable_clusters << q->cb, "refcount table");
    for (uint32_t i = 0; !r && i < q->rt_size; i++)
        if (q->rt[i] & RTE_OFFSET_MASK)
            r = refs_inc(q, R, q->rt[i] & RTE_OFFSET_MASK, q->cs, "refcount block");
    return r;
}

/* The copied flags of the active tables against the refcounts; fix
 * rewrites them from R's counts instead of reporting. */
static int check_copied(struct qcow2 *q, struct qcow2_check_result *res, const struct refs *fix)
{
    uint8_t *buf = malloc(q->cs);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    for (uint32_t i = 0; !r && i < q->l1_size; i++) {
        uint64_t e1 = q->l1[i], l2 = e1 & L1E_OFFSET_MASK, rc;
        if (!l2)
            continue;
        if (fix) {
            bool one = (l2 >> q->cb) < fix->n && fix->cnt[l2 >> q->cb] == 1;
            if (one != !!(e1 & OFLAG_COPIED)) {
                q->l1[i] = one ? e1 | OFLAG_COPIED : e1 & ~OFLAG_COPIED;
                q->l1_dirty[i / 64 / 8] |= (uint8_t)(1u << (i / 64 % 8));
                q->l1_changed = true;
            }
            for (uint64_t k = 0; !r && k < q->cs / 8; k++) {
                struct q2_slot *s;
                uint64_t *e8;
                r = q2_l2_slice(q, l2, ((uint64_t)i << q->l2_bits) + k, &s, &e8);
                if (r < 0)
                    break;
                uint64_t e = qcow2_be64((uint8_t *)e8);
                enum q2_type t = q2_type_of(q, e);
                if (t == Q2_NORMAL || t == Q2_ZERO_ALLOC) {
                    uint64_t c = (e & L2E_OFFSET_MASK) >> q->cb;
                    bool o = c < fix->n && fix->cnt[c] == 1;
                    if (o != !!(e & OFLAG_COPIED)) {
                        qcow2_put64((uint8_t *)e8, o ? e | OFLAG_COPIED : e & ~OFLAG_COPIED);
                        q2c_dirty(&q->l2c, s);
                    }
                }
                q2c_put(&q->l2c, s);
            }
            continue;
        }
        r = q2_rc_get(q, l2 >> q->cb, &rc);
        if (r < 0)
            break;
        if ((rc == 1) != !!(e1 & OFLAG_COPIED)) {
            if (!res->corruptions++)
                snprintf(res->first, sizeof(res->first), "L1 entry %u: copied flag %s, refcount %llu", i,
                         (e1 & OFLAG_COPIED) ? "set" : "clear", (ull)rc);
        }
        r = bfile_pread(q->file, buf, q->cs, l2);
        for (uint64_t k = 0; !r && k < q->cs / 8; k++) {
            uint64_t e = qcow2_be64(buf + k * 8);
            enum q2_type t = q2_type_of(q, e);
            if (t != Q2_NORMAL && t != Q2_ZERO_ALLOC)
                continue;
            r = q2_rc_get(q, (e & L2E_OFFSET_MASK) >> q->cb, &rc);
            if (!r && (rc == 1) != !!(e & OFLAG_COPIED) && !res->corruptions++)
                snprintf(res->first, sizeof(res->first), "L2 entry 0x%llx: copied flag %s, refcount %llu", (ull)e,
                         (e & OFLAG_COPIED) ? "set" : "clear", (ull)rc);
        }
    }
    free(buf);
    return r;
}

int qcow2_check(struct qcow2 *q, struct qcow2_check_result *res)
{
    memset(res, 0, sizeof(*res));
    q2_lock(q);
    struct refs R = {0};
    int r = q->broken ? -EIO : q2_writeback(q);
    if (!r)
        r = count_refs(q, &R);
    if (!r)
        r = count_refcount_structures(q, &R);
    if (!r && R.bad) {
        res->corruptions += R.bad;
        snprintf(res->first, sizeof(res->first), "%s", R.first);
    }
    uint64_t n = R.limit;
    for (uint64_t c = 0; !r && c < n; c++) {
        uint64_t stored, counted = c < R.n ? R.cnt[c] : 0;
        r = q2_rc_get(q, c, &stored);
        if (r < 0)
            break;
        if (stored < counted) {
            if (!res->corruptions++)
                snprintf(res->first, sizeof(res->first), "cluster %llu: refcount %llu but %llu references",
                         (ull)c, (ull)stored, (ull)counted);
        } else if (stored > counted) {
            res->leaks++;
        }
    }
    if (!r)
        r = check_copied(q, res, NULL);
    free(R.cnt);
    q2_unlock(q);
    return r;
}

int q2_repair(struct qcow2 *q, char *err, size_t errlen)
{
    if (q->h.has_bitmaps) {
        snprintf(err, errlen, "it has persistent bitmaps; repair it with 'qemu-img check -r all'");
        return -1;
    }
    struct refs R = {0};
    uint64_t *nrt = NULL;
    uint8_t *buf = NULL, *nrt_dirty = NULL;
    int r = count_refs(q, &R);
    if (r < 0) {
        snprintf(err, errlen, "%s", strerror(-r));
        goto fail;
    }
    if (R.bad) {
        snprintf(err, errlen, "%s", R.first);
        goto fail;
    }
    uint64_t a = q2_max(R.n, (q->file_size + q->cs - 1) >> q->cb);
    /* The last counted cluster, not the array's capacity. */
    while (a > 1 && a > ((q->file_size + q->cs - 1) >> q->cb) && !R.cnt[a - 1])
        a--;
    uint64_t epb = 1ull << q->rb_bits, nb = 0, rtc = 1;
    for (int it = 0; it < 64; it++) {
        uint64_t total = a + nb + rtc;
        uint64_t nr = (total + epb - 1) / epb;
        uint64_t nrtc = (nr * 8 + q->cs - 1) >> q->cb;
        if (nr == nb && nrtc == rtc)
            break;
        nb = nr;
        rtc = nrtc;
    }
    uint64_t total = a + nb + rtc;
    if ((rtc << q->cb) > QCOW2_MAX_REFTABLE_BYTES || (r = refs_grow(&R, total)) < 0) {
        snprintf(err, errlen, "the image is too large to rebuild its refcounts here");
        goto fail;
    }
    for (uint64_t c = a; c < total; c++)
        R.cnt[c] = 1;
    for (uint64_t c = 0; c < total; c++) {
        if (R.cnt[c] == COUNT_MAX || R.cnt[c] > q->rc_max) {
            snprintf(err, errlen, "cluster %llu has more references than its refcount can hold", (ull)c);
            goto fail;
        }
    }
    buf = malloc(q->cs);
    uint64_t rt_entries = (rtc << q->cb) / 8;
    nrt = calloc(rt_entries, sizeof(*nrt));
    nrt_dirty = calloc((rt_entries + 511) / 512 + 1, 1);
    if (!buf || !nrt || !nrt_dirty) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    r = q2_file_cover(q, total << q->cb);
    for (uint64_t b = 0; !r && b < nb; b++) {
        memset(buf, 0, q->cs);
        for (uint64_t c = b * epb; c < q2_min((b + 1) * epb, total); c++)
            q2_rc_store(buf, (c - b * epb) << q->h.refcount_order, q->h.refcount_order, R.cnt[c]);
        nrt[b] = (a + b) << q->cb;
        r = q2_pwrite(q, buf, q->cs, (a + b) << q->cb);
    }
    for (uint64_t t = 0; !r && t < rtc; t++) {
        memset(buf, 0, q->cs);
        for (uint64_t k = 0; k < q->cs / 8; k++)
            qcow2_put64(buf + k * 8, nrt[t * (q->cs / 8) + k]);
        r = q2_pwrite(q, buf, q->cs, (a + nb + t) << q->cb);
    }
    if (!r)
        r = q2_sync(q);
    if (!r) {
        q->h.reftable_offset = (a + nb) << q->cb;
        q->h.reftable_clusters = (uint32_t)rtc;
        r = q2_header_write(q, QCOW2_OFF_REFTABLE, 12);
    }
    if (!r)
        r = q2_sync(q);
    if (r < 0) {
        snprintf(err, errlen, "%s", strerror(-r));
        goto fail;
    }
    free(q->rt);
    free(q->rt_dirty);
    q->rt = nrt;
    q->rt_dirty = nrt_dirty;
    q->rt_size = (uint32_t)rt_entries;
    q->rt_changed = false;
    nrt = NULL;
    nrt_dirty = NULL;
    q2c_reset(&q->rcc);
    q->zero_from = q2_max(q->zero_from, total << q->cb);
    q->free_hint = 0;
    free(q->meta.slot);
    memset(&q->meta, 0, sizeof(q->meta));
    for (uint32_t i = 0; !r && i < q->l1_size; i++)
        if (q->l1[i] & L1E_OFFSET_MASK)
            r = q2_clset_add(&q->meta, (q->l1[i] & L1E_OFFSET_MASK) >> q->cb) < 0 ? -ENOMEM : 0;
    for (uint64_t b = 0; !r && b < nb; b++)
        r = q2_clset_add(&q->meta, a + b) < 0 ? -ENOMEM : 0;
    if (!r)
        r = q2_regions_build(q);
    if (!r)
        r = check_copied(q, NULL, &R);
    if (!r)
        r = q2_writeback(q);
    if (!r) {
        q->h.incompat &= ~QCOW2_INCOMPAT_DIRTY;
        r = q2_header_write(q, QCOW2_OFF_INCOMPAT, 8);
    }
    if (!r)
        r = q2_sync(q);
    if (r < 0) {
        snprintf(err, errlen, "%s", strerror(-r));
        goto fail;
    }
    free(R.cnt);
    free(buf);
    return 0;
fail:
    free(R.cnt);
    free(buf);
    free(nrt);
    free(nrt_dirty);
    return -1;
}

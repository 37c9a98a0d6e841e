/* Guest ranges to host extents through the L1 table and cached L2 slices;
 * write planning (in place, or new clusters with copy-on-write), commit,
 * and deallocation (discard, write-zeroes). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

enum q2_type q2_type_of(const struct qcow2 *q, uint64_t e)
{
    if (e & OFLAG_COMPRESSED)
        return Q2_COMPRESSED;
    uint64_t off = e & L2E_OFFSET_MASK;
    if (q->h.version >= 3 && (e & OFLAG_ZERO))
        return off ? Q2_ZERO_ALLOC : Q2_ZERO_PLAIN;
    return off ? Q2_NORMAL : Q2_UNALLOC;
}

void q2_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
    uint64_t coff = e & q->coff_mask;
    uint64_t sectors = ((e >> q->csize_shift) & q->csize_mask) + 1;
    *off = coff;
    *len = sectors * 512 - (coff & 511);
}

int q2_entry_check(struct qcow2 *q, uint64_t e, uint64_t gc)
{
    enum q2_type t = q2_type_of(q, e);
    if (t == Q2_COMPRESSED) {
        uint64_t off, len;
        q2_compressed_range(q, e, &off, &len);
        if (off + len > QCOW2_MAX_HOST_OFFSET)
            return q2_corrupt(q, "guest cluster %llu: compressed data at 0x%llx is past the 56-bit limit", (ull)gc,
                              (ull)off);
        return 0;
    }
    uint64_t off = e & L2E_OFFSET_MASK;
    if (off & (q->cs - 1))
        return q2_corrupt(q, "guest cluster %llu: data offset 0x%llx is not aligned to the cluster size", (ull)gc,
                          (ull)off);
    if (t == Q2_UNALLOC && (e & OFLAG_COPIED))
        return q2_corrupt(q, "guest cluster %llu: the copied flag is set on an unallocated cluster", (ull)gc);
    return 0;
}

static uint64_t entry_get(const uint64_t *e8)
{
    return qcow2_be64((const uint8_t *)e8);
}

static void entry_set(uint64_t *e8, uint64_t v)
{
    qcow2_put64((uint8_t *)e8, v);
}

int q2_l2_slice(struct qcow2 *q, uint64_t l2_off, uint64_t gc, struct q2_slot **s, uint64_t **entry)
{
    uint64_t idx = gc & ((1ull << q->l2_bits) - 1);
    uint64_t per = 1ull << q->slice_bits;
    int r = q2c_get(q, &q->l2c, l2_off + (idx / per) * q->slice, false, s);
    if (r < 0)
        return r;
    *entry = (uint64_t *)(*s)->buf + (idx % per);
    return 0;
}

/* Keeps one L2 slice pinned while a loop walks its entries. */
struct walker {
    struct q2_slot *s;
};

static int walk_entry(struct qcow2 *q, struct walker *w, uint64_t l2_off, uint64_t gc, uint64_t **entry)
{
    uint64_t idx = gc & ((1ull << q->l2_bits) - 1);
    uint64_t per = 1ull << q->slice_bits;
    uint64_t off = l2_off + (idx / per) * q->slice;
    if (w->s && w->s->off == off) {
        *entry = (uint64_t *)w->s->buf + (idx % per);
        return 0;
    }
    if (w->s)
        q2c_put(&q->l2c, w->s);
    w->s = NULL;
    return q2_l2_slice(q, l2_off, gc, &w->s, entry);
}

static void walk_end(struct qcow2 *q, struct walker *w)
{
    if (w->s)
        q2c_put(&q->l2c, w->s);
    w->s = NULL;
}

uint64_t q2_ticket(struct qcow2 *q)
{
    q->ecount[q->epoch & 1]++;
    return q->epoch;
}

void q2_epoch_advance(struct qcow2 *q)
{
    for (int i = 0; i < 2; i++) {
        if (q->ecount[(q->epoch - 1) & 1])
            return;
        q->drained = q->epoch - 1;
        q->epoch++;
    }
}

void qcow2_io_end(struct qcow2 *q, uint64_t ticket)
{
    q2_lock(q);
    q->ecount[ticket & 1]--;
    q2_unlock(q);
}

static bool in_disk(const struct qcow2 *q, uint64_t off, uint64_t len)
{
    return len && off < q->h.size && len <= q->h.size - off;
}

/* 0 if the image may be written. */
static int writable(const struct qcow2 *q)
{
    return q->broken ? -EIO : q->ro ? -EROFS : 0;
}

static void add_extent(struct qcow2_map *m, enum qcow2_kind kind, uint64_t off, uint64_t len, uint64_t host)
{
    if (m->n) {
        struct qcow2_extent *p = &m->ext[m->n - 1];
        if (p->kind == kind && kind != QCOW2_COMPRESSED && (kind != QCOW2_DATA || p->host + p->len == host)) {
            p->len += len;
            return;
        }
    }
    m->ext[m->n++] = (struct qcow2_extent){.kind = kind, .off = off, .len = len, .host = host};
}

/* The old content of guest [off, off+len) (inside one cluster whose L2
 * entry is e), as up to two extents. */
static unsigned old_content(struct qcow2 *q, uint64_t e, bool mapped, uint64_t off, uint64_t len,
                            struct qcow2_extent *x)
{
    enum q2_type t = mapped ? q2_type_of(q, e) : Q2_UNALLOC;
    switch (t) {
    case Q2_NORMAL:
        x[0] = (struct qcow2_extent){QCOW2_DATA, off, len, (e & L2E_OFFSET_MASK) + (off & (q->cs - 1))};
        return 1;
    case Q2_COMPRESSED:
        x[0] = (struct qcow2_extent){QCOW2_COMPRESSED, off, len, e};
        return 1;
    case Q2_ZERO_PLAIN:
    case Q2_ZERO_ALLOC:
        x[0] = (struct qcow2_extent){QCOW2_ZERO, off, len, 0};
        return 1;
    default:
        break;
    }
    uint64_t bsize = q->backing.fmt != IMG_FORMAT_NONE ? q->backing.size : 0;
    if (off >= bsize) {
        x[0] = (struct qcow2_extent){QCOW2_ZERO, off, len, 0};
        return 1;
    }
    uint64_t b = q2_min(len, bsize - off);
    x[0] = (struct qcow2_extent){QCOW2_BACKING, off, b, off};
    if (b == len)
        return 1;
    x[1] = (struct qcow2_extent){QCOW2_ZERO, off + b, len - b, 0};
    return 2;
}

int qcow2_map_read(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_map *m)
{
    m->n = 0;
    m->len = 0;
    m->ticket = 0;
    q2_lock(q);
    int r = 0;
    if (q->broken) {
        r = -EIO;
        goto out;
    }
    if (!in_disk(q, off, len)) {
        r = -EINVAL;
        goto out;
    }
    struct walker w = {0};
    uint64_t pos = off, end = off + len;
    while (pos < end && m->n < QCOW2_MAX_EXTENTS) {
        uint64_t gc = pos >> q->cb, in = pos & (q->cs - 1);
        uint64_t l2 = q->l1[gc >> q->l2_bits] & L1E_OFFSET_MASK;
        struct qcow2_extent x[2];
        unsigned nx;
        if (!l2) {
            /* No L2 table: the whole range it would map is unallocated. */
            uint64_t table_end = ((gc >> q->l2_bits) + 1) << (q->l2_bits + q->cb);
            nx = old_content(q, 0, false, pos, q2_min(end, table_end) - pos, x);
        } else {
            uint64_t *e8;
            r = walk_entry(q, &w, l2, gc, &e8);
            if (r < 0)
                break;
            uint64_t e = entry_get(e8);
            r = q2_entry_check(q, e, gc);
            if (r < 0)
                break;
            nx = old_content(q, e, true, pos, q2_min(q->cs - in, end - pos), x);
        }
        for (unsigned i = 0; i < nx && m->n < QCOW2_MAX_EXTENTS; i++) {
            add_extent(m, x[i].kind, x[i].off, x[i].len, x[i].host);
            pos += x[i].len;
        }
    }
    walk_end(q, &w);
    if (!r) {
        m->len = pos - off;
        m->ticket = q2_ticket(q);
    }
out:
    q2_unlock(q);
    return r;
}

int qcow2_compressed_span(const struct qcow2 *q, const struct qcow2_extent *e, uint64_t *host, uint32_t *len)
{
    uint64_t off, l;
    q2_compressed_range(q, e->host, &off, &l);
    *host = off;
    *len = (uint32_t)l;
    return 0;
}

/* The in-flight allocation covering guest cluster gc, if any. */
static struct qcow2_wplan *inflight_at(struct qcow2 *q, uint64_t gc, uint64_t n)
{
    for (struct qcow2_wplan *p = q->inflight; p; p = p->next)
        if (gc < p->gc + p->nc && p->gc < gc + n)
            return p;
    return NULL;
}

static void wait_on(struct qcow2_wplan *p, struct qcow2_wait *w)
{
    w->next = p->waiters;
    p->waiters = w;
}

/* The L2 slice for guest cluster gc, in a table this image may write: a
 * new table where there is none, a private copy where the table is
 * shared with a snapshot (its L1 entry lacks the copied flag). */
static int l2_writable(struct qcow2 *q, uint64_t gc, uint64_t *l2_out)
{
    uint64_t i = gc >> q->l2_bits;
    uint64_t e1 = q->l1[i], old = e1 & L1E_OFFSET_MASK;
    if (old && (e1 & OFLAG_COPIED)) {
        *l2_out = old;
        return 0;
    }
    uint64_t c, got;
    bool fresh;
    int r = q2_alloc(q, 1, &c, &got, &fresh);
    if (r < 0)
        return r;
    uint64_t noff = c << q->cb;
    q2_forget_cluster(q, c);
    if (!old) {
        r = fresh ? 0 : q2_zero_new(q, noff, 1);
    } else {
        /* Copy-on-write of a shared table: the data clusters it maps keep
         * their refcounts (each L1 table counts its references), only the
         * old table loses the active L1's one.  The copied flag says
         * whether a cluster is ours alone, from its refcount: shared ones
         * must not carry it, and a table whose L1 entry lacked the flag
         * wrongly (refcount 1) keeps it where it was right. */
        uint8_t *buf = malloc(q->cs);
        r = buf ? bfile_pread(q->file, buf, q->cs, old) : -ENOMEM;
        for (uint64_t k = 0; !r && k < q->cs / 8; k++) {
            uint64_t e = qcow2_be64(buf + k * 8) & ~OFLAG_COPIED, rc = 0;
            enum q2_type t = q2_type_of(q, e);
            if (t == Q2_NORMAL || t == Q2_ZERO_ALLOC)
                r = q2_rc_get(q, (e & L2E_OFFSET_MASK) >> q->cb, &rc);
            qcow2_put64(buf + k * 8, rc == 1 ? e | OFLAG_COPIED : e);
        }
        if (!r)
            r = q2_pwrite(q, buf, q->cs, noff);
        /* The cluster may have held an L2 table freed since, whose slices
         * are still cached (zeroed above): they must show the copy. */
        if (!r)
            q2c_fill(&q->l2c, noff, buf, q->cs);
        free(buf);
    }
    if (!r)
        r = q2_clset_add(&q->meta, c);
    if (!r && old)
        r = q2_unref_later(q, old, q->cs);
    if (r < 0) {
        q2_clset_del(&q->meta, c);
        q2_unref_now(q, c, 1);
        return r;
    }
    /* The old table is the snapshots' alone now (or free once its
     * refcount drops): not the active state's metadata any more, so its
     * cluster may be handed out again when it is freed. */
    if (old)
        q2_clset_del(&q->meta, old >> q->cb);
    q->l1[i] = noff | OFLAG_COPIED;
    q->l1_dirty[i / 64 / 8] |= (uint8_t)(1u << (i / 64 % 8));
    q->l1_changed = true;
    *l2_out = noff;
    return 0;
}

/* Drops the reference an L2 entry held (once it is gone on disk). */
static int unref_entry(struct qcow2 *q, uint64_t e)
{
    switch (q2_type_of(q, e)) {
    case Q2_NORMAL:
    case Q2_ZERO_ALLOC:
        return q2_unref_later(q, e & L2E_OFFSET_MASK, q->cs);
    case Q2_COMPRESSED: {
        uint64_t off, len;
        q2_compressed_range(q, e, &off, &len);
        uint64_t start = off & ~511ull;
        return q2_unref_later(q, start, ((off + len + 511) & ~511ull) - start);
    }
    default:
        return 0;
    }
}

static bool in_place(const struct qcow2 *q, uint64_t e)
{
    return q2_type_of(q, e) == Q2_NORMAL && (e & OFLAG_COPIED);
}

static bool reusable(const struct qcow2 *q, uint64_t e)
{
    return q2_type_of(q, e) == Q2_ZERO_ALLOC && (e & OFLAG_COPIED);
}

static bool all_zero(const struct qcow2_cow *c)
{
    for (unsigned i = 0; i < c->nsrc; i++)
        if (c->src[i].kind != QCOW2_ZERO)
            return false;
    return true;
}

int qcow2_write_prepare(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_wplan *p, struct qcow2_wait *w)
{
    memset(p, 0, sizeof(*p));
    q2_lock(q);
    int r = 0;
    struct walker wk = {0};
    if ((r = writable(q)) < 0)
        goto out;
    if (!in_disk(q, off, len)) {
        r = -EINVAL;
        goto out;
    }
    if (q->npend && (r = q2_apply_pending(q)) < 0)
        goto out;
    uint64_t gc = off >> q->cb, end = off + len;
    uint64_t last = (end - 1) >> q->cb;
    struct qcow2_wplan *busy = inflight_at(q, gc, 1);
    if (busy) {
        wait_on(busy, w);
        r = -EAGAIN;
        goto out;
    }
    uint64_t l2;
    r = l2_writable(q, gc, &l2);
    if (r < 0)
        goto out;
    uint64_t *e8;
    r = walk_entry(q, &wk, l2, gc, &e8);
    if (r < 0)
        goto out;
    uint64_t e = entry_get(e8);
    if ((r = q2_entry_check(q, e, gc)) < 0)
        goto out;
    /* The run stays in this slice: one L2 slice, one commit loop. */
    uint64_t per = 1ull << q->slice_bits;
    uint64_t slice_last = gc | (per - 1);
    uint64_t run_max = q2_min(last, slice_last) - gc + 1;
    uint64_t n = 1;

    if (in_place(q, e)) {
        uint64_t host0 = e & L2E_OFFSET_MASK;
        while (n < run_max) {
            uint64_t en = entry_get(e8 + n);
            if (!in_place(q, en) || (en & L2E_OFFSET_MASK) != host0 + (n << q->cb))
                break;
            n++;
        }
        /* Guest data never lands on metadata, nor past the file. */
        for (uint64_t k = 0; k < n; k++) {
            uint64_t hc = (host0 >> q->cb) + k;
            if (q2_is_metadata(q, hc)) {
                r = q2_corrupt(q, "guest cluster %llu maps to cluster %llu, which holds metadata", (ull)(gc + k),
                               (ull)hc);
                goto out;
            }
        }
        /* Past zero_from the file is known to read as zeroes, and new
         * tables are placed there without being written: no guest data
         * may land there first. */
        uint64_t last_host = host0 + ((n - 1) << q->cb);
        if (last_host >= q->zero_from) {
            r = q2_corrupt(q, "guest cluster %llu maps to 0x%llx, past the end of the image", (ull)(gc + n - 1),
                           (ull)last_host);
            goto out;
        }
        p->off = off;
        p->len = q2_min(end, (gc + n) << q->cb) - off;
        p->host = host0 + (off & (q->cs - 1));
        p->ticket = q2_ticket(q);
        goto out;
    }

    uint64_t hc, got = 1;
    bool fresh = false;
    if (reusable(q, e)) {
        /* A preallocated zero cluster of ours: written where it is. */
        hc = (e & L2E_OFFSET_MASK) >> q->cb;
        if (q2_is_metadata(q, hc)) {
            r = q2_corrupt(q, "guest cluster %llu maps to cluster %llu, which holds metadata", (ull)gc, (ull)hc);
            goto out;
        }
        if ((hc << q->cb) >= q->zero_from) {
            r = q2_corrupt(q, "guest cluster %llu maps to 0x%llx, past the end of the image", (ull)gc,
                           (ull)(hc << q->cb));
            goto out;
        }
        p->reuse = true;
    } else {
        while (n < run_max) {
            uint64_t en = entry_get(e8 + n);
            if (in_place(q, en) || reusable(q, en) || inflight_at(q, gc + n, 1))
                break;
            if ((r = q2_entry_check(q, en, gc + n)) < 0)
                goto out;
            n++;
        }
        r = q2_alloc(q, n, &hc, &got, &fresh);
        if (r < 0)
            goto out;
    }
    n = got;
    /* q2_alloc may have evicted our slice's neighbours, never the slice
     * (pinned); e8 stays valid. */
    uint64_t start = gc << q->cb, run_end = (gc + n) << q->cb;
    uint64_t data_end = q2_min(end, run_end);
    p->off = off;
    p->len = data_end - off;
    p->host = (hc << q->cb) + (off - start);
    if (off > start) {
        p->head.off = start;
        p->head.len = off - start;
        p->head.nsrc = old_content(q, e, true, start, off - start, p->head.src);
        p->head.skip = fresh && all_zero(&p->head);
    }
    if (data_end < run_end) {
        uint64_t el = entry_get(e8 + (n - 1));
        p->tail.off = data_end;
        p->tail.len = run_end - data_end;
        p->tail.nsrc = old_content(q, el, true, data_end, run_end - data_end, p->tail.src);
        p->tail.skip = fresh && all_zero(&p->tail);
    }
    p->alloc = true;
    p->gc = gc;
    p->nc = n;
    p->hc = hc;
    p->next = q->inflight;
    q->inflight = p;
    p->ticket = q2_ticket(q);
out:
    walk_end(q, &wk);
    q2_unlock(q);
    return r;
}

static int commit(struct qcow2 *q, struct qcow2_wplan *p)
{
    struct walker wk = {0};
    uint64_t l1e = q->l1[p->gc >> q->l2_bits];
    int r = 0;
    if (!(l1e & OFLAG_COPIED) || !(l1e & L1E_OFFSET_MASK))
        return q2_corrupt(q, "the L2 table of guest cluster %llu changed under a write", (ull)p->gc);
    for (uint64_t k = 0; k < p->nc; k++) {
        uint64_t *e8;
        r = walk_entry(q, &wk, l1e & L1E_OFFSET_MASK, p->gc + k, &e8);
        if (r < 0)
            break;
        uint64_t old = entry_get(e8), host = (p->hc + k) << q->cb;
        if (p->reuse) {
            if ((old & L2E_OFFSET_MASK) != host) {
                r = q2_corrupt(q, "guest cluster %llu changed under a write", (ull)(p->gc + k));
                break;
            }
        } else {
            if (in_place(q, old)) {
                r = q2_corrupt(q, "guest cluster %llu was allocated twice", (ull)(p->gc + k));
                break;
            }
            if ((r = unref_entry(q, old)) < 0)
                break;
        }
        entry_set(e8, host | OFLAG_COPIED);
        q2c_dirty(&q->l2c, wk.s);
    }
    walk_end(q, &wk);
    return r;
}

int qcow2_write_done(struct qcow2 *q, struct qcow2_wplan *p, int result)
{
    q2_lock(q);
    int r = 0;
    struct qcow2_wait *waiters = NULL;
    if (p->alloc) {
        for (struct qcow2_wplan **pp = &q->inflight; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                break;
            }
        }
        waiters = p->waiters;
        p->waiters = NULL;
        if (result < 0 || q->broken) {
            /* Nothing on disk refers to the reserved clusters yet. */
            if (!p->reuse && !q->broken)
                q2_unref_now(q, p->hc, p->nc);
            r = result < 0 ? result : -EIO;
        } else {
            q2_mark_written(q);
            r = commit(q, p);
        }
    } else if (result == 0) {
        q2_mark_written(q);
    } else {
        r = result;
    }
    q->ecount[p->ticket & 1]--;
    q2_unlock(q);
    q2_wake_all(waiters);
    return r;
}

int64_t qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool discard, struct qcow2_wait *w)
{
    q2_lock(q);
    int64_t ret;
    int r = 0;
    struct walker wk = {0};
    uint64_t gc = 0, gend = 0;
    if ((r = writable(q)) < 0)
        goto out;
    if (!in_disk(q, off, len) || (off & (q->cs - 1)) ||
        ((len & (q->cs - 1)) && off + len != q->h.size)) {
        r = -EINVAL;
        goto out;
    }
    if (q->npend && (r = q2_apply_pending(q)) < 0)
        goto out;
    bool has_backing = q->backing.fmt != IMG_FORMAT_NONE;
    uint64_t want;
    if (!has_backing)
        want = 0;
    else if (q->h.version >= 3)
        want = OFLAG_ZERO;
    else if (discard)
        want = 0;
    else {
        r = -ENOTSUP;
        goto out;
    }
    gc = off >> q->cb;
    gend = q2_min((off + len + q->cs - 1) >> q->cb, ((gc >> q->l2_bits) + 1) << q->l2_bits);   /* one L2 table */
    struct qcow2_wplan *busy = inflight_at(q, gc, gend - gc);
    if (busy) {
        wait_on(busy, w);
        r = -EAGAIN;
        goto out;
    }
    uint64_t l1e = q->l1[gc >> q->l2_bits];
    if ((l1e & L1E_OFFSET_MASK) || want) {
        uint64_t l2;
        r = l2_writable(q, gc, &l2);
        if (r < 0)
            goto out;
        for (uint64_t c = gc; c < gend; c++) {
            uint64_t *e8;
            r = walk_entry(q, &wk, l2, c, &e8);
            if (r < 0)
                goto out;
            uint64_t e = entry_get(e8);
            if (e == want)
                continue;
            if ((r = q2_entry_check(q, e, c)) < 0 || (r = unref_entry(q, e)) < 0)
                goto out;
            entry_set(e8, want);
            q2c_dirty(&q->l2c, wk.s);
        }
    }
out:
    walk_end(q, &wk);
    ret = r < 0 ? r : (int64_t)q2_min((gend << q->cb) - off, len);
    q2_unlock(q);
    return ret;
}

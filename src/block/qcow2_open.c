/* Opening a qcow2 image: the header, then every table validated before
 * use (L1 and refcount table entries, the snapshot table), the caches, a
 * dirty image's refcounts rebuilt, the backing chain.  Also closing, and
 * the helpers the other qcow2 files share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"
#include "util/log.h"

#define ERR(...) qcow2_errf(err, errlen, __VA_ARGS__)

/* Cache bounds: QEMU's Linux default for the L2 cache; backing images
 * are read where the overlay is not allocated, so they get less. */
#define L2_CACHE_MAX (32u << 20)
#define L2_CACHE_MAX_BACKING (8u << 20)
#define CACHE_MIN_SLICES 16u
#define RC_CACHE_MAX_SLICES 1024u

void q2_lock(struct qcow2 *q)
{
    pthread_mutex_lock(&q->lock);
}

void q2_unlock(struct qcow2 *q)
{
    pthread_mutex_unlock(&q->lock);
}

int q2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
    q2_mark_written(q);
    return bfile_pwrite(q->file, buf, len, off);
}

int q2_sync(struct qcow2 *q)
{
    uint64_t gen = q->write_gen;
    return q2_synced(q, gen, bfile_sync(q->sync_file ? q->sync_file : q->file));
}

void qcow2_set_sync_file(struct qcow2 *q, struct bfile *f)
{
    bfile_close(q->sync_file);
    q->sync_file = f;
}

int q2_synced(struct qcow2 *q, uint64_t gen, int r)
{
    if (!r) {
        /* Another fdatasync of this file failed meanwhile: Linux reports
         * a write-back error to one of two overlapping calls only. */
        if (q->broken)
            return -EIO;
        if (gen > q->sync_gen)
            q->sync_gen = gen;
        return 0;
    }
    /* What was written since the last sync may never reach the disk
     * (Linux marks pages it failed to write back clean), and a retry
     * would succeed without writing them: every metadata write after
     * this one could then point at refcounts or tables that are not
     * there.  The image on disk is consistent as of the last sync; keep
     * it so. */
    if (!q->broken)
        vlog_err("%s: fdatasync failed: %s; the image takes no more requests (what was written since the last "
                 "flush may be lost)", q->path, strerror(-r));
    q->broken = true;
    return r;
}

int q2_header_write(struct qcow2 *q, unsigned off, unsigned len)
{
    uint8_t buf[QCOW2_V3_HEADER];
    qcow2_header_encode(&q->h, buf);
    return q2_pwrite(q, buf + off, len, off);
}

int q2_corrupt(struct qcow2 *q, const char *fmt, ...)
{
    if (q->broken)
        return -EIO;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    q->broken = true;
    bool mark = !q->ro && !q->inspect && q->h.version >= 3 && !(q->h.incompat & QCOW2_INCOMPAT_CORRUPT);
    vlog_err("%s: corrupt image: %s%s", q->path, msg,
             mark ? "; marked corrupt, 'qemu-img check -r all' repairs it" : "");
    if (mark) {
        q->h.incompat |= QCOW2_INCOMPAT_CORRUPT;
        if (q2_header_write(q, QCOW2_OFF_INCOMPAT, 8) == 0)
            q2_sync(q);
    }
    return -EIO;
}

/* --- sets of metadata clusters ---------------------------------------- */

static uint32_t cl_hash(uint64_t c, uint32_t cap)
{
    return (uint32_t)((c * 0x9e3779b97f4a7c15ull) >> 32) & (cap - 1);
}

bool q2_clset_has(const struct q2_clset *s, uint64_t c)
{
    if (!s->cap)
        return false;
    for (uint32_t i = cl_hash(c, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i])
            return false;
        if (s->slot[i] == c + 1)
            return true;
    }
}

static int clset_grow(struct q2_clset *s)
{
    uint32_t cap = s->cap ? s->cap * 2 : 64;
    uint64_t *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return -ENOMEM;
    for (uint32_t i = 0; i < s->cap; i++) {
        if (!s->slot[i])
            continue;
        uint32_t j = cl_hash(s->slot[i] - 1, cap);
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = s->slot[i];
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    return 0;
}

/* 1 if c was already there. */
int q2_clset_add(struct q2_clset *s, uint64_t c)
{
    if ((s->n + 1) * 2 > s->cap && clset_grow(s) < 0)
        return -ENOMEM;
    uint32_t i = cl_hash(c, s->cap);
    for (; s->slot[i]; i = (i + 1) & (s->cap - 1))
        if (s->slot[i] == c + 1)
            return 1;
    s->slot[i] = c + 1;
    s->n++;
    return 0;
}

void q2_clset_del(struct q2_clset *s, uint64_t c)
{
    if (!s->cap)
        return;
    uint32_t m = s->cap - 1, i = cl_hash(c, s->cap);
    for (; s->slot[i] != c + 1; i = (i + 1) & m)
        if (!s->slot[i])
            return;
    /* Linear probing: move later members of the run back over the hole
     * unless that would put one before its home slot. */
    for (uint32_t j = (i + 1) & m; s->slot[j]; j = (j + 1) & m) {
        uint32_t home = cl_hash(s->slot[j] - 1, s->cap);
        if (((j - home) & m) >= ((j - i) & m)) {
            s->slot[i] = s->slot[j];
            i = j;
        }
    }
    s->slot[i] = 0;
    s->n--;
}

/* --- fixed metadata regions --------------------------------------------- */

static int region_cmp(const void *a, const void *b)
{
    const struct q2_region *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int q2_regions_build(struct qcow2 *q)
{
    uint32_t n = 4 + (uint32_t)q->h.nb_snapshots;
    struct q2_region *r = calloc(n, sizeof(*r));
    if (!r)
        return -ENOMEM;
    uint32_t k = 0;
    r[k++] = (struct q2_region){0, 1};
#define ADD(off, len) \
    do { \
        uint64_t l_ = (len); \
        if (l_) { \
            qcow2_clusters_of((off), l_, q->cb, &r[k].start, &r[k].end); \
            k++; \
        } \
    } while (0)
    ADD(q->h.l1_offset, (uint64_t)q->h.l1_size * 8);
    ADD(q->h.reftable_offset, (uint64_t)q->h.reftable_clusters << q->cb);
    ADD(q->h.snapshots_offset, q->snap_bytes);
    for (uint32_t i = 0; i < q->h.nb_snapshots; i++)
        ADD(q->snaps[i].l1_offset, (uint64_t)q->snaps[i].l1_size * 8);
#undef ADD
    qsort(r, k, sizeof(*r), region_cmp);
    uint32_t m = 0;   /* merged, so a binary search finds the one region */
    for (uint32_t i = 0; i < k; i++) {
        if (m && r[i].start <= r[m - 1].end)
            r[m - 1].end = q2_max(r[m - 1].end, r[i].end);
        else
            r[m++] = r[i];
    }
    free(q->reg);
    q->reg = r;
    q->nreg = m;
    return 0;
}

bool q2_is_metadata(const struct qcow2 *q, uint64_t c)
{
    uint32_t lo = 0, hi = q->nreg;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (c < q->reg[mid].start)
            hi = mid;
        else if (c >= q->reg[mid].end)
            lo = mid + 1;
        else
            return true;
    }
    return q2_clset_has(&q->meta, c);
}

int q2_file_cover(struct qcow2 *q, uint64_t end)
{
    if (end <= q->file_size)
        return 0;
    /* Grown in steps of an eighth (1 to 64 MiB), so allocating clusters
     * one by one does not truncate each time; close trims the rest. */
    uint64_t step = q2_min(q2_max(q->file_size / 8, 1u << 20), 64u << 20);
    uint64_t want = (q2_max(end, q->file_size + step) + q->cs - 1) & ~(q->cs - 1);
    if (want > QCOW2_MAX_HOST_OFFSET)
        want = end;
    int r = bfile_truncate(q->file, want);
    if (r == -ENOSPC || r == -EFBIG) {
        want = end;
        r = bfile_truncate(q->file, want);
    }
    if (r < 0)
        return r;
    q->file_size = want;
    q2_mark_written(q);   /* the new size must be stable before tables there are used */
    return 0;
}

/* --- opening ------------------------------------------------------------- */

static int read_table(struct qcow2 *q, uint64_t off, uint64_t n, uint64_t **out)
{
    uint8_t *raw = malloc(n ? n * 8 : 1);
    uint64_t *t = calloc(n ? n : 1, sizeof(*t));
    if (!raw || !t) {
        free(raw);
        free(t);
        return -ENOMEM;
    }
    int r = n ? bfile_pread(q->file, raw, n * 8, off) : 0;
    for (uint64_t i = 0; !r && i < n; i++)
        t[i] = qcow2_be64(raw + i * 8);
    free(raw);
    if (r < 0) {
        free(t);
        return r;
    }
    *out = t;
    return 0;
}

static bool in_region(uint64_t off, uint64_t start, uint64_t len, uint64_t cs)
{
    uint64_t end = (start + len + cs - 1) & ~(cs - 1);
    return len && off >= start && off < end;
}

/* Every pointer in the L1 and refcount tables before any is used. */
static int check_tables(struct qcow2 *q, uint64_t fsize, char *err, size_t errlen)
{
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8, rt_bytes = (uint64_t)q->h.reftable_clusters << q->cb;
    for (uint32_t i = 0; i < q->l1_size; i++) {
        uint64_t off = q->l1[i] & L1E_OFFSET_MASK;
        if (!off)
            continue;
        if (off & (q->cs - 1))
            return ERR("L1 entry %u: L2 table offset 0x%llx is not aligned to the cluster size", i, (ull)off);
        if (off >= fsize)
            return ERR("L1 entry %u: L2 table at 0x%llx is past the end of the file", i, (ull)off);
        if (off < q->cs || in_region(off, q->h.l1_offset, l1_bytes, q->cs) ||
            in_region(off, q->h.reftable_offset, rt_bytes, q->cs))
            return ERR("L1 entry %u: L2 table at 0x%llx overlaps the header, the L1 table or the refcount table",
                       i, (ull)off);
        int r = q2_clset_add(&q->meta, off >> q->cb);
        if (r < 0)
            return ERR("out of memory");
        if (r)
            return ERR("L1 entry %u: L2 table at 0x%llx is used by another L1 entry too", i, (ull)off);
    }
    for (uint32_t i = 0; i < q->rt_size; i++) {
        uint64_t e = q->rt[i], off = e & RTE_OFFSET_MASK;
        if (e & ~RTE_OFFSET_MASK)
            return ERR("refcount table entry %u (0x%llx): reserved bits set", i, (ull)e);
        if (!off)
            continue;
        if (off & (q->cs - 1))
            return ERR("refcount table entry %u: block offset 0x%llx is not aligned to the cluster size", i,
                       (ull)off);
        if (off >= fsize)
            return ERR("refcount table entry %u: block at 0x%llx is past the end of the file", i, (ull)off);
        if (off < q->cs || in_region(off, q->h.l1_offset, l1_bytes, q->cs) ||
            in_region(off, q->h.reftable_offset, rt_bytes, q->cs))
            return ERR("refcount table entry %u: block at 0x%llx overlaps the header, the L1 table or the "
                       "refcount table", i, (ull)off);
        int r = q2_clset_add(&q->meta, off >> q->cb);
        if (r < 0)
            return ERR("out of memory");
        if (r)
            return ERR("refcount table entry %u: block at 0x%llx is also another block or an L2 table", i,
                       (ull)off);
    }
    return 0;
}

static int read_snapshots(struct qcow2 *q, uint64_t fsize, char *err, size_t errlen)
{
    if (!q->h.nb_snapshots)
        return 0;
    /* QEMU leaves out the last entry's padding at the end of the file. */
    uint64_t avail = q2_min((fsize - q->h.snapshots_offset + 7) & ~7ull, QCOW2_MAX_SNAPSHOT_TABLE);
    uint64_t len = q2_min(avail, 64u << 10);
    for (;;) {
        uint8_t *buf = malloc(len + 1);
        if (!buf)
            return ERR("out of memory");
        int r = bfile_pread(q->file, buf, len, q->h.snapshots_offset);
        if (r < 0) {
            free(buf);
            return ERR("snapshot table: %s", strerror(-r));
        }
        r = qcow2_snapshots_parse(buf, len, &q->h, fsize, &q->snaps, &q->snap_bytes, err, errlen);
        free(buf);
        if (r == -2 && len < avail) {
            len = q2_min(len * 4, avail);
            continue;
        }
        if (r < 0)
            return -1;
        break;
    }
    uint64_t s = q->h.snapshots_offset, n = q->snap_bytes;
    if (in_region(q->h.l1_offset, s, n, q->cs) || in_region(s, q->h.l1_offset, (uint64_t)q->l1_size * 8, q->cs) ||
        in_region(q->h.reftable_offset, s, n, q->cs) ||
        in_region(s, q->h.reftable_offset, (uint64_t)q->h.reftable_clusters << q->cb, q->cs))
        return ERR("snapshot table at 0x%llx overlaps the L1 table or the refcount table", (ull)s);
    return 0;
}

static uint32_t l2_cache_slices(const struct qcow2 *q, const struct qcow2_open_opts *o, unsigned depth)
{
    uint64_t bytes = o->l2_cache_bytes;
    if (!bytes) {
        /* One 8-byte entry per cluster of the disk, within the bound. */
        uint64_t clusters = (q->h.size + q->cs - 1) >> q->cb;
        bytes = q2_min(clusters * 8, depth ? L2_CACHE_MAX_BACKING : L2_CACHE_MAX);
    }
    uint64_t n = bytes / q->slice;
    return (uint32_t)q2_min(q2_max(n, CACHE_MIN_SLICES), 1u << 20);
}

static void q2_free(struct qcow2 *q)
{
    q2_close_backing(q);
    q2c_free(&q->l2c);
    q2c_free(&q->rcc);
    free(q->l1);
    free(q->l1_dirty);
    free(q->rt);
    free(q->rt_dirty);
    free(q->snaps);
    free(q->reg);
    free(q->meta.slot);
    free(q->pend);
    free(q->path);
    free(q->chain_error);
    free(q->backing_path);
    pthread_mutex_destroy(&q->lock);
    free(q);
}

int q2_open_depth(struct qcow2 **out, struct bfile *file, const char *path, const struct qcow2_open_opts *o,
                  unsigned depth, const char *chain, const struct bfile **ancestors, char *err, size_t errlen)
{
    char why[512];
    /* Messages name the chain down to this image. */
    const char *name = chain ? chain : path;
    uint64_t fsize;
    int r = bfile_size(file, &fsize);
    if (r < 0)
        return ERR("%s: %s", name, strerror(-r));
    struct qcow2_header h;
    size_t len = 4096, need = 0;
    uint8_t *buf = NULL;
    for (;;) {
        uint8_t *nb = realloc(buf, len);
        if (!nb) {
            free(buf);
            return ERR("%s: out of memory", name);
        }
        buf = nb;
        r = bfile_pread(file, buf, len, 0);
        if (r < 0) {
            free(buf);
            return ERR("%s: %s", name, strerror(-r));
        }
        r = qcow2_header_parse(buf, len, fsize, &h, &need, why, sizeof(why));
        if (r != 1)
            break;
        len = need;
    }
    free(buf);
    if (r < 0)
        return ERR("%s: %s", name, why);

    struct qcow2 *q = calloc(1, sizeof(*q));
    if (!q)
        return ERR("%s: out of memory", name);
    pthread_mutex_init(&q->lock, NULL);
    q->h = h;
    q->path = strdup(path);
    q->ro = o->read_only || o->inspect;
    q->inspect = o->inspect;
    if (qcow2_header_features(&h, o->inspect, why, sizeof(why)) < 0) {
        if (!o->inspect) {
            ERR("%s: %s", name, why);
            goto fail;
        }
        snprintf(q->unsupported, sizeof(q->unsupported), "%s", why);
    }
    q->cb = h.cluster_bits;
    q->cs = 1ull << q->cb;
    q->l2_bits = q->cb - 3;
    q->slice = (uint32_t)q2_min(q->cs, 4096);
    q->slice_bits = (uint32_t)__builtin_ctz(q->slice / 8);
    q->rb_bits = q->cb + 3 - h.refcount_order;
    q->rc_max = h.refcount_order == 6 ? UINT64_MAX : (1ull << (1u << h.refcount_order)) - 1;
    q->csize_shift = 62 - (q->cb - 8);
    q->csize_mask = (1ull << (q->cb - 8)) - 1;
    q->coff_mask = (1ull << q->csize_shift) - 1;
    q->file = file;
    q->file_size = fsize;
    q->zero_from = fsize;
    q->meta_gen = 1;
    q->epoch = 1;
    q->l1_size = h.l1_size;
    q->rt_size = (uint32_t)(((uint64_t)h.reftable_clusters << q->cb) / 8);
    if (!q->path || read_table(q, h.l1_offset, q->l1_size, &q->l1) < 0 ||
        read_table(q, h.reftable_offset, q->rt_size, &q->rt) < 0) {
        ERR("%s: cannot read the L1 and refcount tables", name);
        goto fail;
    }
    q->l1_dirty = calloc((q->l1_size + 511) / 512 + 1, 1);
    q->rt_dirty = calloc((q->rt_size + 511) / 512 + 1, 1);
    if (!q->l1_dirty || !q->rt_dirty) {
        ERR("%s: out of memory", name);
        goto fail;
    }
    if (check_tables(q, fsize, why, sizeof(why)) < 0 || read_snapshots(q, fsize, why, sizeof(why)) < 0) {
        ERR("%s: %s", name, why);
        goto fail;
    }
    if (q2_regions_build(q) < 0) {
        ERR("%s: out of memory", name);
        goto fail;
    }
    uint32_t l2n = l2_cache_slices(q, o, depth);
    uint32_t rcn = q->ro ? CACHE_MIN_SLICES : (uint32_t)q2_min(q2_max(l2n / 4, CACHE_MIN_SLICES), RC_CACHE_MAX_SLICES);
    if (q2c_init(&q->l2c, l2n, q->slice, true) < 0 || q2c_init(&q->rcc, rcn, q->slice, false) < 0) {
        ERR("%s: out of memory", name);
        goto fail;
    }
    if (!q->ro && (h.incompat & QCOW2_INCOMPAT_DIRTY)) {
        /* QEMU rebuilds the refcounts of a dirty image opened for writing
         * (lazy refcounts left them stale); so does vireo. */
        if (q2_repair(q, why, sizeof(why)) < 0) {
            ERR("%s: the dirty bit is set and the refcounts cannot be rebuilt: %s", name, why);
            goto fail;
        }
    }
    if (!q->ro && q->h.version >= 3 && q->h.autoclear) {
        /* Bitmaps and the like are not kept up to date here: their
         * auto-clear bits say so to the next reader. */
        q->h.autoclear = 0;
        if (q2_header_write(q, QCOW2_OFF_AUTOCLEAR, 8) < 0 || q2_sync(q) < 0) {
            ERR("%s: cannot update the header", name);
            goto fail;
        }
    }
    if (h.has_backing) {
        if (o->no_backing && !o->inspect) {
            ERR("%s: names the backing file '%s', and backing files are refused for this disk", name, h.backing);
            qcow2_err_printable(err, errlen);
            goto fail;
        }
        if (q2_open_backing(q, o, depth, chain ? chain : path, ancestors, err, errlen) < 0)
            goto fail;
    }
    *out = q;
    return 0;
fail:
    q->file = NULL;   /* still the caller's */
    q2_free(q);
    return -1;
}

int qcow2_open(struct qcow2 **out, struct bfile *file, const char *path, const struct qcow2_open_opts *o,
               char *err, size_t errlen)
{
    static const struct qcow2_open_opts defaults;
    return q2_open_depth(out, file, path, o ? o : &defaults, 0, NULL, NULL, err, errlen);
}

int qcow2_close(struct qcow2 *q)
{
    if (!q)
        return 0;
    int r = 0;
    if (!q->ro && !q->broken) {
        r = q2_writeback(q);
        if (!r)
            r = q2_apply_pending(q);
        if (!r)
            r = q2_writeback(q);
        /* Give back what the file grew ahead of allocation. */
        if (!r && q->file_size > q->zero_from && !bfile_truncate(q->file, q->zero_from))
            q->file_size = q->zero_from;
        if (!r)
            r = q2_sync(q);
    }
    bfile_close(q->file);
    q->file = NULL;
    qcow2_set_sync_file(q, NULL);
    q2_free(q);
    return r;
}

const struct qcow2_link *qcow2_backing(const struct qcow2 *q)
{
    return &q->backing;
}

struct bfile *qcow2_file(const struct qcow2 *q)
{
    return q->file;
}

uint64_t qcow2_size(const struct qcow2 *q)
{
    return q->h.size;
}

uint32_t qcow2_cluster_size(const struct qcow2 *q)
{
    return (uint32_t)q->cs;
}

bool qcow2_read_only(const struct qcow2 *q)
{
    return q->ro;
}

void qcow2_get_info(const struct qcow2 *q, struct qcow2_info *i)
{
    memset(i, 0, sizeof(*i));
    i->version = q->h.version;
    i->size = q->h.size;
    i->cluster_size = (uint32_t)q->cs;
    i->refcount_bits = 1u << q->h.refcount_order;
    i->compression = q->h.compression_type == QCOW2_COMPRESSION_ZSTD ? "zstd" : "zlib";
    i->dirty = q->h.incompat & QCOW2_INCOMPAT_DIRTY;
    i->corrupt = q->h.incompat & QCOW2_INCOMPAT_CORRUPT;
    i->lazy_refcounts = q->h.compat & QCOW2_COMPAT_LAZY_REFCOUNTS;
    i->snapshots = q->h.nb_snapshots;
    i->backing_name = q->h.has_backing ? q->h.backing : NULL;
    i->backing_fmt = q->h.has_backing_fmt ? q->h.backing_fmt : NULL;
    i->backing_path = q->backing_path;
    i->unsupported = q->unsupported[0] ? q->unsupported : NULL;
    i->chain_error = q->chain_error;
}

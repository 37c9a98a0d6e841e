#include "microscope/agg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ms_agg_init(struct ms_agg *a, uint64_t bucket_ns)
{
    memset(a, 0, sizeof(*a));
    a->bucket_ns = bucket_ns;
}

void ms_agg_free(struct ms_agg *a)
{
    for (size_t i = 0; i < a->nseries; i++)
        free(a->series[i].pts);
    free(a->series);
    free(a->index);
    memset(a, 0, sizeof(*a));
}

static size_t slot_of(uint32_t tid, uint32_t dev, uint32_t kind, size_t cap)
{
    uint64_t h = ((uint64_t)tid * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)dev * 0xC2B2AE3D27D4EB4Full) ^ kind;
    h ^= h >> 29;
    return (size_t)(h & (cap - 1));
}

static int grow_index(struct ms_agg *a)
{
    size_t cap = a->index_cap ? a->index_cap * 2 : 256;
    uint32_t *idx = malloc(cap * sizeof(*idx));
    if (!idx)
        return -1;
    memset(idx, 0xff, cap * sizeof(*idx));
    for (size_t i = 0; i < a->nseries; i++) {
        const struct ms_series *s = &a->series[i];
        size_t k = slot_of(s->tid, s->dev, s->kind, cap);
        while (idx[k] != UINT32_MAX)
            k = (k + 1) & (cap - 1);
        idx[k] = (uint32_t)i;
    }
    free(a->index);
    a->index = idx;
    a->index_cap = cap;
    return 0;
}

static struct ms_series *series_for(struct ms_agg *a, uint32_t tid, uint32_t dev, uint32_t kind)
{
    if ((a->nseries + 1) * 2 > a->index_cap && grow_index(a) < 0)
        return NULL;
    size_t k = slot_of(tid, dev, kind, a->index_cap);
    while (a->index[k] != UINT32_MAX) {
        struct ms_series *s = &a->series[a->index[k]];
        if (s->tid == tid && s->dev == dev && s->kind == kind)
            return s;
        k = (k + 1) & (a->index_cap - 1);
    }
    if (a->nseries == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct ms_series *n = realloc(a->series, cap * sizeof(*n));
        if (!n)
            return NULL;
        a->series = n;
        a->cap = cap;
    }
    struct ms_series *s = &a->series[a->nseries];
    memset(s, 0, sizeof(*s));
    s->tid = tid;
    s->dev = dev;
    s->kind = kind;
    a->index[k] = (uint32_t)a->nseries++;
    return s;
}

static struct ms_point *new_point(struct ms_series *s)
{
    if (s->npts == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        struct ms_point *p = realloc(s->pts, cap * sizeof(*p));
        if (!p)
            return NULL;
        s->pts = p;
        s->cap = cap;
    }
    return &s->pts[s->npts++];
}

static void span_add(struct ms_agg *a, uint64_t t_ns)
{
    if (!a->first_ns || t_ns < a->first_ns)
        a->first_ns = t_ns;
    if (t_ns + a->bucket_ns > a->last_ns)
        a->last_ns = t_ns + a->bucket_ns;
}

int ms_agg_add(struct ms_agg *a, const struct ms_sample *smp)
{
    struct ms_series *s = series_for(a, smp->tid, smp->dev, smp->kind);
    if (!s)
        return -1;
    s->threads = 1;
    /* The latest name wins: a task that exec()s keeps its tid. */
    if (smp->comm[0] && strcmp(smp->comm, "?"))
        memcpy(s->comm, smp->comm, sizeof(s->comm));
    if (smp->pid)
        s->pid = smp->pid;
    if (smp->devname[0])
        memcpy(s->devname, smp->devname, sizeof(s->devname));
    if (smp->cgroup)
        s->cgroup = smp->cgroup;
    ms_val_add(&s->total, &smp->v);
    struct ms_point *p = new_point(s);
    if (!p)
        return -1;
    p->t_ns = smp->t_ns;
    p->rd_bytes = smp->v.rd_bytes;
    p->wr_bytes = smp->v.wr_bytes;
    p->bytes = smp->v.rd_bytes + smp->v.wr_bytes;
    p->inflight_ns = smp->v.inflight_ns;
    p->share_ns = smp->v.share_ns;
    p->ops = smp->v.rd_ops + smp->v.wr_ops + smp->v.other_ops;
    span_add(a, smp->t_ns);
    return 0;
}

int ms_agg_merge(struct ms_agg *a, const struct ms_series *s, uint32_t tid, const char *vm)
{
    struct ms_series *d = series_for(a, tid, s->dev, s->kind);
    if (!d)
        return -1;
    if (!d->threads) { /* new */
        d->pid = vm ? tid : s->pid;
        d->cgroup = s->cgroup;
        memcpy(d->comm, s->comm, sizeof(d->comm));
        memcpy(d->devname, s->devname, sizeof(d->devname));
        if (vm)
            snprintf(d->vm, sizeof(d->vm), "%s", vm);
    }
    d->threads += s->threads ? s->threads : 1;
    ms_val_add(&d->total, &s->total);
    for (size_t i = 0; i < s->npts; i++) {
        struct ms_point *p = new_point(d);
        if (!p)
            return -1;
        *p = s->pts[i];
        span_add(a, p->t_ns);
    }
    return 0;
}

static int by_time(const void *x, const void *y)
{
    const struct ms_point *a = x, *b = y;
    return a->t_ns < b->t_ns ? -1 : a->t_ns > b->t_ns;
}

void ms_agg_finish(struct ms_agg *a)
{
    for (size_t i = 0; i < a->nseries; i++) {
        struct ms_series *s = &a->series[i];
        if (!s->npts)
            continue;
        qsort(s->pts, s->npts, sizeof(*s->pts), by_time);
        size_t o = 0;
        for (size_t j = 1; j < s->npts; j++) {
            struct ms_point *d = &s->pts[o], *p = &s->pts[j];
            if (p->t_ns == d->t_ns) {
                d->bytes += p->bytes;
                d->rd_bytes += p->rd_bytes;
                d->wr_bytes += p->wr_bytes;
                d->inflight_ns += p->inflight_ns;
                d->share_ns += p->share_ns;
                d->ops += p->ops;
            } else {
                s->pts[++o] = *p;
            }
        }
        s->npts = o + 1;
    }
}

static int active(const struct ms_point *p)
{
    return p->bytes || p->inflight_ns || p->ops;
}

size_t ms_series_bursts(const struct ms_series *s, uint64_t bucket_ns, uint64_t gap_ns, uint64_t min_bytes,
                        struct ms_burst **out)
{
    struct ms_burst *b = NULL, cur = {0};
    size_t n = 0, cap = 0;
    int open = 0;
    for (size_t i = 0; i <= s->npts; i++) {
        const struct ms_point *p = i < s->npts ? &s->pts[i] : NULL;
        if (p && !active(p))
            continue;
        if (open && p && p->t_ns <= cur.end_ns + gap_ns) {
            cur.end_ns = p->t_ns + bucket_ns;
            cur.bytes += p->bytes;
            cur.ops += p->ops;
            if (p->bytes > cur.peak_bucket_bytes)
                cur.peak_bucket_bytes = p->bytes;
            continue;
        }
        if (open && cur.bytes >= min_bytes) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct ms_burst *nb = realloc(b, cap * sizeof(*nb));
                if (!nb) {
                    free(b);
                    *out = NULL;
                    return 0;
                }
                b = nb;
            }
            b[n++] = cur;
        }
        open = p != NULL;
        if (p)
            cur = (struct ms_burst){p->t_ns, p->t_ns + bucket_ns, p->bytes, p->ops, p->bytes};
    }
    *out = b;
    return n;
}

void ms_series_intensity(const struct ms_series *s, uint64_t window_ns, struct ms_intensity *out)
{
    memset(out, 0, sizeof(*out));
    if (!window_ns)
        return;
    uint64_t share = 0, bytes = 0, best_share = 0, best_bytes = 0;
    size_t lo = 0;
    /* Windows start at each point; [t, t + window) holds points lo..hi. */
    for (size_t hi = 0; hi < s->npts; hi++) {
        share += s->pts[hi].share_ns;
        bytes += s->pts[hi].bytes;
        while (s->pts[hi].t_ns >= s->pts[lo].t_ns + window_ns) {
            share -= s->pts[lo].share_ns;
            bytes -= s->pts[lo].bytes;
            lo++;
        }
        if (share > best_share) {
            best_share = share;
            out->peak_share_at = s->pts[lo].t_ns;
        }
        if (bytes > best_bytes)
            best_bytes = bytes;
    }
    out->peak_share = (double)best_share / (double)window_ns;
    out->peak_rate = (double)best_bytes * 1e9 / (double)window_ns;
}

#include "virtio/balloon.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/iov.h"
#include "util/log.h"

#define NQUEUES 4
/* Linux sends at most 256 PFNs per buffer; a longer one is cut here so a
 * single chain cannot hold the loop for long. */
#define MAX_PFNS_PER_CHAIN 4096
#define PFN_BATCH 256
/* Linux sends the ten tags it knows once each; more entries are refused. */
#define MAX_STAT_ENTRIES 64
#define STAT_ENTRY_LEN 10   /* le16 tag, le64 value, packed */

enum role { ROLE_INFLATE, ROLE_DEFLATE, ROLE_STATS, ROLE_REPORTING, ROLE_NONE };

struct bq {
    struct vballoon *b;
    unsigned index;            /* the transport's queue number */
    enum role role;
    struct vq vq;
    int kick;
    struct el_watch w;
    bool on;
};

struct region_pages {
    uint64_t gpa;
    uint64_t pages;            /* whole 4 KiB pages in the region */
    _Atomic uint64_t *bits;    /* set: in the balloon */
};

struct vballoon {
    struct virtio_dev dev;     /* first: the transport's handle */
    struct vballoon_opts opts;
    char name[32];
    const struct memmap *mem;
    struct event_loop *loop;
    struct bq q[NQUEUES];
    struct vq_elem elem;       /* the loop's scratch chain */
    unsigned nregions;
    struct region_pages reg[MEMMAP_MAX_REGIONS];
    uint64_t ram_pages;
    _Atomic uint32_t target, actual;
    /* The statistics chain the device holds until it wants fresh figures
     * (the loop's). */
    bool stats_held;
    uint16_t stats_head;
    pthread_mutex_t lock;      /* cnt and gs, read by other threads */
    struct vballoon_counters cnt;
    struct vballoon_guest_stats gs;
    struct vlog_ratelimit log;
};

/* ---- the balloon's pages ---- */

static struct region_pages *page_of(struct vballoon *b, uint64_t gpa, uint64_t *idx)
{
    for (unsigned i = 0; i < b->nregions; i++) {
        struct region_pages *r = &b->reg[i];
        if (gpa >= r->gpa && (gpa - r->gpa) / VBALLOON_PAGE_SIZE < r->pages) {
            *idx = (gpa - r->gpa) / VBALLOON_PAGE_SIZE;
            return r;
        }
    }
    return NULL;
}

/* Sets or clears the page's bit; returns its old value. */
static bool page_mark(struct region_pages *r, uint64_t idx, bool in)
{
    uint64_t bit = 1ULL << (idx % 64);
    uint64_t old = in ? atomic_fetch_or(&r->bits[idx / 64], bit) : atomic_fetch_and(&r->bits[idx / 64], ~bit);
    return old & bit;
}

static void clear_balloon(struct vballoon *b)
{
    for (unsigned i = 0; i < b->nregions; i++)
        for (uint64_t w = 0; w < (b->reg[i].pages + 63) / 64; w++)
            atomic_store(&b->reg[i].bits[w], 0);
    pthread_mutex_lock(&b->lock);
    b->cnt.ballooned_pages = 0;
    pthread_mutex_unlock(&b->lock);
    atomic_store(&b->actual, 0);
}

bool vballoon_page_ballooned(struct vballoon *b, uint64_t gpa)
{
    uint64_t idx;
    struct region_pages *r = page_of(b, gpa, &idx);
    return r && (atomic_load(&r->bits[idx / 64]) >> (idx % 64)) & 1;
}

/* ---- inflate and deflate ---- */

/* A run of pages contiguous in the host's mapping, discarded at once;
 * within one region (memmap_alloc lays regions end to end in one mapping,
 * but memmap_discard takes one region at a time). */
struct run {
    const struct region_pages *reg;
    uint8_t *host;
    uint64_t len;
};

static void run_flush(struct vballoon *b, struct run *run, struct vballoon_counters *d)
{
    if (run->len && memmap_discard(b->mem, run->host, run->len) < 0) {
        d->discard_errors++;
        vlog_ratelimited(&b->log, "%s: cannot give %llu bytes of guest RAM back to the host", b->name,
                         (unsigned long long)run->len);
    }
    run->len = 0;
}

static void take_pfn(struct vballoon *b, uint32_t pfn, bool inflate, struct run *run, struct vballoon_counters *d)
{
    uint64_t gpa = (uint64_t)pfn * VBALLOON_PAGE_SIZE, idx;
    struct region_pages *r = page_of(b, gpa, &idx);
    uint8_t *host = r ? memmap_ptr(b->mem, gpa, VBALLOON_PAGE_SIZE) : NULL;
    if (!host) {
        d->bad_pfns++;
        return;
    }
    if (!inflate) {
        /* Nothing to do for the memory: it faults back in on first touch. */
        if (page_mark(r, idx, false))
            d->deflated++;
        else
            d->deflate_unknown++;
        return;
    }
    if (page_mark(r, idx, true)) {
        d->inflate_repeats++;
        return;
    }
    d->inflated++;
    if (run->len && run->reg == r && run->host + run->len == host) {
        run->len += VBALLOON_PAGE_SIZE;
        return;
    }
    run_flush(b, run, d);
    run->reg = r;
    run->host = host;
    run->len = VBALLOON_PAGE_SIZE;
}

static void pfn_chain(struct vballoon *b, const struct vq_elem *e, bool inflate, struct vballoon_counters *d)
{
    uint64_t n = e->out_len / 4;
    if (e->out_len % 4 || e->in_len || n > MAX_PFNS_PER_CHAIN)
        d->bad_buffers++;
    if (n > MAX_PFNS_PER_CHAIN)
        n = MAX_PFNS_PER_CHAIN;
    struct run run = {0};
    uint32_t pfns[PFN_BATCH];
    for (uint64_t done = 0; done < n;) {
        size_t k = n - done < PFN_BATCH ? (size_t)(n - done) : PFN_BATCH;
        /* Copied out first: the guest may rewrite the buffer meanwhile. */
        iov_to_buf(e->iov, e->out_num, (size_t)done * 4, pfns, k * 4);
        for (size_t i = 0; i < k; i++)
            take_pfn(b, pfns[i], inflate, &run, d);
        done += k;
    }
    run_flush(b, &run, d);
}

/* ---- statistics ---- */

static void stats_chain(struct vballoon *b, const struct vq_elem *e, struct vballoon_counters *d)
{
    uint64_t n = e->out_len / STAT_ENTRY_LEN;
    if (e->out_len % STAT_ENTRY_LEN || e->in_len || n > MAX_STAT_ENTRIES)
        d->bad_buffers++;
    if (n > MAX_STAT_ENTRIES)
        n = MAX_STAT_ENTRIES;
    struct vballoon_guest_stats s = {0};
    for (uint64_t i = 0; i < n; i++) {
        uint8_t ent[STAT_ENTRY_LEN];
        iov_to_buf(e->iov, e->out_num, (size_t)i * STAT_ENTRY_LEN, ent, sizeof(ent));
        uint16_t tag;
        uint64_t val;
        memcpy(&tag, ent, 2);
        memcpy(&val, ent + 2, 8);
        if (tag >= VBALLOON_S_NR) {
            d->stats_unknown_tags++;   /* a newer driver's, or garbage */
            continue;
        }
        s.val[tag] = val;
        s.valid |= 1u << tag;
    }
    pthread_mutex_lock(&b->lock);
    s.updates = b->gs.updates + 1;
    b->gs = s;
    pthread_mutex_unlock(&b->lock);
}

/* ---- free-page reporting ---- */

static void report_chain(struct vballoon *b, const struct vq_elem *e, struct vballoon_counters *d)
{
    d->reports++;
    /* Linux posts the reported ranges device-writable; either direction
     * is guest RAM vq_pop has checked. */
    for (unsigned i = 0; i < e->out_num + e->in_num; i++) {
        int64_t r = memmap_discard(b->mem, e->iov[i].iov_base, e->iov[i].iov_len);
        if (r < 0) {
            d->discard_errors++;
            vlog_ratelimited(&b->log, "%s: cannot give a reported range back to the host", b->name);
        } else if (r == 0) {
            d->report_small++;
        } else {
            d->reported_bytes += (uint64_t)r;
        }
    }
}

/* ---- queues ---- */

static void add_counters(struct vballoon *b, const struct vballoon_counters *d)
{
    pthread_mutex_lock(&b->lock);
    b->cnt.inflated += d->inflated;
    b->cnt.deflated += d->deflated;
    b->cnt.ballooned_pages = b->cnt.ballooned_pages + d->inflated - d->deflated;
    b->cnt.bad_pfns += d->bad_pfns;
    b->cnt.inflate_repeats += d->inflate_repeats;
    b->cnt.deflate_unknown += d->deflate_unknown;
    b->cnt.discard_errors += d->discard_errors;
    b->cnt.bad_buffers += d->bad_buffers;
    b->cnt.stats_unknown_tags += d->stats_unknown_tags;
    b->cnt.reports += d->reports;
    b->cnt.reported_bytes += d->reported_bytes;
    b->cnt.report_small += d->report_small;
    pthread_mutex_unlock(&b->lock);
}

static void queue_work(struct bq *q)
{
    struct vballoon *b = q->b;
    struct vq_elem *e = &b->elem;
    struct vballoon_counters d = {0};
    bool pushed = false;
    if (!q->on || q->vq.broken)
        return;   /* reported once; waits for the reset */
    for (;;) {
        int r = vq_pop(&q->vq, e);
        if (r == 0) {
            if (vq_enable_kicks(&q->vq))
                continue;
            break;
        }
        if (r < 0) {
            b->dev.broken(b->dev.transport, q->vq.why ? q->vq.why : "bad queue");
            break;
        }
        switch (q->role) {
        case ROLE_INFLATE:
        case ROLE_DEFLATE:
            pfn_chain(b, e, q->role == ROLE_INFLATE, &d);
            break;
        case ROLE_STATS:
            stats_chain(b, e, &d);
            /* Kept until the host wants fresh figures; a driver posting a
             * second one gets the first back. */
            if (b->stats_held) {
                vq_push(&q->vq, b->stats_head, 0);
                pushed = true;
            }
            b->stats_held = true;
            b->stats_head = e->head;
            continue;
        case ROLE_REPORTING:
            report_chain(b, e, &d);
            break;
        case ROLE_NONE:
            break;
        }
        vq_push(&q->vq, e->head, 0);
        pushed = true;
    }
    if (d.bad_pfns || d.bad_buffers)
        vlog_ratelimited(&b->log, "%s: the guest sent %llu page numbers outside its RAM and %llu malformed buffers",
                         b->name, (unsigned long long)d.bad_pfns, (unsigned long long)d.bad_buffers);
    add_counters(b, &d);
    if (pushed && vq_should_notify(&q->vq))
        b->dev.notify(b->dev.transport, q->index);
}

static void on_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct bq *q = opaque;
    uint64_t v;
    (void)!read(q->kick, &v, sizeof(v));
    queue_work(q);
}

/* Queue numbers follow the features the driver accepted: inflateq,
 * deflateq, then statsq and reporting_vq only if negotiated, each taking
 * the next number, as Linux numbers them (free_page_vq, not offered,
 * would come before reporting_vq). */
static enum role role_of(const struct vballoon *b, unsigned index)
{
    enum role roles[NQUEUES] = {ROLE_INFLATE, ROLE_DEFLATE, ROLE_NONE, ROLE_NONE};
    unsigned n = 2;
    if (b->dev.features & BIT(VIRTIO_BALLOON_F_STATS_VQ))
        roles[n++] = ROLE_STATS;
    if (b->dev.features & BIT(VIRTIO_BALLOON_F_REPORTING))
        roles[n++] = ROLE_REPORTING;
    return index < n ? roles[index] : ROLE_NONE;
}

struct qcall {
    struct vballoon *b;
    unsigned q;
    int ret;
    const struct vq *vq;
    int kick;
};

static void start_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct bq *q = &a->b->q[a->q];
    q->vq = *a->vq;
    q->kick = a->kick;
    a->ret = event_loop_add(a->b->loop, &q->w, q->kick, EPOLLIN, on_kick, q);
    q->on = a->ret == 0;
    if (q->on)
        queue_work(q);
}

static int balloon_queue_start(struct virtio_dev *d, unsigned qi, const struct vq *vq, int kick_fd)
{
    struct vballoon *b = (struct vballoon *)d;
    if (qi >= NQUEUES)
        return -1;
    enum role role = role_of(b, qi);
    if (role == ROLE_NONE)
        return -1;
    b->q[qi].role = role;
    struct qcall a = {b, qi, -1, vq, kick_fd};
    event_loop_call(b->loop, start_on_loop, &a);
    return a.ret;
}

static void stop_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct vballoon *b = a->b;
    struct bq *q = &b->q[a->q];
    if (q->on)
        event_loop_del(b->loop, &q->w);
    q->on = false;
    if (q->role == ROLE_STATS)
        b->stats_held = false;   /* the reset takes the chain back */
    /* A reset (or the VM's end) empties the balloon: the next driver
     * owns all its RAM again, and the discarded pages fault back in. */
    if (q->role == ROLE_INFLATE)
        clear_balloon(b);
    a->ret = q->vq.last_avail;
}

static uint16_t balloon_queue_stop(struct virtio_dev *d, unsigned qi)
{
    struct vballoon *b = (struct vballoon *)d;
    if (qi >= NQUEUES)
        return 0;
    struct qcall a = {b, qi, 0, NULL, -1};
    event_loop_call(b->loop, stop_on_loop, &a);
    return (uint16_t)a.ret;
}

/* ---- configuration space (5.5.4): le32 num_pages, le32 actual ---- */

#define CONFIG_LEN 8

static void balloon_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
    struct vballoon *b = (struct vballoon *)d;
    uint32_t cfg[2] = {atomic_load(&b->target), atomic_load(&b->actual)};
    memset(buf, 0, len);
    if (off < CONFIG_LEN && len <= CONFIG_LEN - off)
        memcpy(buf, (uint8_t *)cfg + off, len);
}

static void balloon_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
    struct vballoon *b = (struct vballoon *)d;
    if (off >= CONFIG_LEN || len > CONFIG_LEN - off)
        return;
    /* num_pages is the host's; only actual is the driver's to write. */
    uint32_t cfg[2] = {atomic_load(&b->target), atomic_load(&b->actual)};
    memcpy((uint8_t *)cfg + off, buf, len);
    atomic_store(&b->actual, cfg[1]);
}

static const struct virtio_dev_ops balloon_ops = {
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .queue_start = balloon_queue_start,
    .queue_stop = balloon_queue_stop,
};

/* ---- the API ---- */

struct vballoon *vballoon_new(const struct vballoon_opts *opts, const struct memmap *mem, struct event_loop *loop,
                              char *err, size_t errlen)
{
    struct vballoon *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "balloon: out of memory");
        return NULL;
    }
    b->opts = *opts;
    snprintf(b->name, sizeof(b->name), "%s", opts->name ? opts->name : "balloon");
    b->opts.name = b->name;
    b->mem = mem;
    b->loop = loop;
    pthread_mutex_init(&b->lock, NULL);
    for (unsigned i = 0; i < mem->count; i++) {
        struct region_pages *r = &b->reg[b->nregions];
        /* Only whole 4 KiB pages can be ballooned. */
        uint64_t first = (mem->r[i].gpa + VBALLOON_PAGE_SIZE - 1) / VBALLOON_PAGE_SIZE;
        uint64_t end = (mem->r[i].gpa + mem->r[i].size) / VBALLOON_PAGE_SIZE;
        if (end <= first)
            continue;
        r->gpa = first * VBALLOON_PAGE_SIZE;
        r->pages = end - first;
        r->bits = calloc((size_t)((r->pages + 63) / 64), sizeof(*r->bits));
        if (!r->bits) {
            snprintf(err, errlen, "%s: out of memory for its page map", b->name);
            vballoon_free(b);
            return NULL;
        }
        b->ram_pages += r->pages;
        b->nregions++;
    }
    if (b->ram_pages == 0) {
        snprintf(err, errlen, "%s: no guest RAM", b->name);
        vballoon_free(b);
        return NULL;
    }
    for (unsigned i = 0; i < NQUEUES; i++) {
        b->q[i].b = b;
        b->q[i].index = i;
        b->q[i].kick = -1;
    }
    b->dev.ops = &balloon_ops;
    b->dev.device_id = VIRTIO_ID_BALLOON;
    b->dev.host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC);
    b->dev.num_queues = 2;
    if (opts->stats) {
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_STATS_VQ);
        b->dev.num_queues++;
    }
    if (opts->deflate_on_oom)
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM);
    if (opts->reporting) {
        b->dev.host_features |= BIT(VIRTIO_BALLOON_F_REPORTING);
        b->dev.num_queues++;
    }
    b->dev.queue_max = VBALLOON_QUEUE_SIZE;
    b->dev.config_len = CONFIG_LEN;
    return b;
}

void vballoon_free(struct vballoon *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < MEMMAP_MAX_REGIONS; i++)
        free(b->reg[i].bits);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

struct virtio_dev *vballoon_dev(struct vballoon *b)
{
    return &b->dev;
}

int vballoon_set_target(struct vballoon *b, uint64_t pages)
{
    if (pages > b->ram_pages || pages > UINT32_MAX)
        return -1;
    atomic_store(&b->target, (uint32_t)pages);
    if (b->dev.config_changed)
        b->dev.config_changed(b->dev.transport);
    return 0;
}

void vballoon_get_counters(struct vballoon *b, struct vballoon_counters *c)
{
    pthread_mutex_lock(&b->lock);
    *c = b->cnt;
    pthread_mutex_unlock(&b->lock);
    c->target_pages = atomic_load(&b->target);
    c->actual_pages = atomic_load(&b->actual);
}

void vballoon_get_guest_stats(struct vballoon *b, struct vballoon_guest_stats *s)
{
    pthread_mutex_lock(&b->lock);
    *s = b->gs;
    pthread_mutex_unlock(&b->lock);
}

struct stats_call {
    struct vballoon *b;
    bool ok;
};

static void request_on_loop(void *arg)
{
    struct stats_call *a = arg;
    struct vballoon *b = a->b;
    for (unsigned i = 0; i < NQUEUES; i++) {
        struct bq *q = &b->q[i];
        if (!q->on || q->role != ROLE_STATS || !b->stats_held || q->vq.broken)
            continue;
        b->stats_held = false;
        vq_push(&q->vq, b->stats_head, 0);
        if (vq_should_notify(&q->vq))
            b->dev.notify(b->dev.transport, q->index);
        a->ok = true;
    }
}

bool vballoon_request_stats(struct vballoon *b)
{
    struct stats_call a = {b, false};
    event_loop_call(b->loop, request_on_loop, &a);
    return a.ok;
}

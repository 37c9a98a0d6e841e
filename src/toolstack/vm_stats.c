#include "toolstack/vm_stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolstack/ctl_client.h"
#include "toolstack/rundir.h"

/* ---- reading a reply: nothing in it is trusted ---- */

static struct json_object *member(struct json_object *o, const char *k, enum json_type t)
{
    struct json_object *v;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, t))
        return NULL;
    return v;
}

/* A count: a non-negative integer, else 0. */
static uint64_t u64_of(struct json_object *v)
{
    if (json_object_is_type(v, json_type_int))
        return json_object_get_uint64(v);
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        return isfinite(d) && d > 0 && d < 1.8e19 ? (uint64_t)d : 0;
    }
    return 0;
}

static uint64_t u64(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
        return 0;
    return u64_of(v);
}

static double num(struct json_object *o, const char *k)
{
    struct json_object *v;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v) ||
        !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return 0;
    double d = json_object_get_double(v);
    return isfinite(d) && d >= 0 ? d : 0;
}

static void str(struct json_object *o, const char *k, char *out, size_t len)
{
    struct json_object *v = member(o, k, json_type_string);
    snprintf(out, len, "%s", v ? json_object_get_string(v) : "");
}

static int hist(struct json_object *o, struct log2hist_snap *h, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    if (!o)
        return 0;
    struct json_object *b = member(o, "buckets", json_type_array);
    size_t n = b ? json_object_array_length(b) : 0;
    if (n > LOG2HIST_BUCKETS) {
        snprintf(err, errlen, "a histogram with %zu buckets (at most %d)", n, LOG2HIST_BUCKETS);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        h->bucket[i] = u64_of(json_object_array_get_idx(b, i));
    h->sum_ns = u64(o, "sum_ns");
    log2hist_snap_fix_count(h);   /* the buckets are what counts, not "count" */
    return 0;
}

static void by_key(struct json_object *o, const char *k, uint64_t *v, unsigned from, unsigned n,
                   const char *(*key)(unsigned))
{
    struct json_object *m = member(o, k, json_type_object);
    for (unsigned i = from; i < n; i++)
        v[i] = u64(m, key(i));
}

static const char *op_key(unsigned i) { return blk_op_key((enum blk_op)i); }
static const char *stage_key(unsigned i) { return blk_stage_key((enum blk_stage)i); }
static const char *herr_key(unsigned i) { return blk_host_err_key((enum blk_host_err)i); }
static const char *reason_key(unsigned i) { return blk_reason_key((enum blk_reason)i); }

static int disk(struct json_object *o, struct vmstat_disk *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    str(o, "vdev", d->vdev, sizeof(d->vdev));
    str(o, "guest_dev", d->guest_dev, sizeof(d->guest_dev));
    str(o, "target", d->target, sizeof(d->target));
    d->has_stats = member(o, "ops", json_type_object) != NULL;
    struct json_object *acc = member(o, "accounting", json_type_boolean);
    d->accounting = acc && json_object_get_boolean(acc);
    struct json_object *t = member(o, "iothread_tids", json_type_array);
    for (size_t i = 0; t && i < json_object_array_length(t) && d->ntids < IOTHREAD_GROUP_MAX; i++) {
        uint64_t tid = u64_of(json_object_array_get_idx(t, i));
        d->tids[d->ntids++] = tid <= INT32_MAX ? (int)tid : 0;
    }
    return vmstat_parse_blk(o, &d->s, err, errlen);
}

int vmstat_parse_blk(struct json_object *o, struct blk_qstats_snap *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    by_key(o, "ops", s->ops, 0, BLK_OP_N, op_key);
    by_key(o, "bytes", s->bytes, 0, BLK_OP_N, op_key);
    by_key(o, "failed", s->failed, 0, BLK_OP_N, op_key);
    by_key(o, "refused", s->refused, BLK_REQ_OK + 1, BLK_REQ_NREASONS, reason_key);
    by_key(o, "host_errors", s->host_errors, 0, BLK_HERR_N, herr_key);
    s->kicks = u64(o, "kicks");
    s->notifies = u64(o, "notifies");
    s->inflight = u64(o, "inflight");
    struct json_object *lat = member(o, "latency", json_type_object);
    for (unsigned i = 0; i < BLK_OP_N; i++)
        if (hist(member(lat, op_key(i), json_type_object), &s->lat[i], err, errlen) < 0)
            return -1;
    struct json_object *st = member(o, "stages", json_type_object);
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        if (hist(member(st, stage_key(i), json_type_object), &s->stage[i], err, errlen) < 0)
            return -1;
    return 0;
}

static void vif(struct json_object *o, struct vmstat_vif *v)
{
    memset(v, 0, sizeof(*v));
    str(o, "vifname", v->vifname, sizeof(v->vifname));
    str(o, "bridge", v->bridge, sizeof(v->bridge));
    str(o, "mac", v->mac, sizeof(v->mac));
    v->has_stats = member(o, "rx_packets", json_type_int) != NULL;
    vmstat_parse_net(o, &v->s);
}

void vmstat_parse_net(struct json_object *o, struct vnet_stats *s)
{
    memset(s, 0, sizeof(*s));
    s->rx_packets = u64(o, "rx_packets");
    s->rx_bytes = u64(o, "rx_bytes");
    s->tx_packets = u64(o, "tx_packets");
    s->tx_bytes = u64(o, "tx_bytes");
    struct json_object *d = member(o, "drops", json_type_object);
    s->rx_dropped_too_big = u64(d, "rx_too_big");
    s->rx_bad_buffers = u64(d, "rx_bad_buffers");
    s->rx_dropped_offload = u64(d, "rx_offload");
    s->tx_bad_chain = u64(d, "tx_bad_chain");
    s->tx_bad_header = u64(d, "tx_bad_header");
    s->tx_backend_errors = u64(d, "tx_backend_errors");
    s->rx_no_buffers = u64(o, "rx_no_buffers");
    s->tx_backend_full = u64(o, "tx_backend_full");
    s->ctrl_errors = u64(o, "ctrl_errors");
}

static void vcpu(struct json_object *o, struct vmstat_vcpu *v)
{
    static const char *const exits[VMSTAT_EXIT_N] = {"io", "mmio", "intr", "other"};
    memset(v, 0, sizeof(*v));
    v->cpu_time = num(o, "cpu_time");
    struct json_object *e = member(o, "vmm_exits", json_type_object);
    for (unsigned i = 0; i < VMSTAT_EXIT_N; i++)
        v->vmm_exits[i] = u64(e, exits[i]);
    struct json_object *k = member(o, "kvm", json_type_object);
    for (unsigned i = 0; i < KVM_VSTAT_N; i++) {
        v->kvm_have[i] = member(k, kvm_vstat_name((enum kvm_vstat)i), json_type_int) != NULL;
        v->kvm[i] = u64(k, kvm_vstat_name((enum kvm_vstat)i));
    }
}

/* null (no balloon) and an object without a target alike mean none. */
static void balloon(struct json_object *b, struct vmstat *out)
{
    if (!member(b, "target_mib", json_type_int))
        return;
    out->balloon = true;
    out->bal_target_mib = u64(b, "target_mib");
    out->bal_held_mib = u64(b, "actual_mib");
    out->bal_max_mib = u64(b, "max_mib");
    out->bal_ram_mib = u64(b, "ram_mib");
    str(b, "progress", out->bal_progress, sizeof(out->bal_progress));
    struct json_object *g = member(b, "guest", json_type_object);
    out->bal_guest_total = u64(g, "total");
    out->bal_guest_free = u64(g, "free");
}

/* The array k of r, at most max elements; -1 with err if it has more. */
static struct json_object *array(struct json_object *r, const char *k, unsigned max, unsigned *n, char *err,
                                 size_t errlen)
{
    struct json_object *a = member(r, k, json_type_array);
    size_t len = a ? json_object_array_length(a) : 0;
    if (len > max) {
        snprintf(err, errlen, "%zu %s (a VM has at most %u)", len, k, max);
        return NULL;
    }
    *n = (unsigned)len;
    return a ? a : r;
}

int vmstat_parse(struct json_object *r, struct vmstat *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!json_object_is_type(r, json_type_object)) {
        snprintf(err, errlen, "not a JSON object");
        return -1;
    }
    str(r, "name", out->name, sizeof(out->name));
    uint64_t id = u64(r, "id"), pid = u64(r, "pid");
    out->id = id <= UINT32_MAX ? (unsigned)id : 0;
    out->pid = pid <= INT32_MAX ? (int)pid : 0;
    str(r, "state", out->state, sizeof(out->state));
    out->time_ns = u64(r, "time_ns");
    out->uptime = num(r, "uptime");
    out->cpu_time = num(r, "cpu_time");
    uint64_t restarts = u64(r, "restarts");
    out->restarts = restarts <= UINT32_MAX ? (unsigned)restarts : 0;
    struct json_object *m = member(r, "memory", json_type_object);
    out->mem_configured = u64(m, "configured");
    out->mem_guest = u64(m, "guest_resident");
    out->mem_vmm = u64(m, "vmm_resident");
    out->mem_rss = u64(m, "rss");
    balloon(member(r, "balloon", json_type_object), out);
    struct json_object *a;
    if (!(a = array(r, "vcpus", VM_MAX_VCPUS, &out->nvcpus, err, errlen)))
        return -1;
    for (unsigned i = 0; i < out->nvcpus; i++)
        vcpu(json_object_array_get_idx(a, i), &out->vcpus[i]);
    if (!(a = array(r, "disks", VM_MAX_DISKS, &out->ndisks, err, errlen)))
        return -1;
    for (unsigned i = 0; i < out->ndisks; i++)
        if (disk(json_object_array_get_idx(a, i), &out->disks[i], err, errlen) < 0)
            return -1;
    if (!(a = array(r, "vifs", VM_MAX_NETS, &out->nvifs, err, errlen)))
        return -1;
    for (unsigned i = 0; i < out->nvifs; i++)
        vif(json_object_array_get_idx(a, i), &out->vifs[i]);
    return 0;
}

int vmstat_fetch(const char *name, struct vmstat *out, int timeout_ms, char *err, size_t errlen)
{
    int fd = ctl_open(name, err, errlen);
    if (fd < 0)
        return -1;
    struct json_object *r = NULL;
    if (ctl_send(fd, CTL_STATS, NULL) < 0)
        snprintf(err, errlen, "sending to VM '%s': %s", name, strerror(errno));
    else
        r = ctl_reply_ok(CTL_STATS, ctl_recv(fd, timeout_ms, err, errlen), err, errlen);
    close(fd);
    if (!r)
        return -1;
    int rc = vmstat_parse(r, out, err, errlen);
    json_object_put(r);
    /* The directory's name is the run directory's word, not the VM
     * process's: a process that claims another VM's name is not believed. */
    snprintf(out->name, sizeof(out->name), "%s", name);
    return rc;
}

#define COLLECT_MAX 1024

static int by_id(const void *a, const void *b)
{
    const struct vmstat *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

int vmstat_collect(struct vmstat **out, unsigned *n, unsigned *denied, unsigned *failed, int timeout_ms,
                   char *err, size_t errlen)
{
    *out = NULL;
    *n = *denied = *failed = 0;
    char(*names)[72] = malloc(COLLECT_MAX * sizeof(*names));
    if (!names) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int k = rundir_list(names, COLLECT_MAX, err, errlen);
    if (k < 0) {
        free(names);
        return -1;
    }
    struct vmstat *v = k ? calloc((size_t)k, sizeof(*v)) : NULL;
    if (k && !v) {
        free(names);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (int i = 0; i < k; i++) {
        char why[512];
        if (vmstat_fetch(names[i], &v[*n], timeout_ms, why, sizeof(why)) == 0)
            (*n)++;
        else if (strstr(why, "permission denied"))
            (*denied)++;
        else if (!strstr(why, "is running"))   /* not one that just ended */
            (*failed)++;
    }
    free(names);
    qsort(v, *n, sizeof(*v), by_id);
    *out = v;
    return 0;
}

/* ---- differences ---- */

/* The structures below are made of uint64_t counters only, so a difference
 * is taken word by word; a word that went down means the counters started
 * again (the VM restarted in place), and then the whole reading counts. */
static void words_delta(uint64_t *out, const uint64_t *now, const uint64_t *before, size_t n)
{
    bool reset = false;
    for (size_t i = 0; i < n && !reset; i++)
        reset = now[i] < before[i];
    for (size_t i = 0; i < n; i++)
        out[i] = reset ? now[i] : now[i] - before[i];
}

_Static_assert(sizeof(struct blk_qstats_snap) % sizeof(uint64_t) == 0, "only counters");
_Static_assert(sizeof(struct vnet_stats) % sizeof(uint64_t) == 0, "only counters");

void vmstat_blk_delta(struct blk_qstats_snap *out, const struct blk_qstats_snap *now,
                      const struct blk_qstats_snap *before)
{
    uint64_t inflight = now->inflight;
    struct blk_qstats_snap b = *before;
    b.inflight = now->inflight;   /* a gauge, not a counter */
    words_delta((uint64_t *)out, (const uint64_t *)now, (const uint64_t *)&b, sizeof(*out) / sizeof(uint64_t));
    for (unsigned i = 0; i < BLK_OP_N; i++)
        log2hist_snap_fix_count(&out->lat[i]);
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        log2hist_snap_fix_count(&out->stage[i]);
    out->inflight = inflight;
}

void vmstat_net_delta(struct vnet_stats *out, const struct vnet_stats *now, const struct vnet_stats *before)
{
    words_delta((uint64_t *)out, (const uint64_t *)now, (const uint64_t *)before,
                sizeof(struct vnet_stats) / sizeof(uint64_t));
}

void vmstat_delta(const struct vmstat *before, const struct vmstat *now, struct vmstat_delta *out)
{
    static const struct vmstat zero;
    memset(out, 0, sizeof(*out));
    bool fresh = !before || before->restarts != now->restarts || before->ndisks != now->ndisks ||
                 before->nvifs != now->nvifs;
    if (fresh)
        before = &zero;
    out->seconds = fresh ? now->uptime : (double)(now->time_ns - before->time_ns) / 1e9;
    if (now->time_ns < before->time_ns)
        out->seconds = 0;
    out->cpu_seconds = now->cpu_time > before->cpu_time ? now->cpu_time - before->cpu_time : 0;
    out->ndisks = now->ndisks;
    for (unsigned i = 0; i < now->ndisks; i++) {
        vmstat_blk_delta(&out->disks[i].d, &now->disks[i].s, &before->disks[i].s);
        out->disks[i].inflight = now->disks[i].s.inflight;
        blk_qstats_snap_add(&out->disk_total, &out->disks[i].d);
    }
    out->nvifs = now->nvifs;
    for (unsigned i = 0; i < now->nvifs; i++) {
        vmstat_net_delta(&out->vifs[i], &now->vifs[i].s, &before->vifs[i].s);
        const uint64_t *w = (const uint64_t *)&out->vifs[i];
        uint64_t *t = (uint64_t *)&out->vif_total;
        for (size_t k = 0; k < sizeof(struct vnet_stats) / sizeof(uint64_t); k++)
            t[k] += w[k];
    }
}

void vmstat_all_ops(const struct blk_qstats_snap *s, struct log2hist_snap *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < BLK_OP_N; i++)
        log2hist_snap_add(out, &s->lat[i]);
}

#include "toolstack/vm_stats_json.h"

#include "eventloop/iothread_group.h"
#include "util/mclock.h"
#include "vm/setup_report.h"
#include "vm/vm_nets.h"

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

struct json_object *stats_hist_json(const struct log2hist_snap *h)
{
    struct json_object *o = json_object_new_object();
    add_u64(o, "count", h->count);
    add_u64(o, "sum_ns", h->sum_ns);
    unsigned n = LOG2HIST_BUCKETS;
    while (n && !h->bucket[n - 1])
        n--;
    struct json_object *b = json_object_new_array_ext((int)n);
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(b, json_object_new_uint64(h->bucket[i]));
    json_object_object_add(o, "buckets", b);
    return o;
}

/* {key(i): v[i]} for the n keys. */
static struct json_object *by_key(const uint64_t *v, unsigned from, unsigned n, const char *(*key)(unsigned))
{
    struct json_object *o = json_object_new_object();
    for (unsigned i = from; i < n; i++)
        add_u64(o, key(i), v[i]);
    return o;
}

static const char *op_key(unsigned i) { return blk_op_key((enum blk_op)i); }
static const char *stage_key(unsigned i) { return blk_stage_key((enum blk_stage)i); }
static const char *herr_key(unsigned i) { return blk_host_err_key((enum blk_host_err)i); }
static const char *reason_key(unsigned i) { return blk_reason_key((enum blk_reason)i); }

void stats_blk_add(struct json_object *o, const struct blk_qstats_snap *s)
{
    json_object_object_add(o, "ops", by_key(s->ops, 0, BLK_OP_N, op_key));
    json_object_object_add(o, "bytes", by_key(s->bytes, 0, BLK_OP_N, op_key));
    json_object_object_add(o, "failed", by_key(s->failed, 0, BLK_OP_N, op_key));
    json_object_object_add(o, "refused", by_key(s->refused, BLK_REQ_OK + 1, BLK_REQ_NREASONS, reason_key));
    json_object_object_add(o, "host_errors", by_key(s->host_errors, 0, BLK_HERR_N, herr_key));
    add_u64(o, "kicks", s->kicks);
    add_u64(o, "notifies", s->notifies);
    add_u64(o, "inflight", s->inflight);
    struct json_object *lat = json_object_new_object();
    for (unsigned i = 0; i < BLK_OP_N; i++)
        json_object_object_add(lat, op_key(i), stats_hist_json(&s->lat[i]));
    json_object_object_add(o, "latency", lat);
    struct json_object *st = json_object_new_object();
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        json_object_object_add(st, stage_key(i), stats_hist_json(&s->stage[i]));
    json_object_object_add(o, "stages", st);
}

void stats_net_add(struct json_object *o, const struct vnet_stats *s)
{
    add_u64(o, "rx_packets", s->rx_packets);
    add_u64(o, "rx_bytes", s->rx_bytes);
    add_u64(o, "tx_packets", s->tx_packets);
    add_u64(o, "tx_bytes", s->tx_bytes);
    struct json_object *d = json_object_new_object();
    add_u64(d, "rx_too_big", s->rx_dropped_too_big);
    add_u64(d, "rx_bad_buffers", s->rx_bad_buffers);
    add_u64(d, "rx_offload", s->rx_dropped_offload);
    add_u64(d, "tx_bad_chain", s->tx_bad_chain);
    add_u64(d, "tx_bad_header", s->tx_bad_header);
    add_u64(d, "tx_backend_errors", s->tx_backend_errors);
    json_object_object_add(o, "drops", d);
    add_u64(o, "rx_no_buffers", s->rx_no_buffers);
    add_u64(o, "tx_backend_full", s->tx_backend_full);
    add_u64(o, "ctrl_errors", s->ctrl_errors);
}

void stats_disk_add(struct json_object *o, const struct vm *vm, unsigned i, bool per_queue)
{
    const struct disk *d = &vm->disks[i].disk;
    json_object_object_add(o, "accounting", json_object_new_boolean(vblk_accounting(d->blk)));
    int tids[IOTHREAD_GROUP_MAX];
    unsigned n = iothread_group_tids(&d->threads, tids, IOTHREAD_GROUP_MAX);
    struct json_object *t = json_object_new_array();
    for (unsigned k = 0; k < n; k++)
        json_object_array_add(t, json_object_new_int(tids[k]));
    json_object_object_add(o, "iothread_tids", t);
    struct blk_qstats_snap sum;
    vblk_stats(d->blk, &sum);
    stats_blk_add(o, &sum);
    if (!per_queue)
        return;
    struct json_object *qs = json_object_new_array();
    for (unsigned q = 0; q < vblk_queues(d->blk); q++) {
        struct blk_qstats_snap s;
        vblk_queue_stats(d->blk, q, &s);
        struct json_object *qo = json_object_new_object();
        json_object_object_add(qo, "queue", json_object_new_int((int)q));
        stats_blk_add(qo, &s);
        json_object_array_add(qs, qo);
    }
    json_object_object_add(o, "queues", qs);
}

void stats_vif_add(struct json_object *o, const struct vm *vm, unsigned i, bool per_queue)
{
    struct vnet *n = vm->nics[i].net;
    struct vnet_stats s;
    vm_nic_stats(vm, i, &s);
    stats_net_add(o, &s);
    if (!per_queue)
        return;
    struct json_object *qs = json_object_new_array();
    for (unsigned q = 0; q < vnet_pairs(n); q++) {
        vnet_pair_stats(n, q, &s);
        struct json_object *qo = json_object_new_object();
        json_object_object_add(qo, "pair", json_object_new_int((int)q));
        stats_net_add(qo, &s);
        json_object_array_add(qs, qo);
    }
    json_object_object_add(o, "queues", qs);
}

struct json_object *stats_vcpus_json(struct vm *vm)
{
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < vm->ncpus; i++) {
        struct vm_vcpu *v = &vm->vcpus[i];
        struct vm_vcpu_stat st;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "vcpu", json_object_new_int((int)i));
        double t = vm_vcpu_stat(vm, i, &st) == 0 ? st.cpu_seconds : 0;
        json_object_object_add(o, "cpu_time", json_object_new_double(t));
        struct json_object *ex = json_object_new_object();
        add_u64(ex, "io", stat_read(&v->exits_io));
        add_u64(ex, "mmio", stat_read(&v->exits_mmio));
        add_u64(ex, "intr", stat_read(&v->exits_intr));
        add_u64(ex, "other", stat_read(&v->exits_other));
        json_object_object_add(o, "vmm_exits", ex);
        uint64_t val[KVM_VSTAT_N];
        bool have[KVM_VSTAT_N];
        kvm_stats_read(&v->kstats, val, have);
        struct json_object *k = json_object_new_object();
        for (unsigned j = 0; j < KVM_VSTAT_N; j++)
            if (have[j])
                add_u64(k, kvm_vstat_name((enum kvm_vstat)j), val[j]);
        json_object_object_add(o, "kvm", k);
        json_object_array_add(arr, o);
    }
    return arr;
}

struct json_object *stats_memory_json(const struct vm *vm, uint64_t configured_bytes)
{
    struct json_object *o = json_object_new_object();
    add_u64(o, "configured", configured_bytes);
    struct setup_report r;
    if (vm && setup_report_measure(&vm->memmap, &r) == 0) {
        add_u64(o, "guest_resident", r.guest_rss_kib * 1024);
        add_u64(o, "vmm_resident", r.rss_kib > r.guest_rss_kib ? (r.rss_kib - r.guest_rss_kib) * 1024 : 0);
        add_u64(o, "rss", r.rss_kib * 1024);
    }
    return o;
}

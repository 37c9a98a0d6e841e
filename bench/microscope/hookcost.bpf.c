// SPDX-License-Identifier: GPL-2.0
/* The floor under the microscope's cost per I/O, for bench/microscope.sh:
 *  empty  programs that do nothing, on the three tracepoints the
 *         microscope uses per request: what the hooks cost by themselves;
 *  min    the least accounting that still charges a task: the submitter's
 *         tid and a timestamp at start, and at completion one per-CPU
 *         total of requests, bytes and latency (no buckets, no devices,
 *         no busy time, no writeback);
 *  stream the kernel's part of the other design: one record per request
 *         (owner, device, size, queued, issued, completed) into a ring
 *         buffer, for user space to aggregate (hookcost reads and counts
 *         them). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/block_io_start")
int BPF_PROG(empty_start, struct request *rq)
{
    return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(empty_issue, struct request *rq)
{
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(empty_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
    return 0;
}

#define SLOTS 4096

struct slot {
    __u64 ts;
    __u32 tid;
    __u32 pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLOTS);
    __type(key, __u32);
    __type(value, struct slot);
} slots SEC(".maps");

struct total {
    __u64 ops, bytes, lat_ns, tid_sum;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct total);
} totals SEC(".maps");

/* A request's tag names it uniquely while it is in flight (on one queue):
 * the scheduler's while there is one (the driver's is given only at
 * dispatch), else the driver's.  A direct index. */
static __always_inline __u32 tag_of(struct request *rq)
{
    int tag = rq->internal_tag;
    return (__u32)(tag >= 0 ? tag : rq->tag) & (SLOTS - 1);
}

static __always_inline struct slot *slot_of(struct request *rq)
{
    __u32 idx = tag_of(rq);
    return bpf_map_lookup_elem(&slots, &idx);
}

SEC("tp_btf/block_io_start")
int BPF_PROG(min_start, struct request *rq)
{
    struct slot *s = slot_of(rq);
    if (s) {
        s->ts = bpf_ktime_get_ns();
        s->tid = (__u32)bpf_get_current_pid_tgid();
    }
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(min_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
    struct slot *s = slot_of(rq);
    __u32 zero = 0;
    struct total *t = bpf_map_lookup_elem(&totals, &zero);
    if (!s || !t || !s->ts)
        return 0; /* started before we attached */
    t->ops++;
    t->bytes += nr_bytes;
    t->lat_ns += bpf_ktime_get_ns() - s->ts;
    t->tid_sum += s->tid;
    s->ts = 0;
    return 0;
}

/* ---- stream ---- */

/* A request's issue and its completion, in the order they happened (one
 * ring for all CPUs): what user space needs to rebuild the in-service
 * counts, the processor-sharing shares and the busy intervals. */
struct ev {
    __u64 ts, queue_ts;
    __u32 type; /* 1 issue, 2 completion */
    __u32 idx;  /* the request's slot, its identity while in flight */
    __u32 tid, dev, bytes, op;
};

struct sslot {
    __u64 queue_ts;
    __u32 tid, pad;
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, SLOTS);
    __type(key, __u32);
    __type(value, struct sslot);
} sslots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20);
} events SEC(".maps");

SEC("tp_btf/block_io_start")
int BPF_PROG(stream_start, struct request *rq)
{
    __u32 idx = tag_of(rq);
    struct sslot *s = bpf_map_lookup_elem(&sslots, &idx);
    if (s) {
        s->queue_ts = bpf_ktime_get_ns();
        s->tid = (__u32)bpf_get_current_pid_tgid();
    }
    return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(stream_issue, struct request *rq)
{
    __u32 idx = tag_of(rq);
    struct sslot *s = bpf_map_lookup_elem(&sslots, &idx);
    if (!s || !s->queue_ts)
        return 0;
    struct ev *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (e) {
        e->ts = bpf_ktime_get_ns();
        e->queue_ts = s->queue_ts;
        e->type = 1;
        e->idx = idx;
        e->tid = s->tid;
        e->dev = rq->q->disk ? rq->q->disk->major << 20 | rq->q->disk->first_minor : 0;
        e->bytes = rq->__data_len;
        e->op = rq->cmd_flags & 0xff;
        bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
    }
    s->queue_ts = 0;
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(stream_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
    struct ev *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (e) {
        e->ts = bpf_ktime_get_ns();
        e->type = 2;
        e->idx = tag_of(rq);
        bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
    }
    return 0;
}

// SPDX-License-Identifier: GPL-2.0
/* The floor under the microscope's cost per I/O, for bench/microscope.sh:
 *  empty  programs that do nothing, on the three tracepoints the
 *         microscope uses per request: what the hooks cost by themselves;
 *  min    the least accounting that still charges a task: the submitter's
 *         tid and a timestamp at start, and at completion one per-CPU
 *         total of requests, bytes and latency (no buckets, no devices,
 *         no busy time, no writeback). */
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

/* The driver tag names a request uniquely while it is in flight on a
 * queue without an I/O scheduler (loop's default): a direct index. */
static __always_inline struct slot *slot_of(struct request *rq)
{
    __u32 idx = (__u32)rq->tag & (SLOTS - 1);
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

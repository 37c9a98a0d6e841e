/* Shared between the eBPF program (microscope.bpf.c) and the loader: the
 * layout of the aggregation maps and counters.  Both sides compile this. */
#ifndef VIREO_MS_ABI_H
#define VIREO_MS_ABI_H

/* The same widths on both sides; user space prints them with PRIu64. */
#ifdef __VMLINUX_H__
typedef __u64 ms_u64;
typedef __u32 ms_u32;
#else
#include <linux/bpf.h>
#include <stdint.h>
typedef uint64_t ms_u64;
typedef uint32_t ms_u32;
#endif

/* Who a row is charged to. */
enum ms_kind {
    MS_OWN = 0,        /* the task submitted the I/O itself */
    MS_WRITEBACK = 1,  /* pages the task dirtied, written back by another task */
    MS_UNATTRIB = 2,   /* writeback of pages whose dirtier is unknown; tid = submitter */
    MS_DEVICE = 3,     /* whole-device row (tid 0): totals and busy time */
    MS_NR_KINDS
};

/* log2 latency histogram in microseconds: slot i counts [2^i, 2^(i+1)) us,
 * slot 0 also everything below 1 us, the last slot everything above. */
#define MS_LAT_SLOTS 24

struct ms_key {
    ms_u32 bucket;  /* (completion or busy) time bucket since start */
    ms_u32 tid;
    ms_u32 dev;     /* kernel dev_t: major << 20 | minor */
    ms_u32 kind;
};

struct ms_val {
    ms_u64 rd_bytes;
    ms_u64 wr_bytes;
    ms_u64 queue_ns;     /* sum over requests: first bio queued -> issued */
    ms_u64 service_ns;   /* sum over requests: issued -> completed */
    ms_u64 share_ns;     /* device busy time shared among requests in service */
    ms_u64 inflight_ns;  /* time with >= 1 of the task's requests in service */
    ms_u32 rd_ops;
    ms_u32 wr_ops;
    ms_u32 other_ops;    /* flush, discard, write-zeroes */
    ms_u32 pad;
    ms_u32 lat[MS_LAT_SLOTS];
};

/* One aggregated row: what the programs hand to user space through the
 * ring buffer (a row the per-CPU cache evicts, or a part of a busy
 * interval or share for an earlier bucket), and what a cache slot holds. */
struct ms_row {
    struct ms_key key;
    struct ms_val val;
};

struct ms_task {
    ms_u32 pid;
    ms_u32 tid;
    ms_u64 cgroup;
    char comm[16];
};

/* In-service state of a device or of a task on a device: how many of its
 * requests are in service and since when; for devices also the
 * processor-sharing clock.  User space reads busy_slots to free the slots
 * of exited tasks. */
struct ms_busy {
    struct bpf_spin_lock lock;
    ms_u32 n;     /* requests in service */
    ms_u64 since; /* n became non-zero (while 0: it became 0) */
    ms_u64 last;  /* last advance of v */
    ms_u64 v;     /* processor-sharing clock, ns << 10 */
    ms_u64 tag;   /* busy_slots only: tid << 34 | dev << 2 | kind; 0 = free */
    /* Devices only: one task's in-service state on this device, kept in
     * the device's own cache line (what most requests need: one line, not
     * two, moves between CPUs per event).  otag: 1 << 63 | tid << 2 |
     * kind, 0 = none; on/osince as n/since.  While otag names a task, that
     * task's entry elsewhere is idle. */
    ms_u64 otag;
    ms_u32 on;
    ms_u32 born_s; /* made at (monotonic ns >> 30) + 1, never 0; 0 while being made */
    ms_u64 osince;
};

/* Events that could not be accounted exactly; shown, never hidden. */
enum ms_counter {
    MS_C_AGG_FULL,        /* ring buffer full: an aggregated row dropped */
    MS_C_BIO_FULL,        /* bio table full: bio's submitter lost */
    MS_C_RQ_FULL,         /* request table full: request not timed */
    MS_C_BIO_UNKNOWN,     /* request carried a bio we never saw queued */
    MS_C_RQ_UNKNOWN,      /* completion of a request we never saw issued */
    MS_C_OWNER_OVERFLOW,  /* bytes of a 5th+ owner in one request, charged to the 4th */
    MS_C_DIRTY,           /* page-cache folios seen being dirtied */
    MS_C_WB_ATTRIB,       /* written-back folios charged to their dirtier */
    MS_C_WB_UNATTRIB,     /* written-back folios with no known dirtier */
    MS_C_SPLIT_TRUNC,     /* busy intervals longer than the split limit */
    MS_C_STATE_FULL,      /* per-task/device in-flight table full */
    MS_C_UNSEEN_DONE,     /* a request ended without its completion reaching us */
    MS_C_UNSEEN_ISSUE,    /* a request completed without its issue reaching us */
    MS_NR_COUNTERS
};

#define MS_COUNTER_NAMES                                                       \
    { "agg_map_full", "bio_table_full", "rq_table_full", "bio_unknown",        \
      "rq_unknown", "owner_overflow", "dirty_folios", "wb_folios_attributed", \
      "wb_folios_unattributed", "split_truncated", "state_table_full", "completions_unseen", "issues_unseen" }

#endif

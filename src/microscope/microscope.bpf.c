// SPDX-License-Identifier: GPL-2.0
/* vireo microscope: per-task block I/O accounting in time buckets.
 *
 * Owner of an I/O: the task that queued the bio, except for page-cache
 * writeback, where each folio is charged to the task that dirtied it
 * (remembered from the writeback_dirty_folio tracepoint).  Owners travel
 * bio -> request (merged at issue) -> completion, where bytes, latency and
 * device time are added to rows keyed by (bucket, tid, dev, kind).  The
 * completion program keeps the rows it is filling in a per-CPU cache
 * (direct-mapped, two generations so user space can drain one while the
 * other fills); a row leaves the cache for a ring buffer when its slot is
 * needed for another key (usually: the next bucket), and user space adds
 * up what it reads.  No hash map is touched per request.
 *
 * Device time at queue depth > 1 is defined two ways, both exact:
 *  - share_ns: while n requests are in service, each one accrues dt/n
 *    (processor sharing); the shares of all tasks sum to the busy time.
 *  - inflight_ns: the union of the intervals in which at least one of the
 *    task's requests is in service, split exactly over the buckets. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "ms_abi.h"

char LICENSE[] SEC("license") = "GPL";

#define REQ_OP_MASK_ 0xff
#define OP_READ 0
#define OP_WRITE 1
#define OWNERS 4
#define MAX_BVECS 256
#define MAX_BIOS 512
#define MAX_SPLIT 10000 /* buckets one busy interval may be spread over */
#define VSHIFT 10       /* fixed point of the processor-sharing clock */

const volatile __u64 bucket_ns = 1000000;
/* Set by user space once every program is attached: measuring starts
 * there, so a recording's time is all measured time.  Until then nothing
 * is charged (requests already in flight are followed, and charged if
 * they complete after it). */
__u64 start_ns = ~0ULL;
__u32 gen = 0;

/* The completion program's open rows: per CPU, ROW_SLOTS per generation
 * (gen & 1), two-way set-associative by (tid, dev, kind).  Only ms_rq_complete uses
 * them, and a program never nests into itself on one CPU, so plain adds
 * are safe.  User space reads and clears the other generation's slots
 * after flipping gen. */
#define ROW_SLOTS 256
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2 * ROW_SLOTS);
    __type(key, __u32);
    __type(value, struct ms_row);
} rows SEC(".maps");

/* Rows on their way to user space (size set by the loader). */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 16 << 20);
} ring SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, MS_NR_COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 c)
{
    __u64 *v = bpf_map_lookup_elem(&counters, &c);
    if (v)
        __sync_fetch_and_add(v, 1);
}

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 32768);
    __type(key, __u32);
    __type(value, struct ms_task);
} tasks SEC(".maps");

/* folio -> tid of the task that made it dirty */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 262144);
    __type(key, __u64);
    __type(value, __u32);
} dirtier SEC(".maps");

struct owner {
    __u32 tid;
    __u32 kind;
    __u64 bytes;
};

struct bio_info {
    __u64 queue_ts;
    __u64 expect_sector; /* a bio resubmitted after a split keeps its owners */
    __u32 expect_size;
    __u16 n;
    __u16 pad;
    struct owner o[OWNERS];
};

/* LRU: bios of bio-based devices (dm, zram) never become requests here. */
struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct bio_info);
} bios SEC(".maps");

/* Per-CPU scratch for the bio and request being built: in a map value the
 * verifier does not track the owner count exactly, so the bpf_loop
 * callbacks converge instead of exploding into one state per count.
 * Each program has its own slot and programs do not nest into themselves. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct bio_info);
} scratch_bio SEC(".maps");

/* Laid out so that in a slot (below) everything a single-owner request
 * touches, o[0] included, is in the slot's first cache line. */
struct rq_info {
    __u64 queue_ts;
    __u64 issue_ts;
    __u64 v0;
    __u32 sector; /* low bits of the sector at the last issue: tells a stale entry from this request */
    __u32 total;
    __u32 dev;
    __u16 n;
    __u8 op;
    __u8 fresh;   /* from block_io_start: owners not resolved yet */
    struct owner o[OWNERS];
};

/* A plain preallocated hash: LRU bookkeeping cost more than the rest of a
 * request's accounting.  Requests that never complete (rare) would stay;
 * user space prunes entries older than a minute. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct rq_info);
} rqs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct rq_info);
} scratch_rq SEC(".maps");

/* Fast path for request state: a direct-mapped array indexed by a hash of
 * the request's address.  A slot is claimed with compare-and-swap on its
 * key and released at completion; a request whose slot is taken by another
 * live request falls back to the hash map above.  Array lookups are inlined
 * by the verifier, hash updates and deletes are not, and they were most of
 * the cost per request.  The slot's cache line is the one a request's
 * programs wait for (it was last written on another CPU): 128-byte slots
 * in an mmapable array, whose values start on a page, make that one line,
 * not the three a slot straddled at the array's usual offset. */
#define RQ_SLOTS 16384
struct rq_slot {
    __u64 key;
    struct rq_info ri;
    __u32 ident;  /* queue, hardware queue and tag it was claimed for */
    __u8 pad[12];
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, RQ_SLOTS);
    __type(key, __u32);
    __type(value, struct rq_slot);
} rq_slots SEC(".maps");

_Static_assert(sizeof(struct rq_slot) == 128, "two cache lines, the first holding a single-owner request");
_Static_assert(__builtin_offsetof(struct rq_slot, ri.o[1]) == 64, "o[0] in the first line");
_Static_assert(sizeof(struct ms_busy) == 64, "a busy slot is one cache line");

/* One slot per program: a completion in an interrupt may run inside the
 * issue program on the same CPU, and must not overwrite its number. */
enum { SLOT_IO_START, SLOT_ISSUE, SLOT_REQUEUE, SLOT_COMPLETE, NR_SLOTS };

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, NR_SLOTS);
    __type(key, __u32);
    __type(value, __u64);
} scratch_u64 SEC(".maps");

/* The verifier allows no arithmetic on a pointer but add and subtract;
 * written to a map value and read back, the address is a plain number. */
static __always_inline __u64 addr_of(const void *p, __u32 slot)
{
    volatile __u64 *v = bpf_map_lookup_elem(&scratch_u64, &slot);
    if (!v)
        return 0;
    *v = (__u64)p;
    return *v;
}

/* A request: its address (what identifies it) and its slot.  The slot
 * comes from its tag (the driver's, or the scheduler's while there is
 * one), which stays the same from start to completion and is dense: a
 * device's requests in flight share a few cache lines that stay warm,
 * where slots picked by a hash of the address were each a cache miss
 * (most of these programs' time on a busy host).  The queue's number and
 * the hardware queue spread devices and queues over the table; a slot
 * taken by another request (tags of two devices meeting) sends the
 * request to the hash map.  Requests are told apart by key, never by
 * slot. */
struct rqref {
    __u64 key;
    __u32 idx, ident; /* ident: idx before the mask */
};

static __always_inline struct rqref rq_ref(struct request *rq, __u32 slot)
{
    struct rqref r = {.key = addr_of(rq, slot)};
    int tag = rq->internal_tag;
    if (tag < 0)
        tag = rq->tag;
    struct blk_mq_hw_ctx *hctx = rq->mq_hctx;
    __u32 hq = hctx ? hctx->queue_num : 0;
    /* the queue's number, not its address: a plain load, where the
     * address would need the round trip through a map value */
    __u64 q = (__u32)rq->q->id;
    r.ident = (__u32)((q * 0x9E3779B97F4A7C15ull) >> 40) + (hq << 8) + (__u32)tag;
    r.idx = r.ident & (RQ_SLOTS - 1);
    return r;
}

static __always_inline struct rq_slot *rq_slot_of(struct rqref r)
{
    return bpf_map_lookup_elem(&rq_slots, &r.idx);
}

static __always_inline struct rq_info *rq_get(struct rqref r)
{
    struct rq_slot *sl = rq_slot_of(r);
    if (sl && sl->key == r.key)
        return &sl->ri;
    return bpf_map_lookup_elem(&rqs, &r.key);
}

/* Stores a new request's state; NULL if both places are full. */
static __always_inline struct rq_info *rq_put(struct rqref r, struct rq_info *n)
{
    struct rq_slot *sl = rq_slot_of(r);
    if (sl) {
        __u64 old = __sync_val_compare_and_swap(&sl->key, 0, r.key);
        if (old == 0 || old == r.key) {
            sl->ident = r.ident;
            sl->ri = *n;
            return &sl->ri;
        }
    }
    if (bpf_map_update_elem(&rqs, &r.key, n, BPF_ANY))
        return NULL;
    return bpf_map_lookup_elem(&rqs, &r.key);
}

static __always_inline void rq_del(struct rqref r)
{
    struct rq_slot *sl = rq_slot_of(r);
    if (sl && sl->key == r.key)
        *(volatile __u64 *)&sl->key = 0; /* this request owns the slot: a store releases it */
    else
        bpf_map_delete_elem(&rqs, &r.key);
}

struct state_key {
    __u32 tid;
    __u32 dev;
    __u32 kind;
};

/* Never deleted from here (a delete could race with a concurrent issue);
 * user space prunes entries of tasks that have exited. */
struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, struct state_key);
    __type(value, struct ms_busy);
} busy SEC(".maps");

/* As for requests: a direct-mapped array in front of the hash, claimed by
 * compare-and-swap on the tag, so the usual lookup is inlined.  Slots of
 * tasks that have exited are freed by user space. */
#define BUSY_SLOTS 4096
struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(map_flags, BPF_F_MMAPABLE);
    __uint(max_entries, BUSY_SLOTS);
    __type(key, __u32);
    __type(value, struct ms_busy);
} busy_slots SEC(".maps");

static __always_inline struct ms_busy *busy_get(__u32 tid, __u32 dev, __u32 kind)
{
    __u64 tag = (__u64)tid << 34 | (__u64)dev << 2 | kind; /* tids < 2^22 */
    __u32 idx = (__u32)((tag * 0x9E3779B97F4A7C15ull) >> 52) & (BUSY_SLOTS - 1); /* as probe.c's busy_slot_of */
    struct ms_busy *s = bpf_map_lookup_elem(&busy_slots, &idx);
    if (s && tag) {
        if (s->tag == tag)
            return s;
        if (s->tag == 0) {
            /* Another CPU may claim it for the same key at the same time:
             * that is ours too (falling back to the hash map would split
             * one state over two places). */
            __u64 old = __sync_val_compare_and_swap(&s->tag, 0, tag);
            if (old == 0) {
                /* stamped for user space, which prunes no entry younger
                 * than a few seconds (a new one has nothing in service
                 * yet, and no `since`) */
                s->born_s = (__u32)(bpf_ktime_get_ns() >> 30) + 1;
                return s;
            }
            if (old == tag)
                return s;
        }
    }
    struct state_key k = {.tid = tid, .dev = dev, .kind = kind};
    s = bpf_map_lookup_elem(&busy, &k);
    if (s)
        return s;
    struct ms_busy z = {.born_s = (__u32)(bpf_ktime_get_ns() >> 30) + 1};
    bpf_map_update_elem(&busy, &k, &z, BPF_NOEXIST);
    s = bpf_map_lookup_elem(&busy, &k);
    if (!s)
        count(MS_C_STATE_FULL);
    return s;
}

/* The bucket a time falls in.  A 64-bit division costs as much as a
 * dozen other instructions, and nearly every event falls in the bucket
 * the previous one on this CPU did: that bucket is remembered, in one word
 * (a program nested into another on this CPU reads the old or the new
 * value, both valid).  bucket_div() for the rare times far from now. */
struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} bucket_cursor SEC(".maps");

static __always_inline __u32 bucket_div(__u64 t)
{
    return t > start_ns ? (__u32)((t - start_ns) / bucket_ns) : 0;
}

static __always_inline __u64 bucket_start(__u32 b)
{
    return start_ns + (__u64)b * bucket_ns;
}

static __always_inline __u32 bucket_of(__u64 t)
{
    if (t <= start_ns)
        return 0;
    __u32 zero = 0;
    __u64 *cur = bpf_map_lookup_elem(&bucket_cursor, &zero);
    if (!cur)
        return bucket_div(t);
    __u64 bs = start_ns + *cur * bucket_ns;
    if (t >= bs && t - bs < bucket_ns)
        return (__u32)*cur;
    __u32 b = bucket_div(t);
    *cur = b;
    return b;
}

/* A row for user space outside the cache: parts of busy time or share
 * for buckets other than the current one, and charges from programs that
 * do not own the cache (issue, requeue).  These are rare: at most once
 * per bucket and owner. */
static __always_inline void row_emit(__u32 bucket, __u32 tid, __u32 dev, __u32 kind, __u64 inflight, __u64 share)
{
    struct ms_row *r = bpf_ringbuf_reserve(&ring, sizeof(*r), 0);
    if (!r) {
        count(MS_C_AGG_FULL);
        return;
    }
    __builtin_memset(r, 0, sizeof(*r));
    r->key.bucket = bucket;
    r->key.tid = tid;
    r->key.dev = dev;
    r->key.kind = kind;
    r->val.inflight_ns = inflight;
    r->val.share_ns = share;
    bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

static __always_inline int row_is(const struct ms_row *r, __u32 bucket, __u32 tid, __u32 dev, __u32 kind)
{
    return r->key.bucket == bucket && r->key.tid == tid && r->key.dev == dev && r->key.kind == kind;
}

/* The completion program's row for (bucket, tid, dev, kind), from its
 * per-CPU cache: two ways per set, so a task's row and its device's (or
 * two busy tasks) meeting in one set do not push each other out on every
 * request.  The row a way held before, the older of the two, goes to the
 * ring.  User space is never woken: it drains on its own schedule. */
static __always_inline struct ms_val *row_get(__u32 g, __u32 bucket, __u32 tid, __u32 dev, __u32 kind)
{
    __u32 h = (__u32)(((__u64)tid * 0x9E3779B97F4A7C15ull ^ (__u64)dev * 0xC2B2AE3D27D4EB4Full ^ kind) >> 40);
    __u32 idx = (g & 1) * ROW_SLOTS + (h & (ROW_SLOTS - 2)), idx2 = idx + 1;
    struct ms_row *a = bpf_map_lookup_elem(&rows, &idx);
    if (!a)
        return NULL;
    if (row_is(a, bucket, tid, dev, kind))
        return &a->val;
    struct ms_row *b = bpf_map_lookup_elem(&rows, &idx2);
    if (!b)
        return NULL;
    if (row_is(b, bucket, tid, dev, kind))
        return &b->val;
    struct ms_row *r = !a->key.dev ? a : !b->key.dev ? b : a->key.bucket <= b->key.bucket ? a : b;
    if (r->key.dev && bpf_ringbuf_output(&ring, r, sizeof(*r), BPF_RB_NO_WAKEUP))
        count(MS_C_AGG_FULL);
    r->key.bucket = bucket;
    r->key.tid = tid;
    r->key.dev = dev;
    r->key.kind = kind;
    __builtin_memset(&r->val, 0, sizeof(r->val));
    return &r->val;
}

static __always_inline __u32 lat_slot(__u64 ns)
{
    /* ns / 1000 as a multiply and shift (exact below 2^32 ns): the JIT
     * turns a division into the CPU's, tens of cycles */
    __u64 us = ns < (1ULL << 32) ? (ns * 274877907ULL) >> 38 : ns / 1000;
    __u32 s = 0;
    if (us >> 16) { us >>= 16; s += 16; }
    if (us >> 8) { us >>= 8; s += 8; }
    if (us >> 4) { us >>= 4; s += 4; }
    if (us >> 2) { us >>= 2; s += 2; }
    if (us >> 1) { s += 1; }
    return s < MS_LAT_SLOTS ? s : MS_LAT_SLOTS - 1;
}

struct last_task {
    __u32 tid, pid, exec_id;
};

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct last_task);
} last_task SEC(".maps");

/* The tasks map gives user space the name, process and cgroup of a tid.
 * Refreshed when the task on this CPU changes, or execs (same tid, new
 * name): a task issuing I/O after I/O costs two plain loads. */
static __always_inline void note_task_of(struct task_struct *task, __u32 tid, __u32 pid)
{
    __u32 xid = task->self_exec_id;
    __u32 zero = 0;
    struct last_task *last = bpf_map_lookup_elem(&last_task, &zero);
    if (last && last->tid == tid && last->pid == pid && last->exec_id == xid)
        return;
    struct ms_task nt = {.pid = pid, .tid = tid, .cgroup = bpf_get_current_cgroup_id()};
    bpf_get_current_comm(nt.comm, sizeof(nt.comm));
    bpf_map_update_elem(&tasks, &tid, &nt, BPF_ANY);
    if (last) {
        last->tid = tid;
        last->pid = pid;
        last->exec_id = xid;
    }
}

static __always_inline void note_task(__u32 tid, __u32 pid)
{
    note_task_of(bpf_get_current_task_btf(), tid, pid);
}

/* ---- busy intervals, split exactly over buckets ---- */

/* Splits [from, to) over the buckets it covers: as busy time (inflight_ns),
 * or, with amount set, amount in proportion to the overlap (share_ns; the
 * last bucket takes the rounding so the parts add up). */
struct split_ctx {
    __u64 from, to, amount, left;
    __u32 b0, tid, dev, kind;
};

static long split_cb(__u32 i, void *p)
{
    struct split_ctx *c = p;
    __u32 b = c->b0 + i;
    __u64 bs = start_ns + (__u64)b * bucket_ns;
    __u64 be = bs + bucket_ns;
    __u64 lo = c->from > bs ? c->from : bs;
    __u64 hi = c->to < be ? c->to : be;
    if (hi <= lo)
        return 1;
    if (!c->amount) {
        row_emit(b, c->tid, c->dev, c->kind, hi - lo, 0);
        return 0;
    }
    __u64 part = hi == c->to ? c->left : c->amount * (hi - lo) / (c->to - c->from);
    if (part > c->left)
        part = c->left;
    c->left -= part;
    row_emit(b, c->tid, c->dev, c->kind, 0, part);
    return 0;
}

/* Global (verified once, on its own) rather than inlined into every
 * caller: inlined, the callers' branches multiply past the verifier's limit. */
__noinline int charge_interval(__u32 tid, __u32 dev, __u32 kind, __u64 from, __u64 to)
{
    if (from < start_ns)
        from = start_ns;
    if (to <= from)
        return 0;
    struct split_ctx c = {.from = from, .to = to, .b0 = bucket_div(from), .tid = tid, .dev = dev, .kind = kind};
    __u32 nb = bucket_div(to - 1) - c.b0 + 1;
    if (nb > MAX_SPLIT) {
        /* the part that does not fit goes to the last bucket it reaches */
        count(MS_C_SPLIT_TRUNC);
        __u64 cut = start_ns + (__u64)(c.b0 + MAX_SPLIT) * bucket_ns;
        row_emit(c.b0 + MAX_SPLIT - 1, tid, dev, kind, to - cut, 0);
        c.to = cut;
        nb = MAX_SPLIT;
    }
    bpf_loop(nb, split_cb, &c, 0);
    return 0;
}

/* A request's device share, spread over its time in service in proportion
 * to time (exact when the queue depth was constant meanwhile): charged at
 * completion only, a long request would put more than a bucket's worth of
 * share into one bucket.  v is the completion bucket's row (from the
 * cache), used as is in the usual case of a request that began in that
 * bucket. */
static __always_inline void spread_share(struct ms_val *v, __u32 tid, __u32 dev, __u32 kind, __u64 from,
                                         __u64 to, __u32 b1, __u64 share)
{
    if (!share)
        return;
    if (from < start_ns)
        from = start_ns;
    __u32 b0;
    if (to <= from || from >= bucket_start(b1) || b1 - (b0 = bucket_div(from)) >= MAX_SPLIT) {
        if (v)
            v->share_ns += share;
        return;
    }
    struct split_ctx c = {.from = from, .to = to, .amount = share, .left = share, .b0 = b0,
                          .tid = tid, .dev = dev, .kind = kind};
    bpf_loop(b1 - c.b0 + 1, split_cb, &c, 0);
}

/* Busy time [from, to) of a row whose completion-bucket row v the caller
 * holds: added to v when it lies in that bucket (the usual case), else
 * split over the buckets it covers. */
static __always_inline void charge_span(struct ms_val *v, __u32 bucket, __u32 tid, __u32 dev, __u32 kind,
                                        __u64 from, __u64 to)
{
    if (to <= from)
        return;
    __u64 bs = bucket_start(bucket);
    if (v && from >= bs && to <= bs + bucket_ns)
        v->inflight_ns += to - from;
    else
        charge_interval(tid, dev, kind, from, to);
}

/* A task's in-service state on a device is guarded by that device's lock
 * (its key includes the device), so one lock round trip serves the device
 * and the request's first owner: locks, which disable interrupts, were a
 * large part of the cost per request. */
/* Busy time to charge comes out as [*from, *to): the whole interval when
 * the count drops to 0, and, while busy, the buckets already finished.  So
 * a long busy period is charged bucket by bucket as it goes, never as one
 * burst of rows (a device busy for a minute at 100 us buckets would be
 * 600000 rows at once). */
static __always_inline void busy_update(__u32 *n, __u64 *since, int delta, __u64 now, __u64 cut, __u64 *from,
                                        __u64 *to)
{
    if (*n > 0 && now > start_ns) {
        if (cut > *since) {
            *from = *since;
            *to = cut;
            *since = cut;
        }
    }
    if (delta > 0) {
        if ((*n)++ == 0)
            *since = now;
    } else if (*n > 0) {
        if (--*n == 0) {
            if (!*to)
                *from = *since;
            *to = now;
            *since = now; /* idle since: what user space's pruning reads */
        }
    }
}

/* An owner's in-service state, under the device's lock: in the device's
 * line when it holds this owner, or when it is free and the owner has
 * nothing in service elsewhere (so no state is ever in two places); else
 * in os, the owner's own entry (looked up before the lock, read-only in
 * the usual case, so its line stays shared between CPUs). */
static __always_inline void owner_update(struct ms_busy *ds, struct ms_busy *os, __u64 otag, int delta, __u64 now,
                                         __u64 cut, __u64 *from, __u64 *to)
{
    if (ds->otag != otag && ds->on == 0 && delta > 0 && (!os || os->n == 0))
        ds->otag = otag;
    if (ds->otag == otag)
        busy_update(&ds->on, &ds->osince, delta, now, cut, from, to);
    else if (os)
        busy_update(&os->n, &os->since, delta, now, cut, from, to);
}

static __always_inline __u64 otag_of(__u32 tid, __u32 kind)
{
    return 1ULL << 63 | (__u64)tid << 2 | kind;
}

/* Owners after the first (writeback of several dirtiers' pages). */
__noinline int owner_step(__u32 tid, __u32 dev, __u32 kind, int delta, __u64 now)
{
    struct ms_busy *ds = busy_get(0, dev, MS_DEVICE);
    struct ms_busy *os = busy_get(tid, dev, kind);
    if (!ds)
        return 0;
    __u64 from = 0, to = 0, cut = bucket_start(bucket_of(now)); /* no map lookups under the lock */
    bpf_spin_lock(&ds->lock);
    /* now is the time serve_step() applied to the device: not moved to a
     * later event's, or an owner's end could follow the device's. */
    owner_update(ds, os, otag_of(tid, kind), delta, now, cut, &from, &to);
    bpf_spin_unlock(&ds->lock);
    if (to > from)
        charge_interval(tid, dev, kind, from, to);
    return 0;
}

/* Busy intervals of the device and of the request's first owner that a
 * serve_step() closed, for the completion program to charge to its rows. */
struct spans {
    __u64 dfrom, dto, ofrom, oto;
};

/* What serve_step() returns when the device has no state (its table is
 * full): the request was never counted in service, so it must never leave
 * it either (that would end another request's interval), and its share is
 * nothing rather than the device clock's whole value. */
#define NO_CLOCK (~0ULL)

/* The request enters (delta 1) or leaves (-1) service at `now`: the
 * device's processor-sharing clock advances, the device's and the owners'
 * in-service counts change, and whoever goes idle has its busy interval
 * charged (or, with sp, handed back for the device and the first owner).
 * Returns the device clock. */
static __always_inline __u64 serve_step(struct rq_info *ri, int delta, __u64 now, __u64 cut, struct spans *sp)
{
    __u32 dev = ri->dev;
    struct ms_busy *ds = busy_get(0, dev, MS_DEVICE);
    if (!ds)
        return NO_CLOCK;
    __u32 tid0 = ri->o[0].tid, kind0 = ri->o[0].kind, n = ri->n < OWNERS ? ri->n : OWNERS;
    struct ms_busy *os = n ? busy_get(tid0, dev, kind0) : NULL;
    __u64 dfrom = 0, dto = 0, ofrom = 0, oto = 0, v;
    bpf_spin_lock(&ds->lock);
    /* The clock was read before the lock: an event can get here after one
     * from another CPU that read it later.  Applied at the later time, the
     * device's and its tasks' intervals stay nested (else a task could
     * stay busy past its device's end by that skew). */
    if (now < ds->last)
        now = ds->last;
    if (ds->n && now > ds->last)
        ds->v += ((now - ds->last) << VSHIFT) / ds->n;
    if (now > ds->last)
        ds->last = now;
    busy_update(&ds->n, &ds->since, delta, now, cut, &dfrom, &dto);
    if (n)
        owner_update(ds, os, otag_of(tid0, kind0), delta, now, cut, &ofrom, &oto);
    v = ds->v;
    bpf_spin_unlock(&ds->lock);
    if (sp) {
        sp->dfrom = dfrom;
        sp->dto = dto;
        sp->ofrom = ofrom;
        sp->oto = oto;
    } else {
        if (dto > dfrom)
            charge_interval(0, dev, MS_DEVICE, dfrom, dto);
        if (oto > ofrom)
            charge_interval(tid0, dev, kind0, ofrom, oto);
    }
#pragma unroll
    for (int i = 1; i < OWNERS; i++)
        if (i < n)
            owner_step(ri->o[i].tid, dev, ri->o[i].kind, delta, now);
    return v;
}

/* ---- owners ---- */

static __always_inline void owner_add(struct owner *o, __u16 *n, __u32 tid, __u32 kind, __u64 bytes)
{
#pragma unroll
    for (int i = 0; i < OWNERS; i++) {
        if (i < *n && o[i].tid == tid && o[i].kind == kind) {
            o[i].bytes += bytes;
            return;
        }
    }
    if (*n < OWNERS) {
        __u16 i = *n;
        if (i < OWNERS) {
            o[i].tid = tid;
            o[i].kind = kind;
            o[i].bytes = bytes;
            *n = i + 1;
        }
        return;
    }
    count(MS_C_OWNER_OVERFLOW);
    o[OWNERS - 1].bytes += bytes;
}

/* ---- dirtying ---- */

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(ms_dirty, struct folio *folio, struct address_space *mapping)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    __u64 key = (__u64)folio;
    bpf_map_update_elem(&dirtier, &key, &tid, BPF_ANY);
    note_task(tid, id >> 32);
    count(MS_C_DIRTY);
    return 0;
}

/* The entry stays while the folio is in the page cache: a large folio is
 * often written back as many small bios (one per buffer head), each of
 * which must find it.  It goes when the folio leaves the cache, so a
 * reused folio never inherits an old dirtier. */
SEC("tp_btf/mm_filemap_delete_from_page_cache")
int BPF_PROG(ms_folio_gone, struct folio *folio)
{
    __u64 key = (__u64)folio;
    bpf_map_delete_elem(&dirtier, &key);
    return 0;
}

/* ---- bio queued ---- */

/* Walks a bio's data the way the block layer's iterator does: from
 * bi_iter (index, offset into that vector, bytes left), not bi_vcnt, which
 * is 0 in the clones that splitting makes. */
struct bvec_ctx {
    struct bio_vec *vec;
    __u64 left;
    __u32 idx, done, tid, to_rq;
    __u64 wb_mask;
};

static long bvec_cb(__u32 i, void *p)
{
    struct bvec_ctx *c = p;
    if (c->left == 0)
        return 1;
    struct bio_vec bv;
    if (bpf_probe_read_kernel(&bv, sizeof(bv), c->vec + c->idx + i))
        return 1;
    __u64 avail = bv.bv_len > c->done ? bv.bv_len - c->done : 0;
    c->done = 0;
    __u64 len = avail < c->left ? avail : c->left;
    c->left -= len;
    struct page *page = bv.bv_page;
    unsigned long head = 0;
    bpf_core_read(&head, sizeof(head), &page->compound_head);
    __u64 folio = (head & 1) ? head - 1 : (__u64)page;
    unsigned long flags = 0;
    bpf_core_read(&flags, sizeof(flags), &((struct page *)folio)->flags);
    __u32 tid = c->tid, kind = MS_OWN;
    if (flags & c->wb_mask) {
        __u32 *d = bpf_map_lookup_elem(&dirtier, &folio);
        if (d) {
            tid = *d;
            kind = tid == c->tid ? MS_OWN : MS_WRITEBACK;
            count(MS_C_WB_ATTRIB);
        } else {
            kind = MS_UNATTRIB;
            count(MS_C_WB_UNATTRIB);
        }
    }
    __u32 zero = 0;
    if (c->to_rq) {
        struct rq_info *ri = bpf_map_lookup_elem(&scratch_rq, &zero);
        if (!ri)
            return 1;
        owner_add(ri->o, &ri->n, tid, kind, len);
    } else {
        struct bio_info *bi = bpf_map_lookup_elem(&scratch_bio, &zero);
        if (!bi)
            return 1;
        owner_add(bi->o, &bi->n, tid, kind, len);
    }
    return 0;
}

SEC("tp_btf/block_bio_queue")
int BPF_PROG(ms_bio_queue, struct bio *bio)
{
    __u64 id = bpf_get_current_pid_tgid();
    __u32 tid = (__u32)id;
    __u64 key = (__u64)bio;
    __u64 sector = bio->bi_iter.bi_sector;
    __u32 size = bio->bi_iter.bi_size;

    struct bio_info *old = bpf_map_lookup_elem(&bios, &key);
    if (old && old->expect_size == size && old->expect_sector == sector)
        return 0; /* the rest of a split bio, owners already known */

    __u32 zero = 0;
    struct bio_info *bi = bpf_map_lookup_elem(&scratch_bio, &zero);
    if (!bi)
        return 0;
    __builtin_memset(bi, 0, sizeof(*bi));
    bi->queue_ts = bpf_ktime_get_ns();
    bi->expect_sector = sector;
    bi->expect_size = size;
    __u32 op = bio->bi_opf & REQ_OP_MASK_;
    if (op == OP_WRITE && size) {
        struct bvec_ctx c = {
            .vec = bio->bi_io_vec,
            .left = size,
            .idx = bio->bi_iter.bi_idx,
            .done = bio->bi_iter.bi_bvec_done,
            .tid = tid,
            .wb_mask = 1ULL << bpf_core_enum_value(enum pageflags, PG_writeback),
        };
        bpf_loop(MAX_BVECS, bvec_cb, &c, 0);
        if (c.left)
            owner_add(bi->o, &bi->n, tid, MS_OWN, c.left);
    } else {
        owner_add(bi->o, &bi->n, tid, MS_OWN, size);
    }
    note_task(tid, id >> 32);
    if (bpf_map_update_elem(&bios, &key, bi, BPF_ANY))
        count(MS_C_BIO_FULL);
    return 0;
}

/* The split-off front part takes its share of the parent's owners; the
 * parent (resubmitted right after) keeps the rest. */
SEC("tp_btf/block_split")
int BPF_PROG(ms_split, struct bio *split, unsigned int new_sector)
{
    __u64 pkey = (__u64)split->bi_private;
    struct bio_info *p = bpf_map_lookup_elem(&bios, &pkey);
    if (!p)
        return 0;
    __u32 s = split->bi_iter.bi_size;
    __u64 total = (__u64)p->expect_size;
    if (!total || s > total)
        return 0;
    struct bio_info f = {.queue_ts = p->queue_ts,
                         .expect_sector = split->bi_iter.bi_sector,
                         .expect_size = s};
    __u64 left = s;
#pragma unroll
    for (int i = 0; i < OWNERS; i++) {
        if (i < p->n) {
            __u64 part = p->o[i].bytes * s / total;
            if (i == p->n - 1 || part > left)
                part = left < p->o[i].bytes ? left : p->o[i].bytes;
            left -= part;
            f.o[i] = p->o[i];
            f.o[i].bytes = part;
            p->o[i].bytes -= part;
        }
    }
    f.n = p->n;
    p->expect_sector = new_sector;
    p->expect_size = (__u32)(total - s);
    __u64 fkey = (__u64)split;
    if (bpf_map_update_elem(&bios, &fkey, &f, BPF_ANY))
        count(MS_C_BIO_FULL);
    return 0;
}

/* A request address is starting again while our state says it is still in
 * service: its completion never reached us.  (Seen on a 6.18 kernel: the
 * block_rq_complete program did not run for completions done in softirq on
 * top of one particular task, with no recursion miss counted.)  Take it out
 * of service as of its issue, so busy time is not stretched, count it, and
 * let its bytes go unrecorded rather than guessed. */
static __always_inline void retire_unseen(struct rq_info *ri)
{
    count(MS_C_UNSEEN_DONE);
    if (ri->v0 != NO_CLOCK)
        serve_step(ri, -1, ri->issue_ts, bucket_start(bucket_div(ri->issue_ts)), NULL);
    ri->issue_ts = 0;
}

/* ---- request started (kernels with block_io_start, 6.5+) ----
 * The request is created in the context of the task whose bio it is made
 * from, so no per-bio state is needed: the owner is the current task, and
 * only page-cache writeback (resolved at issue) is charged elsewhere.  On
 * older kernels ms_bio_queue/ms_split carry owners per bio instead. */

static __always_inline __u32 rq_dev(struct request *rq)
{
    /* Direct loads through the tracepoint's BTF pointers: much cheaper
     * than probe-read helpers, and still relocated by CO-RE. */
    struct gendisk *disk = rq->q->disk;
    if (!disk)
        return 0;
    __u32 major = disk->major;
    __u32 minor = disk->first_minor;
    return major << 20 | minor;
}

SEC("tp_btf/block_io_start")
int BPF_PROG(ms_io_start, struct request *rq)
{
    /* tid and pid from the task, which note_task needs anyway: one
     * helper call instead of two */
    struct task_struct *task = bpf_get_current_task_btf();
    __u32 tid = task->pid;
    struct rqref ref = rq_ref(rq, SLOT_IO_START);
    __u64 key = ref.key;
    __u64 now = bpf_ktime_get_ns();
    note_task_of(task, tid, task->tgid);
    /* Built in place in the request's slot (claimed by compare-and-swap),
     * the usual case; only a taken slot goes through the hash. */
    struct rq_slot *sl = rq_slot_of(ref);
    struct rq_info *ri = NULL;
    if (sl) {
        __u64 old = sl->key;
        if (old == key) {
            ri = &sl->ri;
            if (ri->issue_ts)
                retire_unseen(ri);
        } else if (old == 0 && __sync_val_compare_and_swap(&sl->key, 0, key) == 0) {
            ri = &sl->ri;
        } else if (old && sl->ident == ref.ident && __sync_val_compare_and_swap(&sl->key, old, key) == old) {
            /* Held for our own queue and tag: that request's tag was
             * freed, so it ended without its completion reaching us. */
            ri = &sl->ri;
            if (ri->issue_ts)
                retire_unseen(ri);
        }
        if (ri && sl->ident != ref.ident)
            sl->ident = ref.ident; /* its line is written only when it changes */
    }
    if (!ri) {
        struct rq_info *stale = bpf_map_lookup_elem(&rqs, &key);
        if (stale && stale->issue_ts)
            retire_unseen(stale);
        struct rq_info n = {};
        if (bpf_map_update_elem(&rqs, &key, &n, BPF_ANY) || !(ri = bpf_map_lookup_elem(&rqs, &key))) {
            count(MS_C_RQ_FULL);
            return 0;
        }
    }
    ri->queue_ts = now;
    ri->issue_ts = 0;
    ri->v0 = 0;
    ri->total = 0;
    ri->dev = rq_dev(rq);
    ri->op = rq->cmd_flags & REQ_OP_MASK_;
    ri->n = 1;
    ri->fresh = 1;
    ri->sector = 0;
    ri->o[0].tid = tid;
    ri->o[0].kind = MS_OWN;
    ri->o[0].bytes = 0;
    return 0;
}

struct wb_walk_ctx {
    struct bio *bio;
    __u32 tid;
};

static long wb_bio_cb(__u32 i, void *p)
{
    struct wb_walk_ctx *w = p;
    struct bio *bio = w->bio;
    if (!bio)
        return 1;
    struct bvec_ctx c = {
        .vec = BPF_CORE_READ(bio, bi_io_vec),
        .left = BPF_CORE_READ(bio, bi_iter.bi_size),
        .idx = BPF_CORE_READ(bio, bi_iter.bi_idx),
        .done = BPF_CORE_READ(bio, bi_iter.bi_bvec_done),
        .tid = w->tid,
        .to_rq = 1,
        .wb_mask = 1ULL << bpf_core_enum_value(enum pageflags, PG_writeback),
    };
    bpf_loop(MAX_BVECS, bvec_cb, &c, 0);
    if (c.left) {
        __u32 zero = 0;
        struct rq_info *ri = bpf_map_lookup_elem(&scratch_rq, &zero);
        if (ri)
            owner_add(ri->o, &ri->n, w->tid, MS_OWN, c.left);
    }
    w->bio = BPF_CORE_READ(bio, bi_next);
    return 0;
}

/* First issue of a request made by ms_io_start: its final size, and for
 * writes, whose dirty pages it carries. */
static __always_inline void resolve_owners(struct request *rq, struct rq_info *ri)
{
    ri->fresh = 0;
    ri->total = rq->__data_len;
    if (ri->op != OP_WRITE || !ri->total) {
        ri->o[0].bytes = ri->total;
        return;
    }
    __u32 zero = 0;
    struct rq_info *n = bpf_map_lookup_elem(&scratch_rq, &zero);
    if (!n)
        return;
    n->n = 0;
    struct wb_walk_ctx w = {.bio = rq->bio, .tid = ri->o[0].tid};
    bpf_loop(MAX_BIOS, wb_bio_cb, &w, 0);
    if (n->n == 0)
        owner_add(n->o, &n->n, w.tid, MS_OWN, ri->total);
    __builtin_memcpy(ri->o, n->o, sizeof(ri->o));
    ri->n = n->n;
}

/* ---- request issued ---- */

struct walk_ctx {
    struct bio *bio;
    __u32 found, missing;
};

static long bio_walk_cb(__u32 i, void *p)
{
    struct walk_ctx *c = p;
    struct bio *bio = c->bio;
    if (!bio)
        return 1;
    __u64 key = (__u64)bio;
    __u32 zero = 0;
    struct rq_info *ri = bpf_map_lookup_elem(&scratch_rq, &zero);
    if (!ri)
        return 1;
    struct bio_info *bi = bpf_map_lookup_elem(&bios, &key);
    if (bi) {
        if (!ri->queue_ts || bi->queue_ts < ri->queue_ts)
            ri->queue_ts = bi->queue_ts;
#pragma unroll
        for (int j = 0; j < OWNERS; j++)
            if (j < bi->n)
                owner_add(ri->o, &ri->n, bi->o[j].tid, bi->o[j].kind, bi->o[j].bytes);
        bpf_map_delete_elem(&bios, &key);
        c->found++;
    } else {
        c->missing++;
    }
    c->bio = BPF_CORE_READ(bio, bi_next);
    return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(ms_rq_issue, struct request *rq)
{
    __u64 now = bpf_ktime_get_ns();
    struct rqref key = rq_ref(rq, SLOT_ISSUE);
    struct rq_info *ri = rq_get(key);
    if (ri && ri->issue_ts) {
        /* Issued and never completed as far as we saw: a requeue would
         * have cleared issue_ts, so this is a new request at an old
         * address (the bio path has no block_io_start to notice it). */
        retire_unseen(ri);
        rq_del(key);
        ri = NULL;
    }
    if (!ri) {
        __u32 zero = 0;
        struct rq_info *n = bpf_map_lookup_elem(&scratch_rq, &zero);
        if (!n)
            return 0;
        __builtin_memset(n, 0, sizeof(*n));
        n->dev = rq_dev(rq);
        n->op = rq->cmd_flags & REQ_OP_MASK_;
        n->total = rq->__data_len;
        struct walk_ctx c = {.bio = rq->bio};
        bpf_loop(MAX_BIOS, bio_walk_cb, &c, 0);
        if (c.missing)
            count(MS_C_BIO_UNKNOWN);
        if (n->n == 0) { /* no bio known (flush, or queued before we started) */
            __u64 id = bpf_get_current_pid_tgid();
            owner_add(n->o, &n->n, (__u32)id, MS_OWN, n->total);
            note_task((__u32)id, id >> 32);
        }
        if (!n->queue_ts)
            n->queue_ts = now;
        ri = rq_put(key, n);
        if (!ri) {
            count(MS_C_RQ_FULL);
            return 0;
        }
    } else if (ri->fresh) {
        resolve_owners(rq, ri);
    }
    ri->issue_ts = now;
    ri->sector = (__u32)rq->__sector;
    ri->v0 = serve_step(ri, 1, now, bucket_start(bucket_of(now)), NULL);
    return 0;
}

SEC("tp_btf/block_rq_requeue")
int BPF_PROG(ms_rq_requeue, struct request *rq)
{
    __u64 now = bpf_ktime_get_ns();
    struct rqref key = rq_ref(rq, SLOT_REQUEUE);
    struct rq_info *ri = rq_get(key);
    if (!ri || !ri->issue_ts)
        return 0;
    if (ri->v0 != NO_CLOCK)
        serve_step(ri, -1, now, bucket_start(bucket_of(now)), NULL);
    ri->issue_ts = 0;
    return 0;
}

/* ---- request completed ---- */

/* Only ms_rq_complete charges these fields, and a program never nests into
 * itself on one CPU, so plain adds on the per-CPU value are safe (and much
 * cheaper than atomics).  inflight_ns is also added by the issue and
 * requeue programs (a busy interval can end there), hence atomically, and
 * share_ns goes through the same splitting code. */
static __always_inline void charge(struct ms_val *v, __u32 op, __u64 bytes, __u64 queue, __u64 service,
                                   __u32 slot)
{
    if (op == OP_READ) {
        v->rd_bytes += bytes;
        v->rd_ops++;
    } else if (op == OP_WRITE) {
        v->wr_bytes += bytes;
        v->wr_ops++;
    } else {
        v->other_ops++;
    }
    v->queue_ns += queue;
    v->service_ns += service;
    if (slot < MS_LAT_SLOTS)
        v->lat[slot]++;
}

struct done_ctx {
    struct rqref key;
    __u64 now, issue_ts, total, sum, queue, service, share, ofrom, oto;
    __u32 bucket, dev, op, slot, gen;
};

/* Owner k's part of a completed request: its bytes (in proportion, when
 * the owners' byte counts do not add up to the request), its device
 * share, and for the first owner the busy interval that ended here. */
static __always_inline void charge_owner(struct done_ctx *c, __u32 k, struct owner o)
{
    __u64 bytes = o.bytes, share = c->share;
    if (!c->sum) /* owners never resolved (issue unseen): all to the first */
        bytes = k == 0 ? c->total : 0;
    else if (c->sum != c->total)
        bytes = bytes * c->total / c->sum;
    if (c->sum && c->sum != o.bytes)
        share = c->share * o.bytes / c->sum;
    struct ms_val *v = row_get(c->gen, c->bucket, o.tid, c->dev, o.kind);
    if (v)
        charge(v, c->op, bytes, c->queue, c->service, c->slot);
    spread_share(v, o.tid, c->dev, o.kind, c->issue_ts, c->now, c->bucket, share);
    if (k == 0) /* the first owner's busy interval, if it went idle */
        charge_span(v, c->bucket, o.tid, c->dev, o.kind, c->ofrom, c->oto);
}

static long owner_done_cb(__u32 i, void *p)
{
    struct done_ctx *c = p;
    struct rq_info *r = rq_get(c->key);
    __u32 k = i & (OWNERS - 1); /* a bound the verifier sees on this register */
    if (!r || i >= OWNERS || k >= r->n)
        return 1;
    charge_owner(c, k, r->o[k]);
    return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(ms_rq_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
    __u64 now = bpf_ktime_get_ns();
    struct rqref key = rq_ref(rq, SLOT_COMPLETE);
    struct rq_info *ri = rq_get(key);
    /* Partial completions (nr_bytes < what is left) are rare; the request
     * is charged once, in full, when the last part completes. */
    __u32 left = rq->__data_len;
    if (nr_bytes < left)
        return 0;
    if (ri && ri->issue_ts && ri->sector != (__u32)rq->__sector) {
        /* an earlier request's state: its completion and this one's issue
         * both went unseen */
        retire_unseen(ri);
        rq_del(key);
        ri = NULL;
    }
    if (!ri) {
        if (now >= start_ns)
            count(MS_C_RQ_UNKNOWN);
        return 0;
    }
    if (now < start_ns) { /* not measuring yet */
        if (ri->issue_ts && ri->v0 != NO_CLOCK)
            serve_step(ri, -1, now, bucket_start(bucket_of(now)), NULL);
        rq_del(key);
        return 0;
    }
    __u32 bnow = bucket_of(now); /* once: every charge below is in this bucket or split from it */
    __u64 v = 0, issue_ts = ri->issue_ts;
    struct spans sp = {};
    if (issue_ts) {
        if (ri->v0 != NO_CLOCK)
            v = serve_step(ri, -1, now, bucket_start(bnow), &sp);
    } else {
        /* Started, never seen issued: charged with all its time as queue
         * time, no service time and no device share; never counted in
         * service either. */
        count(MS_C_UNSEEN_ISSUE);
        issue_ts = now;
        ri->total = nr_bytes;
        ri->v0 = 0;
    }
    struct done_ctx c = {
        .key = key,
        .now = now,
        .total = ri->total,
        .share = v > ri->v0 && v != NO_CLOCK ? (v - ri->v0) >> VSHIFT : 0,
        .queue = issue_ts > ri->queue_ts ? issue_ts - ri->queue_ts : 0,
        .service = now - issue_ts,
        .issue_ts = issue_ts,
        .slot = lat_slot(now - ri->queue_ts),
        .bucket = bnow,
        .dev = ri->dev,
        .op = ri->op,
        .gen = gen,
        .ofrom = sp.ofrom,
        .oto = sp.oto,
    };
#pragma unroll
    for (int i = 0; i < OWNERS; i++)
        if (i < ri->n)
            c.sum += ri->o[i].bytes;

    struct ms_val *dv = row_get(c.gen, c.bucket, 0, c.dev, MS_DEVICE);
    if (dv)
        charge(dv, c.op, c.total, c.queue, c.service, c.slot);
    spread_share(dv, 0, c.dev, MS_DEVICE, c.issue_ts, now, c.bucket, c.share);
    charge_span(dv, c.bucket, 0, c.dev, MS_DEVICE, sp.dfrom, sp.dto);
    if (ri->n == 1)
        charge_owner(&c, 0, ri->o[0]); /* the usual case: no loop */
    else if (ri->n > 1)
        bpf_loop(ri->n < OWNERS ? ri->n : OWNERS, owner_done_cb, &c, 0);
    rq_del(key);
    return 0;
}

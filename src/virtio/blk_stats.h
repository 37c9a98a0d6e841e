/* virtio-blk's per-queue accounting: what each queue did, counted on the
 * queue's own thread with no lock and no system call, read from any other
 * thread (the VM process's control socket) without stopping it.
 *
 * Per request, four times, each one clock reading (util/mclock.h) shared
 * by every request at that point of one wake-up:
 *   kick     the I/O thread starts taking the requests the driver posted
 *            (its wake-up, or a poll that found them); the time between
 *            the guest's notify write and this wake-up is not visible here
 *   submit   just before the requests go to the host (bdev_unplug: the
 *            io_uring submission, or inline syscalls)
 *   done     the host completed it (the completion batch it is in)
 *   notify   the used ring is published and the interrupt sent (or found
 *            unnecessary: EVENT_IDX)
 * giving three stage histograms (vmm: kick->submit, host: submit->done,
 * notify: done->notify) and, per kind of request, the whole time
 * kick->notify, which is what the guest waits beyond its own driver.
 *
 * Counted: completed requests, bytes, failures by kind of request, requests
 * refused before reaching the host by reason (blk_req_parse's), host errors
 * by kind, wake-ups by kick, interrupts sent.  Refusals and host errors are
 * always counted; the rest only with accounting on (VIREO_ACCOUNTING=off
 * turns it off per process, for bench/disk-native.sh's comparison). */
#ifndef VIREO_VIRTIO_BLK_STATS_H
#define VIREO_VIRTIO_BLK_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/log2hist.h"
#include "util/mclock.h"
#include "util/stat_counter.h"
#include "virtio/blk_req.h"

enum blk_op {
    BLK_OP_READ,
    BLK_OP_WRITE,
    BLK_OP_FLUSH,
    BLK_OP_DISCARD,
    BLK_OP_WRITE_ZEROES,
    BLK_OP_GET_ID,
    BLK_OP_N,
    BLK_OP_NONE = BLK_OP_N,    /* a request that is not timed */
};

enum blk_stage {
    BLK_STAGE_VMM,             /* kick -> submit */
    BLK_STAGE_HOST,            /* submit -> done */
    BLK_STAGE_NOTIFY,          /* done -> notify */
    BLK_STAGE_N
};

/* Why the host failed a request (the -errno its completion carried). */
enum blk_host_err {
    BLK_HERR_IO,               /* EIO */
    BLK_HERR_NOSPACE,          /* ENOSPC, EDQUOT */
    BLK_HERR_OTHER,
    BLK_HERR_N
};

/* Written by the queue's thread only. */
struct blk_qstats {
    stat_counter ops[BLK_OP_N];           /* completed, failures included */
    stat_counter bytes[BLK_OP_N];         /* of those that succeeded */
    stat_counter failed[BLK_OP_N];        /* completed with an error status */
    stat_counter refused[BLK_REQ_NREASONS];
    stat_counter host_errors[BLK_HERR_N];
    stat_counter kicks;                   /* wake-ups by the driver's notify */
    stat_counter notifies;                /* interrupts sent */
    struct log2hist lat[BLK_OP_N];        /* kick -> notify */
    struct log2hist stage[BLK_STAGE_N];
};

/* A copy, for readers. */
struct blk_qstats_snap {
    uint64_t ops[BLK_OP_N], bytes[BLK_OP_N], failed[BLK_OP_N];
    uint64_t refused[BLK_REQ_NREASONS];
    uint64_t host_errors[BLK_HERR_N];
    uint64_t kicks, notifies;
    uint64_t inflight;                    /* requests taken and not yet completed */
    struct log2hist_snap lat[BLK_OP_N];
    struct log2hist_snap stage[BLK_STAGE_N];
};

/* One request's times. */
struct blk_timing {
    uint64_t t_kick, t_sub, t_done;
    uint64_t bytes;
    uint8_t op;                /* enum blk_op; BLK_OP_NONE: not accounted */
    bool ok;
};

/* Completions waiting for their notify; a queue has at most 256 requests
 * in flight, and a full list is recorded early rather than grown. */
#define BLK_ACCT_PENDING 256

struct blk_acct {
    struct blk_qstats st;
    bool on;
    uint64_t round_t;          /* kick time of the requests being taken; 0: none yet */
    uint64_t batch_t;          /* done time of the current completion batch; 0: none yet */
    unsigned npending;
    struct blk_timing pending[BLK_ACCT_PENDING];
};

/* Whether accounting is on for queues created from now on: not when the
 * environment has VIREO_ACCOUNTING=off. */
bool blk_acct_enabled(void);
void blk_acct_init(struct blk_acct *a, bool on);
/* A queue (re)starting: nothing pending, counters kept. */
void blk_acct_reset_transient(struct blk_acct *a);

enum blk_op blk_op_of(uint32_t virtio_type);

/* A parsed request starts: its kick time is the round's. */
static inline void blk_acct_start(struct blk_acct *a, struct blk_timing *tm, enum blk_op op, uint64_t bytes)
{
    if (!a->on) {
        tm->op = BLK_OP_NONE;
        return;
    }
    if (!a->round_t)
        a->round_t = mclock_now();
    tm->op = (uint8_t)op;
    tm->bytes = bytes;
    tm->t_kick = a->round_t;
    tm->t_sub = 0;
}

/* The round's requests are about to go to the host: their submit time
 * (read once), and the next request starts a new round. */
static inline uint64_t blk_acct_submit_time(struct blk_acct *a)
{
    a->round_t = 0;
    return mclock_now();
}

static inline void blk_acct_kick(struct blk_acct *a)
{
    if (a->on)
        stat_inc(&a->st.kicks);
}

void blk_acct_pending_flush(struct blk_acct *a, uint64_t now);

/* A request completed (ok: with VIRTIO_BLK_S_OK).  Counted now, timed at
 * the next blk_acct_notified. */
static inline void blk_acct_done(struct blk_acct *a, struct blk_timing *tm, bool ok)
{
    if (tm->op >= BLK_OP_N)
        return;
    /* A completion after requests submitted since this batch began
     * (inline ones, in a later round) gets a time of its own. */
    if (!a->batch_t || a->batch_t < tm->t_sub)
        a->batch_t = mclock_now();
    tm->t_done = a->batch_t;
    if (!tm->t_sub)
        tm->t_sub = tm->t_done;   /* completed without reaching the host */
    tm->ok = ok;
    stat_inc(&a->st.ops[tm->op]);
    if (ok)
        stat_add(&a->st.bytes[tm->op], tm->bytes);
    else
        stat_inc(&a->st.failed[tm->op]);
    if (a->npending == BLK_ACCT_PENDING)
        blk_acct_pending_flush(a, mclock_now());
    a->pending[a->npending++] = *tm;
}

/* The used ring was published; sent: an interrupt went out. */
static inline void blk_acct_notified(struct blk_acct *a, bool sent)
{
    if (!a->on)
        return;
    if (sent)
        stat_inc(&a->st.notifies);
    if (a->npending)
        blk_acct_pending_flush(a, mclock_now());
    a->batch_t = 0;
}

/* Always counted, accounting on or not. */
static inline void blk_acct_refused(struct blk_acct *a, enum blk_reason why)
{
    stat_inc(&a->st.refused[why]);
}
void blk_acct_host_error(struct blk_acct *a, int neg_errno);

void blk_qstats_read(const struct blk_qstats *st, struct blk_qstats_snap *s);
/* sum += s (a disk's queues added up). */
void blk_qstats_snap_add(struct blk_qstats_snap *sum, const struct blk_qstats_snap *s);

/* Names for JSON keys and metric labels: "read", "write", "flush",
 * "discard", "write_zeroes", "get_id"; "vmm", "host", "notify"; "io",
 * "no_space", "other"; and the refusal reasons as keys ("out_of_range"). */
const char *blk_op_key(enum blk_op op);
const char *blk_stage_key(enum blk_stage s);
const char *blk_host_err_key(enum blk_host_err e);
const char *blk_reason_key(enum blk_reason why);

#endif

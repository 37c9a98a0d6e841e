#include "virtio/blk_stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool blk_acct_enabled(void)
{
    const char *v = getenv("VIREO_ACCOUNTING");
    return !(v && (!strcmp(v, "off") || !strcmp(v, "0")));
}

void blk_acct_init(struct blk_acct *a, bool on)
{
    memset(a, 0, sizeof(*a));
    a->on = on;
    if (on)
        mclock_init();
}

void blk_acct_reset_transient(struct blk_acct *a)
{
    a->round_t = a->batch_t = 0;
    a->npending = 0;
}

enum blk_op blk_op_of(uint32_t type)
{
    switch (type) {
    case VIRTIO_BLK_T_IN: return BLK_OP_READ;
    case VIRTIO_BLK_T_OUT: return BLK_OP_WRITE;
    case VIRTIO_BLK_T_FLUSH: return BLK_OP_FLUSH;
    case VIRTIO_BLK_T_DISCARD: return BLK_OP_DISCARD;
    case VIRTIO_BLK_T_WRITE_ZEROES: return BLK_OP_WRITE_ZEROES;
    default: return BLK_OP_GET_ID;
    }
}

static uint64_t since(uint64_t later, uint64_t earlier)
{
    return later > earlier ? later - earlier : 0;
}

void blk_acct_pending_flush(struct blk_acct *a, uint64_t now)
{
    struct blk_qstats *st = &a->st;
    for (unsigned i = 0; i < a->npending; i++) {
        const struct blk_timing *t = &a->pending[i];
        log2hist_add(&st->stage[BLK_STAGE_VMM], since(t->t_sub, t->t_kick));
        log2hist_add(&st->stage[BLK_STAGE_HOST], since(t->t_done, t->t_sub));
        log2hist_add(&st->stage[BLK_STAGE_NOTIFY], since(now, t->t_done));
        log2hist_add(&st->lat[t->op], since(now, t->t_kick));
    }
    a->npending = 0;
}

void blk_acct_host_error(struct blk_acct *a, int neg_errno)
{
    enum blk_host_err e = BLK_HERR_OTHER;
    if (neg_errno == -EIO)
        e = BLK_HERR_IO;
    else if (neg_errno == -ENOSPC || neg_errno == -EDQUOT)
        e = BLK_HERR_NOSPACE;
    stat_inc(&a->st.host_errors[e]);
}

static void read_all(const stat_counter *c, uint64_t *out, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        out[i] = stat_read(&c[i]);
}

void blk_qstats_read(const struct blk_qstats *st, struct blk_qstats_snap *s)
{
    memset(s, 0, sizeof(*s));
    read_all(st->ops, s->ops, BLK_OP_N);
    read_all(st->bytes, s->bytes, BLK_OP_N);
    read_all(st->failed, s->failed, BLK_OP_N);
    read_all(st->refused, s->refused, BLK_REQ_NREASONS);
    read_all(st->host_errors, s->host_errors, BLK_HERR_N);
    s->kicks = stat_read(&st->kicks);
    s->notifies = stat_read(&st->notifies);
    for (unsigned i = 0; i < BLK_OP_N; i++)
        log2hist_read(&st->lat[i], &s->lat[i]);
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        log2hist_read(&st->stage[i], &s->stage[i]);
}

static void add_all(uint64_t *sum, const uint64_t *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        sum[i] += v[i];
}

void blk_qstats_snap_add(struct blk_qstats_snap *sum, const struct blk_qstats_snap *s)
{
    add_all(sum->ops, s->ops, BLK_OP_N);
    add_all(sum->bytes, s->bytes, BLK_OP_N);
    add_all(sum->failed, s->failed, BLK_OP_N);
    add_all(sum->refused, s->refused, BLK_REQ_NREASONS);
    add_all(sum->host_errors, s->host_errors, BLK_HERR_N);
    sum->kicks += s->kicks;
    sum->notifies += s->notifies;
    sum->inflight += s->inflight;
    for (unsigned i = 0; i < BLK_OP_N; i++)
        log2hist_snap_add(&sum->lat[i], &s->lat[i]);
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        log2hist_snap_add(&sum->stage[i], &s->stage[i]);
}

const char *blk_op_key(enum blk_op op)
{
    static const char *const k[BLK_OP_N] = {"read", "write", "flush", "discard", "write_zeroes", "get_id"};
    return (unsigned)op < BLK_OP_N ? k[op] : "?";
}

const char *blk_stage_key(enum blk_stage s)
{
    static const char *const k[BLK_STAGE_N] = {"vmm", "host", "notify"};
    return (unsigned)s < BLK_STAGE_N ? k[s] : "?";
}

const char *blk_host_err_key(enum blk_host_err e)
{
    static const char *const k[BLK_HERR_N] = {"io", "no_space", "other"};
    return (unsigned)e < BLK_HERR_N ? k[e] : "?";
}

const char *blk_reason_key(enum blk_reason why)
{
    static const char *const k[BLK_REQ_NREASONS] = {
        [BLK_REQ_OK] = "ok",
        [BLK_REQ_NO_HEADER] = "no_header",
        [BLK_REQ_NO_STATUS] = "no_status",
        [BLK_REQ_BAD_DIRECTION] = "bad_direction",
        [BLK_REQ_TOO_MANY_SEGMENTS] = "too_many_segments",
        [BLK_REQ_OUT_OF_RANGE] = "out_of_range",
        [BLK_REQ_MISALIGNED] = "misaligned",
        [BLK_REQ_READ_ONLY] = "read_only",
        [BLK_REQ_BAD_SEGMENT] = "bad_segment",
        [BLK_REQ_UNSUPPORTED] = "unsupported",
    };
    return (unsigned)why < BLK_REQ_NREASONS ? k[why] : "?";
}

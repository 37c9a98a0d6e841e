#include "microscope/sample.h"

#include <stddef.h>
#include <string.h>

static const char *const kind_names[MS_NR_KINDS] = {"own", "writeback", "unattributed", "device"};

const char *ms_kind_name(uint32_t kind)
{
    return kind < MS_NR_KINDS ? kind_names[kind] : "?";
}

int ms_kind_parse(const char *s)
{
    for (int i = 0; i < MS_NR_KINDS; i++)
        if (!strcmp(s, kind_names[i]))
            return i;
    return -1;
}

uint64_t ms_lost_events(const uint64_t counters[MS_NR_COUNTERS], uint64_t missed)
{
    static const int lost[] = {MS_C_AGG_FULL, MS_C_BIO_FULL, MS_C_RQ_FULL, MS_C_BIO_UNKNOWN,
                               MS_C_RQ_UNKNOWN, MS_C_STATE_FULL, MS_C_UNSEEN_DONE,
                               MS_C_UNSEEN_ISSUE};
    uint64_t n = missed;
    for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++)
        n += counters[lost[i]];
    return n;
}

void ms_val_add(struct ms_val *d, const struct ms_val *v)
{
    d->rd_bytes += v->rd_bytes;
    d->wr_bytes += v->wr_bytes;
    d->queue_ns += v->queue_ns;
    d->service_ns += v->service_ns;
    d->share_ns += v->share_ns;
    d->inflight_ns += v->inflight_ns;
    d->rd_ops += v->rd_ops;
    d->wr_ops += v->wr_ops;
    d->other_ops += v->other_ops;
    for (int i = 0; i < MS_LAT_SLOTS; i++)
        d->lat[i] += v->lat[i];
}

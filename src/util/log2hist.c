#include "util/log2hist.h"

#include <string.h>

uint64_t log2hist_upper_ns(unsigned i)
{
    return i >= LOG2HIST_BUCKETS - 1 ? UINT64_MAX : 1ull << (i + LOG2HIST_MIN_SHIFT);
}

void log2hist_read(const struct log2hist *h, struct log2hist_snap *s)
{
    s->count = 0;
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++) {
        s->bucket[i] = stat_read(&h->bucket[i]);
        s->count += s->bucket[i];
    }
    s->sum_ns = stat_read(&h->sum_ns);
}

void log2hist_snap_add(struct log2hist_snap *out, const struct log2hist_snap *a)
{
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++)
        out->bucket[i] += a->bucket[i];
    out->count += a->count;
    out->sum_ns += a->sum_ns;
}

void log2hist_snap_delta(struct log2hist_snap *out, const struct log2hist_snap *now,
                         const struct log2hist_snap *before)
{
    bool reset = now->sum_ns < before->sum_ns;
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++)
        reset = reset || now->bucket[i] < before->bucket[i];
    if (reset) {
        *out = *now;
        return;
    }
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++)
        out->bucket[i] = now->bucket[i] - before->bucket[i];
    out->sum_ns = now->sum_ns - before->sum_ns;
    log2hist_snap_fix_count(out);
}

void log2hist_snap_fix_count(struct log2hist_snap *s)
{
    s->count = 0;
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++)
        s->count += s->bucket[i];
}

double log2hist_quantile(const struct log2hist_snap *s, double q)
{
    if (!s->count)
        return 0;
    if (q > 1)
        q = 1;
    double rank = q * (double)s->count, seen = 0;
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++) {
        if (!s->bucket[i] || seen + (double)s->bucket[i] < rank) {
            seen += (double)s->bucket[i];
            continue;
        }
        double lo = i == 0 ? 0 : (double)log2hist_upper_ns(i - 1);
        if (i == LOG2HIST_BUCKETS - 1)
            return lo;
        double hi = (double)log2hist_upper_ns(i);
        return lo + (hi - lo) * (rank - seen) / (double)s->bucket[i];
    }
    return (double)log2hist_upper_ns(LOG2HIST_BUCKETS - 2);
}

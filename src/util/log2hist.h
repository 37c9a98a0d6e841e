/* A log2 histogram of durations in nanoseconds, with one writer (see
 * stat_counter.h) and readers anywhere: a bucket per power of two, so
 * recording is a count-leading-zeros and two adds.
 *
 * Bucket i counts values in (2^(i+7), 2^(i+8)] ns: bucket 0 everything up
 * to 256 ns, bucket 1 (256, 512], ..., bucket 30 up to 2^38 ns (275 s);
 * the last, LOG2HIST_BUCKETS - 1, anything longer.  Bounds are powers of
 * two nanoseconds everywhere, so histograms from different hosts add up
 * (Prometheus `le` labels are the same). */
#ifndef VIREO_UTIL_LOG2HIST_H
#define VIREO_UTIL_LOG2HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/stat_counter.h"

#define LOG2HIST_BUCKETS   32
#define LOG2HIST_MIN_SHIFT 8     /* bucket 0's upper bound: 2^8 ns */

struct log2hist {
    stat_counter bucket[LOG2HIST_BUCKETS];
    stat_counter sum_ns;
};

/* A copy, or the difference of two copies. */
struct log2hist_snap {
    uint64_t bucket[LOG2HIST_BUCKETS];
    uint64_t count;            /* the buckets' total */
    uint64_t sum_ns;
};

static inline unsigned log2hist_index(uint64_t ns)
{
    if (ns <= (1ull << LOG2HIST_MIN_SHIFT))
        return 0;
    unsigned i = 64u - (unsigned)__builtin_clzll(ns - 1) - LOG2HIST_MIN_SHIFT;
    return i < LOG2HIST_BUCKETS - 1 ? i : LOG2HIST_BUCKETS - 1;
}

/* Only from the histogram's writer. */
static inline void log2hist_add(struct log2hist *h, uint64_t ns)
{
    stat_inc(&h->bucket[log2hist_index(ns)]);
    stat_add(&h->sum_ns, ns);
}

/* Bucket i's upper bound in ns; UINT64_MAX for the last (+Inf). */
uint64_t log2hist_upper_ns(unsigned i);

void log2hist_read(const struct log2hist *h, struct log2hist_snap *s);
/* out = a + b (sums over queues). */
void log2hist_snap_add(struct log2hist_snap *out, const struct log2hist_snap *a);
/* out = now - before, bucket by bucket: what happened in between.  A
 * bucket that went down (the counters were reset: the VM restarted) makes
 * the whole difference `now`, as Prometheus treats a counter reset. */
void log2hist_snap_delta(struct log2hist_snap *out, const struct log2hist_snap *now,
                         const struct log2hist_snap *before);
/* The q-quantile (0 < q <= 1) in ns, interpolated linearly inside its
 * bucket as Prometheus' histogram_quantile() does (bucket 0 from 0); in
 * the last, open bucket its lower bound.  0 when the histogram is empty. */
double log2hist_quantile(const struct log2hist_snap *s, double q);
/* Sets count from the buckets (after filling buckets by hand). */
void log2hist_snap_fix_count(struct log2hist_snap *s);

#endif

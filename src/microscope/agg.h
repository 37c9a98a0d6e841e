/* Per-task timelines built from samples, and what the report derives from
 * them: totals, bursts and the I/O-intensity criterion. */
#ifndef VIREO_MS_AGG_H
#define VIREO_MS_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "microscope/sample.h"

/* One bucket of one series (sparse: only buckets with activity exist). */
struct ms_point {
    uint64_t t_ns;        /* bucket start */
    uint64_t bytes;       /* read + write */
    uint64_t rd_bytes;
    uint64_t wr_bytes;
    uint64_t inflight_ns;
    uint64_t share_ns;
    uint32_t ops;
};

/* One (tid, dev, kind): a task's I/O on one device, or a device row. */
struct ms_series {
    uint32_t tid, pid, dev, kind;
    uint64_t cgroup;
    char comm[64];
    char devname[32];
    char vm[MS_VM_NAME];  /* a VM's threads put together (--by vm), else "" */
    uint32_t threads;     /* rows merged into this one (1 for a task) */
    struct ms_val total;  /* with threads > 1, inflight_ns is only the sum of
                           * the threads' busy times, not their union */
    struct ms_point *pts; /* sorted by t_ns after ms_agg_finish */
    size_t npts, cap;
};

struct ms_agg {
    uint64_t bucket_ns;
    uint64_t first_ns, last_ns; /* span of the buckets seen */
    struct ms_series *series;
    size_t nseries, cap;
    /* open-addressing index (tid, dev, kind) -> series */
    uint32_t *index;
    size_t index_cap;
};

void ms_agg_init(struct ms_agg *a, uint64_t bucket_ns);
void ms_agg_free(struct ms_agg *a);
int ms_agg_add(struct ms_agg *a, const struct ms_sample *s);
/* Adds series s to a, as the row (tid, s's device and kind), named vm
 * when not NULL: the points are appended, the totals added. */
int ms_agg_merge(struct ms_agg *a, const struct ms_series *s, uint32_t tid, const char *vm);
/* Sorts points and merges duplicates (the same bucket drained twice). */
void ms_agg_finish(struct ms_agg *a);

/* Bursts: runs of buckets with I/O (bytes completed or requests in
 * service), runs closer than gap_ns merged. */
struct ms_burst {
    uint64_t start_ns, end_ns; /* bucket edges */
    uint64_t bytes;
    uint64_t ops;
    uint64_t peak_bucket_bytes;
};
size_t ms_series_bursts(const struct ms_series *s, uint64_t bucket_ns, uint64_t gap_ns,
                        uint64_t min_bytes, struct ms_burst **out);

/* I/O intensity: the largest share of a device's time the series used in
 * any window of window_ns (share_ns summed over the window / window_ns),
 * and the largest byte rate over the same windows. */
struct ms_intensity {
    double peak_share;      /* 0..1 (can exceed 1 only through rounding) */
    uint64_t peak_share_at; /* window start */
    double peak_rate;       /* bytes per second */
};
void ms_series_intensity(const struct ms_series *s, uint64_t window_ns, struct ms_intensity *out);

#endif

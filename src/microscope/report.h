/* `vireo microscope report`: which tasks were I/O-intensive, and when.
 *
 * Criterion (documented in the README): a row (task, device, kind) is
 * I/O-intensive when, in some window of window_ns (5 ms), it used at least
 * min_share (20 %) of the device's time, counting device time the fair way
 * (while n requests are in service each gets 1/n of the time).  Bursts are
 * runs of buckets with I/O, merged across gaps of up to gap_ns. */
#ifndef VIREO_MS_REPORT_H
#define VIREO_MS_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"

struct ms_report_opts {
    uint64_t window_ns;
    double min_share;
    uint64_t gap_ns;
    uint64_t min_burst_bytes;
    unsigned top;       /* rows listed (intensive ones always are) */
    unsigned max_bursts; /* bursts listed per row in the text report */
};

void ms_report_defaults(struct ms_report_opts *o);

/* Task rows in report order: intensive first (by peak share), then the
 * others by bytes.  Device rows are left out.  Caller frees *rows. */
struct ms_ranked {
    const struct ms_series *s;
    struct ms_intensity in;
    bool intensive;
};
size_t ms_rank(const struct ms_agg *a, const struct ms_report_opts *o, struct ms_ranked **rows);

/* The recording's span, the same in every output: from its start to its
 * end record or, cut short, to the end of its last bucket. */
void ms_span(const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t, uint64_t *t0,
             uint64_t *t1);

/* A row's name as people read it: "VM web" for a VM's threads put
 * together, else the task's name; printable() either way. */
const char *ms_row_name(char *buf, size_t len, const struct ms_series *s);

/* Rows put together from more than one VM thread: their busy time
 * (inflight_ns) is not known, only the sum of the threads'. */
static inline bool ms_row_merged(const struct ms_series *s)
{
    return s->threads > 1;
}

int ms_report_text(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                   const struct ms_report_opts *o);
int ms_report_json(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                   const struct ms_report_opts *o);

#endif

/* The live view: one screen per refresh, built from the refresh window's
 * samples at full resolution (peak 1-bucket rate, active buckets). */
#ifndef VIREO_MS_LIVE_H
#define VIREO_MS_LIVE_H

#include <stdbool.h>
#include <stdio.h>

#include "microscope/agg.h"

struct ms_live_status {
    uint64_t counters[MS_NR_COUNTERS];
    uint64_t missed;
    double elapsed_s;     /* since measuring began */
    char since[16];       /* when it began, local time: "14:02:07" */
};

/* tty: clear the screen first; otherwise print blocks one after another,
 * as `top -b` does.  Names are printed in their printable() form: a task
 * names itself, and root reads this. */
void ms_live_render(FILE *f, const struct ms_agg *win, uint64_t window_ns, const struct ms_live_status *st,
                    unsigned top, bool tty);

#endif

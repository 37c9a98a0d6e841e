/* Timeline plot: one strip per device (busy time) and per listed task
 * (bytes read and written per column of buckets), on a shared time axis. */
#ifndef VIREO_MS_SVG_H
#define VIREO_MS_SVG_H

#include <stdio.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"
#include "microscope/report.h"

/* Tasks plotted: the report's rows, intensive first, at most max_rows. */
int ms_svg_write(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_report_opts *o,
                 unsigned max_rows);

#endif

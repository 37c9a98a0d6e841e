/* Timeline plot: one strip per busy device (busy time, linear) and per
 * listed task or VM that moved bytes (bytes per second per column of
 * buckets, on a log scale all task strips share), on one time axis, with a
 * legend that says all of this in the picture itself. */
#ifndef VIREO_MS_SVG_H
#define VIREO_MS_SVG_H

#include <stdio.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"
#include "microscope/report.h"

/* Tasks plotted: the report's rows, intensive first, at most max_rows. */
int ms_svg_write(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                 const struct ms_report_opts *o, unsigned max_rows);

#endif

/* libFuzzer target: recordings a user hands to `vireo microscope report`.
 * The input is parsed as a recording; what parses is aggregated and the
 * text report, the JSON report and the plot are produced from it.  Nothing
 * may crash, read out of bounds or leak; a rejected input must say where. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"
#include "microscope/report.h"
#include "microscope/svg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int add(void *arg, const struct ms_sample *s)
{
    return ms_agg_add(arg, s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_header h;
    struct ms_trailer t;
    struct ms_agg a;
    char err[512] = "";
    ms_agg_init(&a, 0);
    int rc = ms_read_buf((const char *)data, size, "f", &h, &t, add, &a, err, sizeof(err));
    if (rc < 0) {
        if (strncmp(err, "f:", 2))
            abort(); /* every error names the file and line */
    } else {
        a.bucket_ns = h.bucket_ns;
        ms_agg_finish(&a);
        struct ms_report_opts o;
        ms_report_defaults(&o);
        FILE *f = fopen("/dev/null", "w");
        ms_report_text(f, &a, &h, &t, &o);
        ms_report_json(f, &a, &h, &t, &o);
        ms_svg_write(f, &a, &h, &o, 4);
        fclose(f);
    }
    ms_agg_free(&a);
    return 0;
}

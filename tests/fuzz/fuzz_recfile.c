/* libFuzzer target: recordings a user hands to `vireo microscope report`.
 * The input is parsed as a recording; what parses is aggregated, by task
 * and by VM, and the text report, the JSON report and the plot are
 * produced from it.  Nothing may crash, read out of bounds or leak; a
 * rejected input must say where. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"
#include "microscope/report.h"
#include "microscope/svg.h"
#include "microscope/vmmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct in {
    struct ms_agg agg;
    struct ms_vmmap vms;
};

static int add(void *arg, const struct ms_sample *s)
{
    struct in *in = arg;
    in->agg.bucket_ns = s->bucket_ns;
    return ms_agg_add(&in->agg, s);
}

static int vm(void *arg, const struct ms_vm *v)
{
    return ms_vmmap_add(&((struct in *)arg)->vms, v) < 0 ? -1 : 0;
}

static void outputs(const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t)
{
    struct ms_report_opts o;
    ms_report_defaults(&o);
    FILE *f = fopen("/dev/null", "w");
    ms_report_text(f, a, h, t, &o);
    ms_report_json(f, a, h, t, &o);
    ms_svg_write(f, a, h, t, &o, 4);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ms_header h;
    struct ms_trailer t;
    struct in in;
    char err[512] = "";
    ms_agg_init(&in.agg, 0);
    ms_vmmap_init(&in.vms);
    struct ms_read_cbs cb = {.sample = add, .vm = vm, .arg = &in};
    int rc = ms_read_buf((const char *)data, size, "f", &h, &t, &cb, err, sizeof(err));
    if (rc < 0) {
        if (strncmp(err, "f:", 2))
            abort(); /* every error names the file and line */
    } else {
        in.agg.bucket_ns = h.bucket_ns; /* also when no sample came */
        ms_agg_finish(&in.agg);
        outputs(&in.agg, &h, &t);
        struct ms_agg byvm;
        if (ms_agg_by_vm(&in.agg, &in.vms, &byvm) == 0) {
            outputs(&byvm, &h, &t);
            ms_agg_free(&byvm);
        }
    }
    ms_agg_free(&in.agg);
    ms_vmmap_free(&in.vms);
    return 0;
}

/* Aggregation of samples into per-task timelines, bursts, the intensity
 * criterion and the report built on them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "microscope/agg.h"
#include "microscope/report.h"
#include "microscope/svg.h"
#include "microscope/vmmap.h"

#define MS 1000000ull
#define T0 1000000000ull

static void add(struct ms_agg *a, uint32_t tid, uint32_t kind, uint64_t bucket, uint64_t bytes, uint64_t inflight,
                uint64_t share)
{
    struct ms_sample s = {0};
    s.t_ns = T0 + bucket * MS;
    s.bucket_ns = MS;
    s.tid = tid;
    s.pid = tid;
    s.dev = 7u << 20;
    s.kind = kind;
    snprintf(s.comm, sizeof(s.comm), "t%u", tid);
    snprintf(s.devname, sizeof(s.devname), "loop0");
    s.v.rd_bytes = bytes;
    s.v.rd_ops = bytes ? 1 : 0;
    s.v.inflight_ns = inflight;
    s.v.share_ns = share;
    assert_int_equal(ms_agg_add(a, &s), 0);
}

static const struct ms_series *find(const struct ms_agg *a, uint32_t tid, uint32_t kind)
{
    for (size_t i = 0; i < a->nseries; i++)
        if (a->series[i].tid == tid && a->series[i].kind == kind)
            return &a->series[i];
    fail_msg("no series %u/%u", tid, kind);
    return NULL;
}

static void series_and_totals(void **state)
{
    (void)state;
    struct ms_agg a;
    ms_agg_init(&a, MS);
    for (uint32_t tid = 1; tid <= 300; tid++) /* forces the index to grow */
        add(&a, tid, MS_OWN, tid, 100, 0, 0);
    add(&a, 5, MS_WRITEBACK, 9, 7, 0, 0);
    add(&a, 5, MS_OWN, 5, 50, 0, 0); /* the same bucket drained twice */
    ms_agg_finish(&a);
    assert_int_equal(a.nseries, 301);
    const struct ms_series *s = find(&a, 5, MS_OWN);
    assert_int_equal(s->total.rd_bytes, 150);
    assert_int_equal(s->npts, 1);
    assert_int_equal(s->pts[0].bytes, 150);
    assert_int_equal(find(&a, 5, MS_WRITEBACK)->total.rd_bytes, 7);
    assert_string_equal(s->devname, "loop0");
    assert_int_equal(a.first_ns, T0 + MS);
    assert_int_equal(a.last_ns, T0 + 301 * MS);
    ms_agg_free(&a);
}

static void bursts(void **state)
{
    (void)state;
    struct ms_agg a;
    ms_agg_init(&a, MS);
    add(&a, 1, MS_OWN, 12, 300, MS, 0);
    add(&a, 1, MS_OWN, 10, 100, MS, 0);
    add(&a, 1, MS_OWN, 11, 200, MS, 0);
    add(&a, 1, MS_OWN, 14, 0, MS / 2, 0); /* only in flight: still active */
    add(&a, 1, MS_OWN, 16, 50, MS, 0);    /* 2 ms after the end of 14: merged */
    add(&a, 1, MS_OWN, 20, 10, MS, 0);    /* 3 ms gap: a new burst */
    add(&a, 1, MS_OWN, 30, 0, 0, 0);      /* nothing at all: not active */
    ms_agg_finish(&a);
    struct ms_burst *b;
    size_t n = ms_series_bursts(find(&a, 1, MS_OWN), MS, 2 * MS, 1, &b);
    assert_int_equal(n, 2);
    assert_int_equal(b[0].start_ns, T0 + 10 * MS);
    assert_int_equal(b[0].end_ns, T0 + 17 * MS);
    assert_int_equal(b[0].bytes, 650);
    assert_int_equal(b[0].peak_bucket_bytes, 300);
    assert_int_equal(b[1].start_ns, T0 + 20 * MS);
    assert_int_equal(b[1].end_ns, T0 + 21 * MS);
    free(b);
    /* min_bytes drops the small one */
    n = ms_series_bursts(find(&a, 1, MS_OWN), MS, 2 * MS, 100, &b);
    assert_int_equal(n, 1);
    free(b);
    /* a zero gap splits at every idle bucket */
    n = ms_series_bursts(find(&a, 1, MS_OWN), MS, 0, 1, &b);
    assert_int_equal(n, 3);
    free(b);
    ms_agg_free(&a);
}

static void intensity(void **state)
{
    (void)state;
    struct ms_agg a;
    ms_agg_init(&a, MS);
    /* 3 ms at 80 % of the device, then a long trickle at 1 % */
    add(&a, 1, MS_OWN, 100, 1000, MS, 800000);
    add(&a, 1, MS_OWN, 101, 1000, MS, 800000);
    add(&a, 1, MS_OWN, 102, 1000, MS, 800000);
    for (int i = 200; i < 400; i++)
        add(&a, 2, MS_OWN, (uint64_t)i, 10, 10000, 10000);
    ms_agg_finish(&a);
    struct ms_intensity in;
    ms_series_intensity(find(&a, 1, MS_OWN), 10 * MS, &in);
    assert_true(in.peak_share > 0.2399 && in.peak_share < 0.2401);
    assert_int_equal(in.peak_share_at, T0 + 100 * MS);
    assert_true(in.peak_rate > 299999 && in.peak_rate < 300001); /* 3000 B per 10 ms */
    ms_series_intensity(find(&a, 2, MS_OWN), 10 * MS, &in);
    assert_true(in.peak_share > 0.0099 && in.peak_share < 0.0101);

    struct ms_report_opts o;
    ms_report_defaults(&o);
    o.window_ns = 10 * MS;
    struct ms_ranked *rows;
    size_t n = ms_rank(&a, &o, &rows);
    assert_int_equal(n, 2);
    assert_true(rows[0].intensive);
    assert_int_equal(rows[0].s->tid, 1);
    assert_false(rows[1].intensive);
    free(rows);
    o.min_share = 0.25; /* just above task 1's peak */
    n = ms_rank(&a, &o, &rows);
    assert_false(rows[0].intensive);
    assert_int_equal(rows[0].s->tid, 1); /* then by bytes: 3000 > 2000 */
    free(rows);
    ms_agg_free(&a);
}

static void report_and_plot(void **state)
{
    (void)state;
    struct ms_agg a;
    ms_agg_init(&a, MS);
    for (uint64_t b = 100; b < 105; b++) {
        add(&a, 1, MS_OWN, b, 4096, MS, 900000);
        add(&a, 0, MS_DEVICE, b, 4096, MS, 900000);
    }
    ms_agg_finish(&a);
    strcpy(a.series[0].comm, "<evil&>");
    struct ms_header h = {.bucket_ns = MS, .start_ns = T0, .host = "h"};
    struct ms_trailer t = {.present = true, .end_ns = T0 + 200 * MS};
    t.counters[MS_C_WB_UNATTRIB] = 3;
    struct ms_report_opts o;
    ms_report_defaults(&o);
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ms_report_text(f, &a, &h, &t, &o), 0);
    fclose(f);
    assert_non_null(strstr(buf, "I/O-intensive tasks: 1 (criterion: used >= 20% of a device's time in some 5 ms window"));
    assert_non_null(strstr(buf, "burst at    100.000 ms for    5.000 ms: 20.0 KiB in 5 requests"));
    assert_non_null(strstr(buf, "3 with no known dirtier"));
    assert_non_null(strstr(buf, "loop0      7:0    busy   2.5%"));
    free(buf);

    f = open_memstream(&buf, &len);
    assert_int_equal(ms_report_json(f, &a, &h, &t, &o), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"bursts\":[{\"start_ns\":1100000000,\"end_ns\":1105000000,\"bytes\":20480,\"ops\":5}]"));
    assert_non_null(strstr(buf, "\"comm\":\"<evil&>\""));
    free(buf);

    f = open_memstream(&buf, &len);
    assert_int_equal(ms_svg_write(f, &a, &h, &t, &o, 10), 0);
    fclose(f);
    assert_memory_equal(buf, "<?xml ", 6);
    assert_non_null(strstr(buf, "&lt;evil&amp;&gt;"));
    assert_null(strstr(buf, "<evil"));
    assert_non_null(strstr(buf, "device loop0"));
    free(buf);
    ms_agg_free(&a);
}

static void add_pid(struct ms_agg *a, uint32_t tid, uint32_t pid, uint64_t bucket, uint64_t bytes)
{
    struct ms_sample s = {0};
    s.t_ns = T0 + bucket * MS;
    s.bucket_ns = MS;
    s.tid = tid;
    s.pid = pid;
    s.dev = 7u << 20;
    s.kind = MS_OWN;
    snprintf(s.comm, sizeof(s.comm), tid == pid ? "vireo" : "vireo-io%u", tid);
    snprintf(s.devname, sizeof(s.devname), "loop0");
    s.v.rd_bytes = bytes;
    s.v.rd_ops = 1;
    s.v.share_ns = MS / 2;
    s.v.inflight_ns = MS / 2;
    assert_int_equal(ms_agg_add(a, &s), 0);
}

/* --by vm: a VM's threads become one row; other tasks and devices stay. */
static void by_vm(void **state)
{
    (void)state;
    struct ms_agg a, v;
    ms_agg_init(&a, MS);
    add_pid(&a, 10, 10, 1, 4096);  /* the VM's main thread */
    add_pid(&a, 11, 10, 1, 8192);  /* its I/O thread, same bucket */
    add_pid(&a, 12, 10, 3, 4096);  /* a vCPU */
    add_pid(&a, 20, 20, 1, 512);   /* someone else */
    add_pid(&a, 30, 30, 900, 100); /* pid 30: a task, before a VM got that pid */
    add(&a, 0, MS_DEVICE, 1, 16384, MS, MS);
    ms_agg_finish(&a);
    struct ms_vmmap m;
    ms_vmmap_init(&m);
    assert_int_equal(ms_vmmap_add(&m, &(struct ms_vm){.t_ns = T0 + 500 * MS, .pid = 10, .name = "web"}), 1);
    assert_int_equal(ms_vmmap_add(&m, &(struct ms_vm){.t_ns = T0 + 600 * MS, .pid = 10, .name = "web"}), 0);
    assert_int_equal(ms_vmmap_add(&m, &(struct ms_vm){.t_ns = T0 + 1000 * MS, .pid = 30, .name = "late"}), 1);
    /* pid 10's I/O came before the recorder noticed the VM: still web's */
    assert_string_equal(ms_vmmap_find(&m, 10, T0)->name, "web");
    assert_null(ms_vmmap_find(&m, 20, T0));
    assert_int_equal(ms_agg_by_vm(&a, &m, &v), 0);
    assert_int_equal(v.nseries, 4);
    const struct ms_series *w = find(&v, 10, MS_OWN);
    assert_string_equal(w->vm, "web");
    assert_int_equal(w->threads, 3);
    assert_int_equal(w->total.rd_bytes, 16384);
    assert_int_equal(w->total.rd_ops, 3);
    assert_int_equal(w->npts, 2); /* buckets 1 and 3; bucket 1's two threads added up */
    assert_int_equal(w->pts[0].bytes, 12288);
    assert_int_equal(find(&v, 20, MS_OWN)->threads, 1);
    assert_string_equal(find(&v, 20, MS_OWN)->vm, "");
    assert_int_equal(find(&v, 0, MS_DEVICE)->total.rd_bytes, 16384);
    /* pid 30 was mapped only from 1000 ms on; its earliest record is the
     * fallback, so a single record rules the whole recording */
    assert_string_equal(find(&v, 30, MS_OWN)->vm, "late");

    struct ms_header h = {.bucket_ns = MS, .start_ns = T0, .host = "h"};
    struct ms_trailer t = {.present = true, .end_ns = T0 + 1000 * MS};
    struct ms_report_opts o;
    ms_report_defaults(&o);
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ms_report_text(f, &v, &h, &t, &o), 0);
    fclose(f);
    assert_non_null(strstr(buf, "  -        10       VM web "));
    assert_non_null(strstr(buf, "(3 thread rows)"));
    assert_non_null(strstr(buf, "guest-visible latency"));
    free(buf);
    f = open_memstream(&buf, &len);
    assert_int_equal(ms_report_json(f, &v, &h, &t, &o), 0);
    fclose(f);
    assert_non_null(strstr(buf, "\"vm\":\"web\",\"threads\":3,\"guest_latency\":null"));
    assert_non_null(strstr(buf, "\"inflight_ns\":null"));
    free(buf);
    ms_agg_free(&v);
    ms_agg_free(&a);
    ms_vmmap_free(&m);
}

/* A recording with a header and no sample (fuzz_recfile found it): the
 * plot's columns come from the header's bucket, never a zero width. */
static void plot_without_samples(void **state)
{
    (void)state;
    struct ms_agg a;
    ms_agg_init(&a, 0);
    ms_agg_finish(&a);
    struct ms_header h = {.bucket_ns = MS, .start_ns = T0, .host = "h"};
    struct ms_trailer t = {0};
    struct ms_report_opts o;
    ms_report_defaults(&o);
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(ms_svg_write(f, &a, &h, &t, &o, 10), 0);
    fclose(f);
    assert_non_null(strstr(buf, "one column of pixels = 1.000 ms"));
    assert_null(strstr(buf, "nan"));
    assert_non_null(strstr(buf, ">0 ms</text>"));
    free(buf);
    ms_agg_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(series_and_totals),
        cmocka_unit_test(bursts),
        cmocka_unit_test(intensity),
        cmocka_unit_test(report_and_plot),
        cmocka_unit_test(by_vm),
        cmocka_unit_test(plot_without_samples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

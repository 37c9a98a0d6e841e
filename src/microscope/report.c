#include "microscope/report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/printable.h"

static const char *const counter_names[MS_NR_COUNTERS] = MS_COUNTER_NAMES;

void ms_report_defaults(struct ms_report_opts *o)
{
    o->window_ns = 5000000; /* a few buckets: the bursts per-second tools blur away */
    o->min_share = 0.20;
    o->gap_ns = 2000000;
    o->min_burst_bytes = 1;
    o->top = 20;
    o->max_bursts = 20;
}

static uint64_t bytes_of(const struct ms_series *s)
{
    return s->total.rd_bytes + s->total.wr_bytes;
}

static int by_rank(const void *x, const void *y)
{
    const struct ms_ranked *a = x, *b = y;
    if (a->intensive != b->intensive)
        return a->intensive ? -1 : 1;
    if (a->intensive && a->in.peak_share != b->in.peak_share)
        return a->in.peak_share > b->in.peak_share ? -1 : 1;
    uint64_t ba = bytes_of(a->s), bb = bytes_of(b->s);
    if (ba != bb)
        return ba > bb ? -1 : 1;
    return a->s->tid < b->s->tid ? -1 : a->s->tid > b->s->tid;
}

size_t ms_rank(const struct ms_agg *a, const struct ms_report_opts *o, struct ms_ranked **rows)
{
    struct ms_ranked *r = calloc(a->nseries ? a->nseries : 1, sizeof(*r));
    size_t n = 0;
    if (!r) {
        *rows = NULL;
        return 0;
    }
    for (size_t i = 0; i < a->nseries; i++) {
        const struct ms_series *s = &a->series[i];
        if (s->kind == MS_DEVICE)
            continue;
        r[n].s = s;
        ms_series_intensity(s, o->window_ns, &r[n].in);
        r[n].intensive = r[n].in.peak_share >= o->min_share;
        n++;
    }
    qsort(r, n, sizeof(*r), by_rank);
    *rows = r;
    return n;
}

static void human(char *buf, size_t len, double bytes)
{
    static const char *const u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (bytes >= 1024 && i < 4) {
        bytes /= 1024;
        i++;
    }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

static double rel_ms(const struct ms_header *h, uint64_t t)
{
    return t >= h->start_ns ? (double)(t - h->start_ns) / 1e6 : -(double)(h->start_ns - t) / 1e6;
}

void ms_span(const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t, uint64_t *t0,
             uint64_t *t1)
{
    *t0 = h->start_ns;
    *t1 = t->present && t->end_ns > h->start_ns ? t->end_ns : a->last_ns > h->start_ns ? a->last_ns : h->start_ns;
}

const char *ms_row_name(char *buf, size_t len, const struct ms_series *s)
{
    char tmp[PRINTABLE_CAP(MS_VM_NAME)];
    if (s->vm[0])
        snprintf(buf, len, "VM %s", printable(tmp, sizeof(tmp), s->vm));
    else
        printable(buf, len, s->comm);
    return buf;
}

static void print_counters(FILE *f, const struct ms_trailer *t)
{
    if (!t->present) {
        fprintf(f, "lost events: unknown (the recording has no end record: it was cut short%s)\n",
                t->cut_line ? "; its unfinished last line was dropped" : "");
        return;
    }
    uint64_t lost = ms_lost_events(t->counters, t->missed);
    fprintf(f, "lost or unmatched events: %" PRIu64 " (", lost);
    fprintf(f, "program runs skipped %" PRIu64, t->missed);
    for (int i = 0; i < MS_NR_COUNTERS; i++)
        if (i != MS_C_DIRTY && i != MS_C_WB_ATTRIB && i != MS_C_WB_UNATTRIB)
            fprintf(f, ", %s %" PRIu64, counter_names[i], t->counters[i]);
    fprintf(f, ")\nwriteback: %" PRIu64 " folios charged to the task that dirtied them, %" PRIu64
               " with no known dirtier (rows of kind 'unattributed')\n",
            t->counters[MS_C_WB_ATTRIB], t->counters[MS_C_WB_UNATTRIB]);
}

static double avg_ms(uint64_t ns, uint64_t ops)
{
    return ops ? (double)ns / (double)ops / 1e6 : 0;
}

int ms_report_text(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                   const struct ms_report_opts *o)
{
    uint64_t t0, t1;
    ms_span(a, h, t, &t0, &t1);
    double span = (double)(t1 - t0) / 1e9;
    char host[PRINTABLE_CAP(sizeof(h->host))], dev[PRINTABLE_CAP(sizeof(a->series[0].devname))];
    fprintf(f, "recording: host %s, %.3f s, buckets of %.3f ms\n", h->host[0] ? printable(host, sizeof(host), h->host) : "?",
            span, (double)h->bucket_ns / 1e6);
    print_counters(f, t);

    fputs("\ndevices:\n", f);
    for (size_t i = 0; i < a->nseries; i++) {
        const struct ms_series *s = &a->series[i];
        if (s->kind != MS_DEVICE)
            continue;
        char rd[32], wr[32];
        human(rd, sizeof(rd), (double)s->total.rd_bytes);
        human(wr, sizeof(wr), (double)s->total.wr_bytes);
        uint64_t ops = s->total.rd_ops + s->total.wr_ops + s->total.other_ops;
        fprintf(f, "  %-10s %u:%-4u busy %5.1f%%  read %s  write %s  %" PRIu64 " requests  avg queue %.3f ms  service %.3f ms\n",
                s->devname[0] ? printable(dev, sizeof(dev), s->devname) : "?", MS_DEV_MAJOR(s->dev), MS_DEV_MINOR(s->dev),
                span > 0 ? 100.0 * (double)s->total.inflight_ns / 1e9 / span : 0, rd, wr, ops,
                avg_ms(s->total.queue_ns, ops), avg_ms(s->total.service_ns, ops));
    }

    struct ms_ranked *rows;
    size_t n = ms_rank(a, o, &rows);
    size_t nint = 0;
    while (nint < n && rows[nint].intensive)
        nint++;
    fprintf(f,
            "\nI/O-intensive tasks: %zu (criterion: used >= %.0f%% of a device's time in some %.0f ms window;\n"
            "device time shared equally among the requests in service)\n",
            nint, o->min_share * 100, (double)o->window_ns / 1e6);
    fprintf(f, "  %-8s %-8s %-16s %-8s %-12s %10s %10s %7s %6s %10s %6s\n", "TID", "PID", "COMM", "DEV", "KIND",
            "READ", "WRITE", "OPS", "PEAK%", "PEAK-RATE", "BURSTS");
    size_t shown = 0, vms = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ms_ranked *r = &rows[i];
        if (!r->intensive && shown >= o->top)
            break;
        if (i == nint)
            fputs("other tasks with I/O:\n", f);
        const struct ms_series *s = r->s;
        struct ms_burst *b;
        size_t nb = ms_series_bursts(s, a->bucket_ns, o->gap_ns, o->min_burst_bytes, &b);
        char rd[32], wr[32], rate[32];
        human(rd, sizeof(rd), (double)s->total.rd_bytes);
        human(wr, sizeof(wr), (double)s->total.wr_bytes);
        human(rate, sizeof(rate), r->in.peak_rate);
        char name[PRINTABLE_CAP(MS_VM_NAME) + 8], tid[16];
        snprintf(tid, sizeof(tid), s->vm[0] ? "-" : "%u", s->tid);
        fprintf(f, "  %-8s %-8u %-16s %-8s %-12s %10s %10s %7u %5.1f%% %8s/s %6zu", tid, s->pid,
                ms_row_name(name, sizeof(name), s), s->devname[0] ? printable(dev, sizeof(dev), s->devname) : "?",
                ms_kind_name(s->kind), rd, wr, s->total.rd_ops + s->total.wr_ops + s->total.other_ops,
                r->in.peak_share * 100, rate, nb);
        if (s->vm[0]) {
            fprintf(f, "  (%u thread row%s)", s->threads, s->threads == 1 ? "" : "s");
            vms++;
        }
        fputc('\n', f);
        if (r->intensive) {
            for (size_t k = 0; k < nb && k < o->max_bursts; k++) {
                char by[32];
                human(by, sizeof(by), (double)b[k].bytes);
                fprintf(f, "      burst at %10.3f ms for %8.3f ms: %s in %" PRIu64 " requests\n",
                        rel_ms(h, b[k].start_ns), (double)(b[k].end_ns - b[k].start_ns) / 1e6, by, b[k].ops);
            }
            if (nb > o->max_bursts)
                fprintf(f, "      ... %zu more bursts (--json lists all)\n", nb - o->max_bursts);
        }
        free(b);
        shown++;
    }
    if (shown < n)
        fprintf(f, "  ... %zu more rows with I/O (--top N)\n", n - shown);
    /* Issue 15 section 1 (the VMM's own per-request timing) will put each
     * VM's guest-visible latency beside its host-side time here. */
    if (vms)
        fputs("VM rows: every thread of the VM's process together, host side only (the guest-visible latency\n"
              "beside it needs the VMM's per-request accounting, not built yet)\n",
              f);
    free(rows);
    return ferror(f) ? -1 : 0;
}

static void json_name(FILE *f, const char *key, const char *s)
{
    char buf[PRINTABLE_CAP(MS_VM_NAME)];
    fprintf(f, "\"%s\":", key);
    json_string(f, printable(buf, sizeof(buf), s));
}

static void json_series(FILE *f, const struct ms_series *s)
{
    fprintf(f, "\"tid\":%u,\"pid\":%u,", s->tid, s->pid);
    json_name(f, "comm", s->comm);
    if (s->vm[0]) {
        fputc(',', f);
        json_name(f, "vm", s->vm);
        /* guest_latency: the VMM's view of the same requests (issue 15
         * section 1), not measured yet */
        fprintf(f, ",\"threads\":%u,\"guest_latency\":null", s->threads);
    }
    fprintf(f, ",\"cgroup\":%" PRIu64 ",\"dev\":\"%u:%u\",", s->cgroup, MS_DEV_MAJOR(s->dev), MS_DEV_MINOR(s->dev));
    json_name(f, "devname", s->devname);
    fprintf(f,
            ",\"kind\":\"%s\",\"rd_bytes\":%" PRIu64 ",\"wr_bytes\":%" PRIu64
            ",\"rd_ops\":%u,\"wr_ops\":%u,\"other_ops\":%u,\"queue_ns\":%" PRIu64 ",\"service_ns\":%" PRIu64
            ",\"share_ns\":%" PRIu64,
            ms_kind_name(s->kind), s->total.rd_bytes, s->total.wr_bytes, s->total.rd_ops, s->total.wr_ops,
            s->total.other_ops, s->total.queue_ns, s->total.service_ns, s->total.share_ns);
    if (ms_row_merged(s)) /* the union of several threads' busy times is not known */
        fputs(",\"inflight_ns\":null", f);
    else
        fprintf(f, ",\"inflight_ns\":%" PRIu64, s->total.inflight_ns);
}

int ms_report_json(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                   const struct ms_report_opts *o)
{
    uint64_t t0, t1;
    ms_span(a, h, t, &t0, &t1);
    fputs("{\"recording\":{", f);
    json_name(f, "host", h->host);
    fprintf(f,
            ",\"bucket_ns\":%" PRIu64 ",\"start_ns\":%" PRIu64 ",\"start_realtime_ns\":%" PRIu64
            ",\"end_ns\":%" PRIu64 ",\"complete\":%s,\"last_line_dropped\":%s},",
            h->bucket_ns, h->start_ns, h->start_realtime_ns, t1, t->present ? "true" : "false",
            t->cut_line ? "true" : "false");
    fprintf(f, "\"criterion\":{\"window_ns\":%" PRIu64 ",\"min_share\":%.4f,\"gap_ns\":%" PRIu64 "},",
            o->window_ns, o->min_share, o->gap_ns);
    fprintf(f, "\"counters\":{\"missed\":%" PRIu64, t->missed);
    for (int i = 0; i < MS_NR_COUNTERS; i++)
        fprintf(f, ",\"%s\":%" PRIu64, counter_names[i], t->counters[i]);
    fputs("},\"devices\":[", f);
    int first = 1;
    for (size_t i = 0; i < a->nseries; i++) {
        if (a->series[i].kind != MS_DEVICE)
            continue;
        fputs(first ? "{" : ",{", f);
        json_series(f, &a->series[i]);
        fputc('}', f);
        first = 0;
    }
    fputs("],\"tasks\":[", f);
    struct ms_ranked *rows;
    size_t n = ms_rank(a, o, &rows);
    for (size_t i = 0; i < n; i++) {
        const struct ms_ranked *r = &rows[i];
        fputs(i ? ",{" : "{", f);
        json_series(f, r->s);
        fprintf(f, ",\"intensive\":%s,\"peak_share\":%.4f,\"peak_share_at_ns\":%" PRIu64 ",\"peak_rate\":%.0f,\"bursts\":[",
                r->intensive ? "true" : "false", r->in.peak_share, r->in.peak_share_at, r->in.peak_rate);
        struct ms_burst *b;
        size_t nb = ms_series_bursts(r->s, a->bucket_ns, o->gap_ns, o->min_burst_bytes, &b);
        for (size_t k = 0; k < nb; k++)
            fprintf(f, "%s{\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"ops\":%" PRIu64 "}",
                    k ? "," : "", b[k].start_ns, b[k].end_ns, b[k].bytes, b[k].ops);
        free(b);
        fputs("]}", f);
    }
    free(rows);
    fputs("]}\n", f);
    return ferror(f) ? -1 : 0;
}

#include "microscope/live.h"

#include <inttypes.h>
#include <stdlib.h>

#include "microscope/report.h"
#include "util/printable.h"

struct row {
    const struct ms_series *s;
    uint64_t peak_bucket;
    unsigned active;
};

static int by_share(const void *x, const void *y)
{
    const struct row *a = x, *b = y;
    if (a->s->total.share_ns != b->s->total.share_ns)
        return a->s->total.share_ns > b->s->total.share_ns ? -1 : 1;
    uint64_t ba = a->s->total.rd_bytes + a->s->total.wr_bytes, bb = b->s->total.rd_bytes + b->s->total.wr_bytes;
    return ba > bb ? -1 : ba < bb;
}

static void rate(char *buf, size_t len, double bytes_per_s)
{
    if (bytes_per_s >= 1024.0 * 1024 * 1024)
        snprintf(buf, len, "%.1fG", bytes_per_s / (1024.0 * 1024 * 1024));
    else if (bytes_per_s >= 1024.0 * 1024)
        snprintf(buf, len, "%.1fM", bytes_per_s / (1024.0 * 1024));
    else if (bytes_per_s >= 1024)
        snprintf(buf, len, "%.1fK", bytes_per_s / 1024);
    else
        snprintf(buf, len, "%.0f", bytes_per_s);
}

void ms_live_render(FILE *f, const struct ms_agg *win, uint64_t window_ns, const struct ms_live_status *st,
                    unsigned top, bool tty)
{
    struct row *rows = calloc(win->nseries ? win->nseries : 1, sizeof(*rows));
    size_t n = 0;
    if (!rows)
        return;
    double w = (double)window_ns / 1e9;
    if (tty)
        fputs("\033[H\033[2J", f);
    uint64_t lost = ms_lost_events(st->counters, st->missed);
    fprintf(f, "vireo microscope  measuring since %s (%.1f s)  buckets %.3f ms  lost %" PRIu64
               "  writeback folios: attributed %" PRIu64 ", unattributed %" PRIu64 "\n",
            st->since, st->elapsed_s, (double)win->bucket_ns / 1e6, lost, st->counters[MS_C_WB_ATTRIB],
            st->counters[MS_C_WB_UNATTRIB]);
    char dev[PRINTABLE_CAP(sizeof(win->series[0].devname))], name[PRINTABLE_CAP(MS_VM_NAME) + 8];
    for (size_t i = 0; i < win->nseries; i++) {
        const struct ms_series *s = &win->series[i];
        if (s->kind == MS_DEVICE) {
            char rd[16], wr[16];
            rate(rd, sizeof(rd), (double)s->total.rd_bytes / w);
            rate(wr, sizeof(wr), (double)s->total.wr_bytes / w);
            fprintf(f, "  %-10s busy %5.1f%%  read %7s/s  write %7s/s\n", printable(dev, sizeof(dev), s->devname),
                    100.0 * (double)s->total.inflight_ns / (double)window_ns, rd, wr);
            continue;
        }
        struct row *r = &rows[n++];
        r->s = s;
        for (size_t k = 0; k < s->npts; k++) {
            if (s->pts[k].bytes > r->peak_bucket)
                r->peak_bucket = s->pts[k].bytes;
            r->active += s->pts[k].bytes || s->pts[k].inflight_ns;
        }
    }
    qsort(rows, n, sizeof(*rows), by_share);
    fprintf(f, "%8s %8s %-16s %-8s %-5s %8s %8s %7s %6s %6s %9s %6s %8s\n", "TID", "PID", "COMM", "DEV", "KIND",
            "READ/s", "WRITE/s", "IOPS", "SHARE%", "BUSY%", "PEAK/s", "ACT", "AWAIT");
    for (size_t i = 0; i < n && i < top; i++) {
        const struct ms_series *s = rows[i].s;
        char rd[16], wr[16], pk[16], busy[16], tid[16];
        rate(rd, sizeof(rd), (double)s->total.rd_bytes / w);
        rate(wr, sizeof(wr), (double)s->total.wr_bytes / w);
        rate(pk, sizeof(pk), (double)rows[i].peak_bucket * 1e9 / (double)win->bucket_ns);
        uint64_t ops = (uint64_t)s->total.rd_ops + s->total.wr_ops + s->total.other_ops;
        static const char *const k[] = {"own", "wb", "unatt", "dev"};
        /* several threads' busy times do not add up to theirs together */
        if (ms_row_merged(s))
            snprintf(busy, sizeof(busy), "-");
        else
            snprintf(busy, sizeof(busy), "%.1f", 100.0 * (double)s->total.inflight_ns / (double)window_ns);
        snprintf(tid, sizeof(tid), s->vm[0] ? "-" : "%u", s->tid);
        fprintf(f, "%8s %8u %-16s %-8s %-5s %8s %8s %7.0f %6.1f %6s %9s %6u %6.2fms\n", tid, s->pid,
                ms_row_name(name, sizeof(name), s), printable(dev, sizeof(dev), s->devname),
                s->kind < 4 ? k[s->kind] : "?", rd, wr, (double)ops / w,
                100.0 * (double)s->total.share_ns / (double)window_ns, busy, pk, rows[i].active,
                ops ? (double)(s->total.queue_ns + s->total.service_ns) / (double)ops / 1e6 : 0.0);
    }
    if (!tty)
        fputc('\n', f);
    fflush(f);
    free(rows);
}

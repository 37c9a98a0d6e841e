#include "microscope/svg.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1200
#define LABEL 260
#define STRIP 46
#define GAP 12
#define TOP 40

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            fputc((unsigned char)*s < 0x20 ? '?' : *s, f);
        }
    }
}

/* Columns of the plot area: sums of rd, wr and busy per column. */
struct cols {
    double rd[WIDTH], wr[WIDTH], busy[WIDTH];
};

static void fill(struct cols *c, const struct ms_series *s, uint64_t t0, double ns_per_col, int ncols)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < s->npts; i++) {
        const struct ms_point *p = &s->pts[i];
        if (p->t_ns < t0)
            continue;
        int x = (int)((double)(p->t_ns - t0) / ns_per_col);
        if (x >= ncols)
            x = ncols - 1;
        c->rd[x] += (double)p->rd_bytes;
        c->wr[x] += (double)p->wr_bytes;
        c->busy[x] += (double)p->inflight_ns;
    }
}

static void strip(FILE *f, int y, const char *label, const char *sub)
{
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='#f6f6f6'/>\n", LABEL, y, WIDTH - LABEL - 10,
            STRIP);
    fprintf(f, "<text x='6' y='%d' font-size='12'>", y + 18);
    esc(f, label);
    fprintf(f, "</text>\n<text x='6' y='%d' font-size='10' fill='#555'>", y + 34);
    esc(f, sub);
    fputs("</text>\n", f);
}

int ms_svg_write(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_report_opts *o,
                 unsigned max_rows)
{
    struct ms_ranked *rows;
    size_t n = ms_rank(a, o, &rows);
    size_t ndev = 0;
    for (size_t i = 0; i < a->nseries; i++)
        ndev += a->series[i].kind == MS_DEVICE;
    size_t ntask = n < max_rows ? n : max_rows;
    int ncols = WIDTH - LABEL - 10;
    uint64_t t0 = h->start_ns < a->first_ns || !a->first_ns ? h->start_ns : a->first_ns;
    uint64_t t1 = a->last_ns > t0 ? a->last_ns : t0 + a->bucket_ns;
    double span = (double)(t1 - t0);
    double ns_per_col = span / ncols;
    if (ns_per_col < (double)a->bucket_ns) /* never finer than a bucket */
        ns_per_col = (double)a->bucket_ns;
    int height = TOP + (int)(ndev + ntask) * (STRIP + GAP) + 40;
    struct cols *c = malloc(sizeof(*c));
    if (!c) {
        free(rows);
        return -1;
    }
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='monospace'>\n", WIDTH,
            height);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    fprintf(f, "<text x='6' y='20' font-size='14'>vireo microscope: ");
    esc(f, h->host);
    fprintf(f, ", %.3f s, one column = %.3f ms (bars: <tspan fill='#1f77b4'>read</tspan>, "
               "<tspan fill='#ff7f0e'>write</tspan>; device strips: busy)</text>\n",
            span / 1e9, ns_per_col / 1e6);

    int y = TOP;
    char label[96], sub[128];
    for (size_t i = 0; i < a->nseries; i++) {
        const struct ms_series *s = &a->series[i];
        if (s->kind != MS_DEVICE)
            continue;
        fill(c, s, t0, ns_per_col, ncols);
        snprintf(label, sizeof(label), "device %s", s->devname[0] ? s->devname : "?");
        snprintf(sub, sizeof(sub), "%u:%u busy time", MS_DEV_MAJOR(s->dev), MS_DEV_MINOR(s->dev));
        strip(f, y, label, sub);
        for (int x = 0; x < ncols; x++) {
            double frac = c->busy[x] / ns_per_col;
            if (frac <= 0)
                continue;
            int hgt = (int)(frac > 1 ? STRIP : frac * STRIP + 0.5);
            if (hgt < 1)
                hgt = 1;
            fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='#555'/>\n", LABEL + x, y + STRIP - hgt, hgt);
        }
        y += STRIP + GAP;
    }
    for (size_t r = 0; r < ntask; r++) {
        const struct ms_series *s = rows[r].s;
        fill(c, s, t0, ns_per_col, ncols);
        double peak = 0;
        for (int x = 0; x < ncols; x++)
            if (c->rd[x] + c->wr[x] > peak)
                peak = c->rd[x] + c->wr[x];
        snprintf(label, sizeof(label), "%s%s %u", rows[r].intensive ? "* " : "", s->comm, s->tid);
        snprintf(sub, sizeof(sub), "%s %s, peak %.0f KiB/col", s->devname, ms_kind_name(s->kind), peak / 1024);
        strip(f, y, label, sub);
        for (int x = 0; x < ncols && peak > 0; x++) {
            int hr = (int)(c->rd[x] / peak * STRIP + 0.5), hw = (int)(c->wr[x] / peak * STRIP + 0.5);
            if (c->rd[x] > 0 && hr < 1)
                hr = 1;
            if (c->wr[x] > 0 && hw < 1)
                hw = 1;
            if (hr)
                fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='#1f77b4'/>\n", LABEL + x,
                        y + STRIP - hr, hr);
            if (hw)
                fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='#ff7f0e'/>\n", LABEL + x,
                        y + STRIP - hr - hw < y ? y : y + STRIP - hr - hw, hw);
        }
        y += STRIP + GAP;
    }
    /* time axis: about ten ticks at round milliseconds */
    static const double mult[] = {1, 2, 5};
    double base = 0.1, step_ms = 0.1;
    for (int k = 0; span / 1e6 / (step_ms = mult[k] * base) > 10;)
        if (++k == 3) {
            k = 0;
            base *= 10;
        }
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>\n", LABEL, y, LABEL + ncols, y);
    for (double ms = 0; ms * 1e6 <= span; ms += step_ms) {
        int x = LABEL + (int)(ms * 1e6 / ns_per_col);
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>", x, y, x, y + 5);
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>%g ms</text>\n", x, y + 17, ms);
    }
    fputs("</svg>\n", f);
    free(c);
    free(rows);
    return ferror(f) ? -1 : 0;
}

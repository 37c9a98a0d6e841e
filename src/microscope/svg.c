#include "microscope/svg.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/printable.h"

#define WIDTH 1280
#define LABEL 330           /* the rows' names on the left */
#define RIGHT 90            /* the rate scale on the right */
#define NCOLS (WIDTH - LABEL - RIGHT)
#define STRIP 56
#define GAP 14
#define LEGEND 134          /* title and legend above the rows */
#define READ_COLOUR "#1f77b4"
#define WRITE_COLOUR "#ff7f0e"
#define BUSY_COLOUR "#555555"

/* Text from a recording (names anyone chose) as XML character data. */
static void esc(FILE *f, const char *s)
{
    char buf[PRINTABLE_CAP(MS_VM_NAME) + 64];
    for (const char *c = printable(buf, sizeof(buf), s); *c; c++) {
        switch (*c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*c, f);
        }
    }
}

/* Columns of the plot area: bytes read and written, busy time. */
struct cols {
    double rd[NCOLS], wr[NCOLS], busy[NCOLS];
};

static void fill(struct cols *c, const struct ms_series *s, uint64_t t0, double ns_per_col)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < s->npts; i++) {
        const struct ms_point *p = &s->pts[i];
        if (p->t_ns < t0)
            continue;
        /* Clamped before the conversion: a recording's points can lie far
         * past the span its header claims (a hostile file: 4e12 columns),
         * and a double out of int's range is undefined behaviour. */
        double col = (double)(p->t_ns - t0) / ns_per_col;
        int x = col < NCOLS - 1 ? (int)col : NCOLS - 1;
        c->rd[x] += (double)p->rd_bytes;
        c->wr[x] += (double)p->wr_bytes;
        c->busy[x] += (double)p->inflight_ns;
    }
}

/* Decimal units in the picture, as on its rate scale (said in the legend). */
static void human(char *buf, size_t len, double bytes)
{
    static const char *const u[] = {"B", "kB", "MB", "GB", "TB"};
    int i = 0;
    while (bytes >= 1000 && i < 4) {
        bytes /= 1000;
        i++;
    }
    snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", bytes, u[i]);
}

/* The plot's log scale without libm: loading it (and running its ifunc
 * resolvers) cost every `vireo run` 0.3 MiB of memory for this one plot.
 * (frexp is libc's too.) */
static double dec(int e)
{
    double v = 1;
    for (; e > 0; e--)
        v *= 10;
    for (; e < 0; e++)
        v /= 10;
    return v;
}

/* The largest e with 10^e <= x, for x > 0. */
static int floor_log10(double x)
{
    int e = 0;
    while (e < 400 && dec(e + 1) <= x)
        e++;
    while (e > -400 && dec(e) > x)
        e--;
    return e;
}

/* The base-10 logarithm of x > 0, to about 1e-12: x = m * 2^k with m in
 * [0.5, 1), ln m = 2 atanh(z), z = (m - 1) / (m + 1) in [-1/3, 0). */
static double log10_of(double x)
{
    int k;
    double m = frexp(x, &k), z = (m - 1) / (m + 1), z2 = z * z, term = z, sum = 0;
    for (int i = 1; i < 40; i += 2) {
        sum += term / i;
        term *= z2;
    }
    return (2 * sum + k * 0.69314718055994530942) * 0.43429448190325182765;
}

/* 10^e bytes per second as "1 MB/s", "100 kB/s" (decimal units). */
static void decade(char *buf, size_t len, int e)
{
    static const char *const u[] = {"B/s", "kB/s", "MB/s", "GB/s", "TB/s"};
    int k = e < 0 ? 0 : e / 3 > 4 ? 4 : e / 3;
    snprintf(buf, len, "%g %s", dec(e - 3 * k), u[k]);
}

/* The rate scale every task row shares: log10 of bytes per second, from
 * the decade below the smallest rate of any column to the decade above
 * the largest. */
struct scale {
    int lo, hi;
};

static int rate_px(const struct scale *sc, double rate)
{
    if (rate <= 0)
        return 0;
    double v = (log10_of(rate) - sc->lo) / (sc->hi - sc->lo);
    if (!(v * STRIP < STRIP)) /* clamped before converting, as in fill() (and NaN) */
        return STRIP;
    int h = (int)(v * STRIP + 0.5);
    return h < 1 ? 1 : h > STRIP ? STRIP : h;
}

static void strip_box(FILE *f, int y)
{
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='#f4f4f4'/>\n", LABEL, y, NCOLS, STRIP);
}

static void label(FILE *f, int y, const char *l1, const char *l2, const char *l3)
{
    fprintf(f, "<text x='6' y='%d' font-size='12' font-weight='bold'>", y + 14);
    esc(f, l1);
    fprintf(f, "</text>\n<text x='6' y='%d' font-size='10' fill='#333'>", y + 29);
    esc(f, l2);
    fputs("</text>\n", f);
    if (l3 && *l3) {
        fprintf(f, "<text x='6' y='%d' font-size='10' fill='#b00'>", y + 43);
        esc(f, l3);
        fputs("</text>\n", f);
    }
}

static void swatch(FILE *f, int x, int y, const char *colour)
{
    fprintf(f, "<rect x='%d' y='%d' width='10' height='10' fill='%s'/>", x, y - 9, colour);
}

static void legend(FILE *f, const struct ms_header *h, const struct ms_report_opts *o, double span_ns,
                   double ns_per_col, const struct scale *sc)
{
    char when[64] = "";
    time_t secs = (time_t)(h->start_realtime_ns / 1000000000ull);
    struct tm tm;
    if (h->start_realtime_ns && localtime_r(&secs, &tm))
        strftime(when, sizeof(when), " from %Y-%m-%d %H:%M:%S", &tm);
    fputs("<text x='6' y='18' font-size='15' font-weight='bold'>vireo microscope: disk I/O per task, host ", f);
    esc(f, h->host[0] ? h->host : "?");
    fprintf(f, ", %.3f s recorded%s</text>\n", span_ns / 1e9, when);
    fprintf(f,
            "<text x='6' y='36' font-size='11'>Time runs left to right (axis at the bottom: time since the recording "
            "started); one column of pixels = %.3f ms (buckets of %.3f ms).</text>\n",
            ns_per_col / 1e6, (double)h->bucket_ns / 1e6);
    swatch(f, 6, 54, READ_COLOUR);
    swatch(f, 18, 54, WRITE_COLOUR);
    char lo[32], hi[32];
    decade(lo, sizeof(lo), sc->lo);
    decade(hi, sizeof(hi), sc->hi);
    fputs("<text x='32' y='54' font-size='11'>Task rows: bytes per second in each column, reads (blue) under writes "
          "(orange).</text>\n",
          f);
    fprintf(f,
            "<text x='32' y='70' font-size='11'>Their height is on a LOG scale shared by all task rows: %s at the "
            "bottom to %s at the top, a grey line at every factor of 10 (kB = 1000 bytes, MB = 10^6, GB = "
            "10^9).</text>\n",
            lo, hi);
    swatch(f, 6, 88, BUSY_COLOUR);
    fputs("<text x='32' y='88' font-size='11'>Device rows: busy, the share of each column's time with at least one "
          "request in service (linear, 0 to 100 %).</text>\n",
          f);
    fprintf(f,
            "<text x='6' y='106' font-size='11'><tspan fill='#b00'>I/O-intensive</tspan>: the task used at least %.0f %% "
            "of a device's time in some %.0f ms window (device time shared equally among the requests in "
            "service).</text>\n",
            o->min_share * 100, (double)o->window_ns / 1e6);
    fputs("<text x='6' y='122' font-size='11'>Kinds: own = the task's own I/O; writeback = pages it dirtied, written "
          "later by the kernel; unattributed = writeback of pages whose writer is unknown.</text>\n",
          f);
}

static void axis(FILE *f, int y, double span, double ns_per_col)
{
    static const double mult[] = {1, 2, 5};
    double base = 0.1, step_ms = 0.1;
    for (int k = 0; span / 1e6 / (step_ms = mult[k] * base) > 10;)
        if (++k == 3) {
            k = 0;
            base *= 10;
        }
    bool secs = step_ms >= 1000;
    fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>\n", LABEL, y, LABEL + NCOLS, y);
    for (double ms = 0; ms * 1e6 <= span; ms += step_ms) {
        int x = LABEL + (int)(ms * 1e6 / ns_per_col);
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='black'/>", x, y, x, y + 5);
        fprintf(f, "<text x='%d' y='%d' font-size='10' text-anchor='middle'>%g %s</text>\n", x, y + 17,
                secs ? ms / 1000 : ms, secs ? "s" : "ms");
    }
    fprintf(f, "<text x='%d' y='%d' font-size='11' text-anchor='middle'>time since the recording started</text>\n",
            LABEL + NCOLS / 2, y + 33);
}

static bool has_bytes(const struct ms_series *s)
{
    return s->total.rd_bytes + s->total.wr_bytes > 0;
}

int ms_svg_write(FILE *f, const struct ms_agg *a, const struct ms_header *h, const struct ms_trailer *t,
                 const struct ms_report_opts *o, unsigned max_rows)
{
    struct ms_ranked *rows;
    size_t n = ms_rank(a, o, &rows);
    struct cols *c = malloc(sizeof(*c));
    if (!c) {
        free(rows);
        return -1;
    }
    /* The header's bucket (checked by the reader: at least 1 us), not the
     * aggregate's, which is 0 when no sample came. */
    uint64_t t0, t1, bucket = h->bucket_ns ? h->bucket_ns : 1000000;
    ms_span(a, h, t, &t0, &t1);
    if (t1 <= t0)
        t1 = t0 + bucket;
    double span = (double)(t1 - t0);
    double ns_per_col = span / NCOLS;
    if (ns_per_col < (double)bucket) /* never finer than a bucket */
        ns_per_col = (double)bucket;

    /* Rows drawn: devices that were busy, tasks that moved bytes (one
     * with only flushes would be an empty strip: counted below instead). */
    size_t ndev = 0, ntask = 0, nobytes = 0;
    double lo = INFINITY, hi = 0;
    for (size_t i = 0; i < a->nseries; i++)
        ndev += a->series[i].kind == MS_DEVICE && a->series[i].total.inflight_ns > 0;
    for (size_t r = 0; r < n; r++) {
        if (!has_bytes(rows[r].s)) {
            nobytes++;
            continue;
        }
        if (ntask == max_rows)
            continue;
        rows[ntask++] = rows[r];
        fill(c, rows[r].s, t0, ns_per_col);
        for (int x = 0; x < NCOLS; x++) {
            double rate = (c->rd[x] + c->wr[x]) * 1e9 / ns_per_col;
            if (rate > 0 && rate < lo)
                lo = rate;
            if (rate > hi)
                hi = rate;
        }
    }
    struct scale sc = {0, 1};
    if (hi > 0) {
        sc.lo = floor_log10(lo);
        sc.hi = floor_log10(hi);
        if (dec(sc.hi) < hi)
            sc.hi++;
        if (sc.hi <= sc.lo)
            sc.hi = sc.lo + 1;
        /* the smallest rates still get a visible bar */
        if (log10_of(lo) - sc.lo < 0.1)
            sc.lo--;
    }

    int height = LEGEND + (int)(ndev + ntask) * (STRIP + GAP) + 60 + (nobytes ? 16 : 0);
    fprintf(f,
            "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' "
            "font-family='DejaVu Sans, Arial, sans-serif'>\n",
            WIDTH, height);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/>\n");
    legend(f, h, o, span, ns_per_col, &sc);

    int y = LEGEND;
    char l1[PRINTABLE_CAP(MS_VM_NAME) + 96], l2[256], l3[128], rd[32], wr[32];
    for (size_t i = 0; i < a->nseries; i++) {
        const struct ms_series *s = &a->series[i];
        if (s->kind != MS_DEVICE || !s->total.inflight_ns)
            continue;
        fill(c, s, t0, ns_per_col);
        char dev[PRINTABLE_CAP(sizeof(s->devname))];
        snprintf(l1, sizeof(l1), "device %s (%u:%u)", s->devname[0] ? printable(dev, sizeof(dev), s->devname) : "?",
                 MS_DEV_MAJOR(s->dev), MS_DEV_MINOR(s->dev));
        human(rd, sizeof(rd), (double)s->total.rd_bytes);
        human(wr, sizeof(wr), (double)s->total.wr_bytes);
        snprintf(l2, sizeof(l2), "busy %.1f %% of the recording; read %s, written %s",
                 100.0 * (double)s->total.inflight_ns / span, rd, wr);
        label(f, y, l1, l2, NULL);
        strip_box(f, y);
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#ccc'/>", LABEL, y + STRIP / 2, LABEL + NCOLS,
                y + STRIP / 2);
        fprintf(f, "<text x='%d' y='%d' font-size='9' fill='#555'>100 %%</text>", LABEL + NCOLS + 4, y + 8);
        fprintf(f, "<text x='%d' y='%d' font-size='9' fill='#555'>50 %%</text>", LABEL + NCOLS + 4, y + STRIP / 2 + 3);
        fprintf(f, "<text x='%d' y='%d' font-size='9' fill='#555'>0 %%</text>\n", LABEL + NCOLS + 4, y + STRIP);
        for (int x = 0; x < NCOLS; x++) {
            double frac = c->busy[x] / ns_per_col;
            if (frac <= 0)
                continue;
            int hgt = (int)(frac > 1 ? STRIP : frac * STRIP + 0.5);
            if (hgt < 1)
                hgt = 1;
            fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='" BUSY_COLOUR "'/>\n", LABEL + x,
                    y + STRIP - hgt, hgt);
        }
        y += STRIP + GAP;
    }
    for (size_t r = 0; r < ntask; r++) {
        const struct ms_series *s = rows[r].s;
        fill(c, s, t0, ns_per_col);
        double peak = 0;
        for (int x = 0; x < NCOLS; x++)
            if (c->rd[x] + c->wr[x] > peak)
                peak = c->rd[x] + c->wr[x];
        char dev[PRINTABLE_CAP(sizeof(s->devname))], name[PRINTABLE_CAP(MS_VM_NAME) + 8], pk[32];
        ms_row_name(name, sizeof(name), s);
        if (s->vm[0])
            snprintf(l1, sizeof(l1), "%s (pid %u, %u thread row%s)", name, s->pid, s->threads, s->threads == 1 ? "" : "s");
        else
            snprintf(l1, sizeof(l1), "%s (tid %u)", name, s->tid);
        human(rd, sizeof(rd), (double)s->total.rd_bytes);
        human(wr, sizeof(wr), (double)s->total.wr_bytes);
        human(pk, sizeof(pk), peak * 1e9 / ns_per_col);
        snprintf(l2, sizeof(l2), "%s, %s: read %s, written %s, peak %s/s", printable(dev, sizeof(dev), s->devname),
                 ms_kind_name(s->kind), rd, wr, pk);
        if (rows[r].intensive)
            snprintf(l3, sizeof(l3), "I/O-intensive: %.0f %% of the device's time at its peak",
                     rows[r].in.peak_share * 100);
        else
            l3[0] = 0;
        label(f, y, l1, l2, l3);
        strip_box(f, y);
        for (int e = sc.lo + 1; e < sc.hi; e++) {
            int gy = y + STRIP - rate_px(&sc, dec(e));
            fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#d8d8d8'/>", LABEL, gy, LABEL + NCOLS, gy);
        }
        for (int e = sc.lo; e <= sc.hi; e++) {
            char d[32];
            decade(d, sizeof(d), e);
            int gy = e == sc.lo ? y + STRIP : y + STRIP - rate_px(&sc, dec(e));
            fprintf(f, "<text x='%d' y='%d' font-size='9' fill='#555'>%s</text>", LABEL + NCOLS + 4, gy + 3, d);
        }
        fputc('\n', f);
        for (int x = 0; x < NCOLS; x++) {
            double sum = c->rd[x] + c->wr[x];
            if (sum <= 0)
                continue;
            int hgt = rate_px(&sc, sum * 1e9 / ns_per_col);
            int hr = (int)(hgt * c->rd[x] / sum + 0.5), hw = hgt - hr;
            if (hr)
                fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='" READ_COLOUR "'/>\n", LABEL + x,
                        y + STRIP - hr, hr);
            if (hw)
                fprintf(f, "<rect x='%d' y='%d' width='1' height='%d' fill='" WRITE_COLOUR "'/>\n", LABEL + x,
                        y + STRIP - hgt, hw);
        }
        y += STRIP + GAP;
    }
    axis(f, y, span, ns_per_col);
    y += 50;
    size_t left = n - nobytes - ntask;
    if (left || nobytes) {
        fprintf(f, "<text x='6' y='%d' font-size='11'>", y);
        if (left)
            fprintf(f, "%zu more task rows with I/O not drawn (report --top N). ", left);
        if (nobytes)
            fprintf(f, "%zu task rows with requests but no bytes (flushes only) not drawn.", nobytes);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    free(c);
    free(rows);
    return ferror(f) ? -1 : 0;
}

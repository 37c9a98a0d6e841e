/* `vireo top`: xentop's role.  Every VM this user may ask, one line each,
 * refreshed every -d seconds on the terminal (ncurses), or printed in
 * blocks (-b, like top -b and xentop -b) or as JSON lines (--json).  The
 * numbers are differences of two `stats` readings (toolstack/vm_stats.h);
 * what is shown is top_view.c's. */
#include "cli/cmd_top.h"

#include <curses.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/top_view.h"
#include "toolstack/ctl_client.h"
#include "util/duration.h"
#include "util/log.h"
#include "util/strescape.h"

#define TOP_TIMEOUT_MS 2000    /* a VM process that does not answer within it is skipped this round */

struct top {
    double delay;              /* seconds */
    enum top_sort sort;
    bool reverse;
    struct vmstat *prev, *cur;
    unsigned nprev, ncur, denied, failed;
    char err[512];             /* the run directory could not be read */
    struct top_row *rows;
    unsigned nrows;
    /* The VM whose disks and queues are open (interactive), by name. */
    bool detail;
    char detail_name[VMSTAT_STR];
    struct top_queues *qprev, *qcur;
    bool qprev_ok, qcur_ok;
    int sel;
};

static const struct vmstat *find(const struct vmstat *v, unsigned n, const struct vmstat *like)
{
    for (unsigned i = 0; i < n; i++)
        if (v[i].id == like->id && !strcmp(v[i].name, like->name))
            return &v[i];
    return NULL;
}

/* The selected VM's queues (block-stats, net-stats). */
static bool fetch_queues(const char *name, struct top_queues *q)
{
    char err[512];
    struct json_object *b = ctl_call(name, CTL_BLOCK_STATS, NULL, err, sizeof(err));
    struct json_object *n = b ? ctl_call(name, CTL_NET_STATS, NULL, err, sizeof(err)) : NULL;
    bool ok = n && top_queues_parse(b, n, q, err, sizeof(err)) == 0;
    json_object_put(b);
    json_object_put(n);
    return ok;
}

/* A new reading of every VM; rows are this reading against the last. */
static void sample(struct top *t)
{
    free(t->prev);
    t->prev = t->cur;
    t->nprev = t->ncur;
    t->cur = NULL;
    t->ncur = 0;
    t->err[0] = 0;
    if (vmstat_collect(&t->cur, &t->ncur, &t->denied, &t->failed, TOP_TIMEOUT_MS, t->err, sizeof(t->err)) < 0)
        t->ncur = 0;
    free(t->rows);
    t->rows = calloc(t->ncur ? t->ncur : 1, sizeof(*t->rows));
    t->nrows = 0;
    for (unsigned i = 0; t->rows && i < t->ncur; i++)
        top_row_fill(&t->rows[t->nrows++], find(t->prev, t->nprev, &t->cur[i]), &t->cur[i]);
    top_sort(t->rows, t->nrows, t->sort, t->reverse);
    if (t->detail) {
        struct top_queues *x = t->qprev;
        t->qprev = t->qcur;
        t->qprev_ok = t->qcur_ok;
        t->qcur = x;
        t->qcur_ok = fetch_queues(t->detail_name, t->qcur);
    }
}

static void status_line(const struct top *t, char *buf, size_t len, double interval)
{
    char when[16];
    time_t now = time(NULL);
    strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
    char more[700] = "";
    if (t->denied)
        snprintf(more, sizeof(more), ", %u not accessible (other users' VMs)", t->denied);
    if (t->failed)
        snprintf(more + strlen(more), sizeof(more) - strlen(more), ", %u not answering", t->failed);
    if (t->err[0])
        snprintf(more + strlen(more), sizeof(more) - strlen(more), "; %s", t->err);
    if (interval > 0)
        snprintf(buf, len, "vireo top - %s, %u VM%s%s, interval %.2f s, sorted by %s%s", when, t->ncur,
                 t->ncur == 1 ? "" : "s", more, interval, top_sort_name(t->sort), t->reverse ? " (reversed)" : "");
    else
        snprintf(buf, len, "vireo top - %s, %u VM%s%s, since each VM started, sorted by %s%s", when, t->ncur,
                 t->ncur == 1 ? "" : "s", more, top_sort_name(t->sort), t->reverse ? " (reversed)" : "");
}

/* ---- batch: -b, --json ---- */

static volatile sig_atomic_t stopped;

static void on_stop(int sig)
{
    stopped = sig;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t when)
{
    uint64_t now = mono_ns();
    if (when > now)
        nanosleep(&(struct timespec){(time_t)((when - now) / 1000000000ull), (long)((when - now) % 1000000000ull)},
                  NULL);
}

static int batch(struct top *t, long iterations, bool json)
{
    struct sigaction sa = {.sa_handler = on_stop};   /* no SA_RESTART: a sleep ends at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Every block is one whole interval: a first reading, then one per -d. */
    sample(t);
    uint64_t next = mono_ns();
    for (long k = 0; (iterations <= 0 || k < iterations) && !stopped; k++) {
        next += (uint64_t)(t->delay * 1e9);
        sleep_until(next);
        if (stopped)
            break;
        sample(t);
        char line[1024];
        if (json) {
            struct json_object *o = json_object_new_object();
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            json_object_object_add(o, "time", json_object_new_double((double)now.tv_sec + (double)now.tv_nsec / 1e9));
            json_object_object_add(o, "not_accessible", json_object_new_int((int)t->denied));
            json_object_object_add(o, "not_answering", json_object_new_int((int)t->failed));
            struct json_object *vms = json_object_new_array();
            for (unsigned i = 0; i < t->nrows; i++)
                json_object_array_add(vms, top_row_json(&t->rows[i]));
            json_object_object_add(o, "vms", vms);
            puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(o);
        } else {
            status_line(t, line, sizeof(line), t->delay);
            puts(line);
            top_header(line, sizeof(line));
            puts(line);
            for (unsigned i = 0; i < t->nrows; i++) {
                top_line(line, sizeof(line), &t->rows[i]);
                puts(line);
            }
            putchar('\n');
        }
        if (fflush(stdout) == EOF || ferror(stdout))
            return 1;   /* the reader went away (a closed pipe) */
    }
    return 0;
}

/* ---- interactive ---- */

struct draw {
    int y;
};

static void emit(void *ctx, const char *line)
{
    struct draw *d = ctx;
    if (d->y < LINES - 1)
        mvaddnstr(d->y++, 0, line, COLS);
}

static void draw(struct top *t, bool first)
{
    char line[1024];
    erase();
    status_line(t, line, sizeof(line), first ? 0 : t->delay);
    mvaddnstr(0, 0, line, COLS);
    struct draw d = {2};
    const struct top_row *sel = NULL;
    for (unsigned i = 0; i < t->nrows; i++)
        if (t->detail && !strcmp(t->rows[i].vm->name, t->detail_name))
            sel = &t->rows[i];
    if (t->detail && sel) {
        top_detail(sel, t->qprev_ok ? t->qprev : NULL, t->qcur_ok ? t->qcur : NULL, emit, &d);
    } else if (t->detail) {
        char esc[300];
        snprintf(line, sizeof(line), "VM %s is gone", str_escape(esc, sizeof(esc), t->detail_name));
        emit(&d, line);
    } else {
        top_header(line, sizeof(line));
        attron(A_REVERSE);
        mvaddnstr(1, 0, line, COLS);
        for (int x = (int)strlen(line); x < COLS; x++)
            addch(' ');
        attroff(A_REVERSE);
        if (t->sel >= (int)t->nrows)
            t->sel = (int)t->nrows - 1;
        if (t->sel < 0)
            t->sel = 0;
        for (unsigned i = 0; i < t->nrows; i++) {
            top_line(line, sizeof(line), &t->rows[i]);
            if ((int)i == t->sel)
                attron(A_BOLD | A_UNDERLINE);
            emit(&d, line);
            attroff(A_BOLD | A_UNDERLINE);
        }
        if (!t->nrows)
            emit(&d, "(no VMs)");
    }
    const char *keys = t->detail ? "q/Esc/Left back    sorting keys act on the list"
                                 : "q quit  Up/Down select  Enter disks and queues  sort: n name  i id  c cpu  m mem  "
                                   "r read  w write  l p99  x net  R reverse";
    attron(A_REVERSE);
    mvaddnstr(LINES - 1, 0, keys, COLS);
    attroff(A_REVERSE);
    refresh();
}

static bool sort_key(struct top *t, int ch)
{
    static const char keys[] = "icmrwlx";   /* after n: TOP_SORT_ID, then from TOP_SORT_CPU on */
    if (ch == 'n' || ch == 'N') {
        t->sort = TOP_SORT_NAME;
    } else if (ch == 'R') {
        t->reverse = !t->reverse;
    } else {
        const char *k = ch > 0 && ch < 128 ? strchr(keys, ch) : NULL;
        if (!k || !*k)
            return false;
        t->sort = k == keys ? TOP_SORT_ID : (enum top_sort)(TOP_SORT_CPU + (k - keys) - 1);
    }
    top_sort(t->rows, t->nrows, t->sort, t->reverse);
    return true;
}

static int interactive(struct top *t, long iterations)
{
    t->qprev = calloc(1, sizeof(*t->qprev));
    t->qcur = calloc(1, sizeof(*t->qcur));
    if (!t->qprev || !t->qcur) {
        vlog_err("top: out of memory");
        return 1;
    }
    sample(t);
    if (!initscr()) {
        vlog_err("top: cannot use this terminal");
        return 1;
    }
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    bool first = true;
    long done = 0;
    uint64_t next = mono_ns() + (uint64_t)(t->delay * 1e9);
    for (;;) {
        draw(t, first);
        uint64_t now = mono_ns();
        timeout(next > now ? (int)((next - now) / 1000000) : 0);
        int ch = getch();
        if (ch == ERR) {
            if (mono_ns() < next)
                continue;
            sample(t);
            first = false;
            next += (uint64_t)(t->delay * 1e9);
            if (iterations > 0 && ++done >= iterations)
                break;
            continue;
        }
        if (t->detail) {
            if (ch == 'q' || ch == 'Q' || ch == 27 || ch == KEY_LEFT || ch == KEY_BACKSPACE)
                t->detail = false;
            continue;
        }
        if (ch == 'q' || ch == 'Q')
            break;
        if (ch == KEY_UP || ch == 'k')
            t->sel--;
        else if (ch == KEY_DOWN || ch == 'j')
            t->sel++;
        else if ((ch == '\n' || ch == '\r' || ch == KEY_ENTER || ch == KEY_RIGHT) && t->sel >= 0 &&
                 t->sel < (int)t->nrows) {
            t->detail = true;
            snprintf(t->detail_name, sizeof(t->detail_name), "%s", t->rows[t->sel].vm->name);
            t->qprev_ok = false;
            t->qcur_ok = fetch_queues(t->detail_name, t->qcur);
        } else {
            sort_key(t, ch);
        }
    }
    endwin();
    return 0;
}

int cmd_top(const struct cli_cmd *self, int argc, char *const argv[])
{
    struct top t = {.delay = 3, .sort = TOP_SORT_ID};
    bool batch_mode = false, json = false;
    long iterations = 0;
    static const struct option longopts[] = {
        {"batch", no_argument, NULL, 'b'}, {"delay", required_argument, NULL, 'd'},
        {"iterations", required_argument, NULL, 'n'}, {"sort", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    static const char optstring[] = "+bd:n:s:h";
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'b': batch_mode = true; break;
        case 'j': json = batch_mode = true; break;
        case 'd': {
            uint64_t ns;
            if (!parse_duration(optarg, &ns) || ns < 100000000ull || ns > 3600000000000ull) {
                return cli_usage_error(self->name, "-d %s: expected seconds from 0.1 to 3600 (e.g. 2, 0.5, 500ms)",
                                       optarg);
            }
            t.delay = (double)ns / 1e9;
            break;
        }
        case 'n':
            errno = 0;
            iterations = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || iterations < 1) {
                return cli_usage_error(self->name, "-n %s: expected a number of refreshes, 1 or more", optarg);
            }
            break;
        case 's': {
            int s = top_sort_parse(optarg);
            if (s < 0) {
                return cli_usage_error(self->name, "-s %s: expected id, name, cpu, mem, read, write, latency or net",
                                       optarg);
            }
            t.sort = (enum top_sort)s;
            break;
        }
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (optind != argc)
        return cli_usage_error(self->name, "unexpected argument '%s' (this command takes options only)",
                               argv[optind]);
    /* Not a terminal: blocks, as top -b. */
    if (!batch_mode && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)))
        batch_mode = true;
    int rc = batch_mode ? batch(&t, iterations, json) : interactive(&t, iterations);
    free(t.prev);
    free(t.cur);
    free(t.rows);
    free(t.qprev);
    free(t.qcur);
    return rc;
}

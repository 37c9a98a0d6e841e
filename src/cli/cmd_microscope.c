#include "cli/cmd_microscope.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/microscope_args.h"
#include "microscope/agg.h"
#include "microscope/devname.h"
#include "microscope/live.h"
#include "microscope/probe.h"
#include "microscope/recfile.h"
#include "microscope/report.h"
#include "microscope/svg.h"
#include "util/log.h"

/* The maps are drained every 100 buckets (10 to 100 ms): with the default
 * 65536 rows per map that leaves room for 650 tasks doing I/O at once. */
static uint64_t drain_ns(uint64_t interval_ns)
{
    uint64_t d = 100 * interval_ns;
    return d < 10000000 ? 10000000 : d > 100000000 ? 100000000 : d;
}

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void catch_stop_signals(void)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_stop; /* no SA_RESTART: the sleep ends at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t mono)
{
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    if (mono <= now)
        return;
    struct timespec ts = {(time_t)((mono - now) / 1000000000ull), (long)((mono - now) % 1000000000ull)};
    nanosleep(&ts, NULL);
}

static struct ms_probe *open_probe(const struct microscope_args *a)
{
    char err[1024];
    struct ms_probe *p;
    struct ms_probe_opts po = {.bucket_ns = a->interval_ns};
    if (ms_probe_open(&p, &po, err, sizeof(err)) < 0) {
        vlog_err("microscope: %s", err);
        return NULL;
    }
    return p;
}

/* ---------------- record ---------------- */

struct rec_ctx {
    struct ms_writer w;
    uint64_t rows;
    int write_error;
};

static void rec_sample(void *arg, const struct ms_sample *s)
{
    struct rec_ctx *c = arg;
    struct ms_sample copy = *s;
    snprintf(copy.devname, sizeof(copy.devname), "%s", ms_devname(s->dev));
    if (ms_writer_sample(&c->w, &copy) < 0)
        c->write_error = 1;
    c->rows++;
}

static pid_t start_command(char *const *cmd)
{
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        execvp(cmd[0], cmd);
        fprintf(stderr, "vireo: microscope: cannot run '%s': %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static int record(const struct microscope_args *a)
{
    struct ms_probe *p = open_probe(a);
    if (!p)
        return 1;
    bool to_stdout = !strcmp(a->output, "-");
    FILE *f = to_stdout ? stdout : fopen(a->output, "w");
    if (!f) {
        vlog_err("microscope: cannot write '%s': %s", a->output, strerror(errno));
        ms_probe_close(p);
        return 1;
    }
    enum ms_format fmt = a->format ? (!strcmp(a->format, "jsonl") ? MS_FMT_JSONL : MS_FMT_CSV)
                                   : ms_format_for_path(a->output);
    struct ms_header h = {.bucket_ns = a->interval_ns, .start_ns = ms_probe_start_ns(p),
                          .start_realtime_ns = clock_ns(CLOCK_REALTIME)};
    gethostname(h.host, sizeof(h.host) - 1);
    struct rec_ctx c = {0};
    ms_writer_begin(&c.w, f, fmt, &h);
    catch_stop_signals();

    pid_t child = a->command ? start_command(a->command) : -1;
    if (a->command && child < 0) {
        vlog_err("microscope: fork: %s", strerror(errno));
        ms_probe_close(p);
        return 1;
    }
    int status = 0, rc = 0;
    uint64_t begin = clock_ns(CLOCK_MONOTONIC);
    uint64_t deadline = a->duration_ns ? begin + a->duration_ns : UINT64_MAX;
    uint64_t drain = drain_ns(a->interval_ns);
    for (uint64_t next = begin + drain;; next += drain) {
        uint64_t wake = next < deadline ? next : deadline;
        sleep_until(wake);
        if (ms_probe_drain(p, rec_sample, &c) < 0)
            vlog_err("microscope: draining the maps failed: %s", strerror(errno));
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            child = 0;
            break;
        }
        if (stop_signal || clock_ns(CLOCK_MONOTONIC) >= deadline)
            break;
    }
    /* Both maps: the one that was filling during the last drain too. */
    ms_probe_drain(p, rec_sample, &c);
    ms_probe_drain(p, rec_sample, &c);
    struct ms_trailer t = {.end_ns = clock_ns(CLOCK_MONOTONIC)};
    ms_probe_counters(p, t.counters, &t.missed);
    ms_writer_end(&c.w, &t);
    ms_probe_close(p);
    if (c.write_error || (!to_stdout && fclose(f) != 0)) {
        vlog_err("microscope: writing '%s' failed: %s", a->output, strerror(errno));
        rc = 1;
    }
    uint64_t lost = ms_lost_events(t.counters, t.missed);
    vlog_info("microscope: %llu rows over %.3f s to %s; lost or unmatched events: %llu",
              (unsigned long long)c.rows, (double)(t.end_ns - begin) / 1e9, a->output, (unsigned long long)lost);
    if (child > 0) { /* stopped by a signal or --duration: pass it on */
        kill(child, stop_signal ? stop_signal : SIGTERM);
        waitpid(child, &status, 0);
        child = 0;
    }
    if (a->command && !rc)
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return rc;
}

/* ---------------- live ---------------- */

static void live_sample(void *arg, const struct ms_sample *s)
{
    struct ms_sample copy = *s;
    snprintf(copy.devname, sizeof(copy.devname), "%s", ms_devname(s->dev));
    ms_agg_add(arg, &copy);
}

static int live(const struct microscope_args *a)
{
    struct ms_probe *p = open_probe(a);
    if (!p)
        return 1;
    catch_stop_signals();
    bool tty = isatty(STDOUT_FILENO);
    uint64_t begin = clock_ns(CLOCK_MONOTONIC);
    uint64_t deadline = a->duration_ns ? begin + a->duration_ns : UINT64_MAX;
    struct ms_agg win;
    ms_agg_init(&win, a->interval_ns);
    uint64_t win_start = begin, next_screen = begin + a->refresh_ns;
    uint64_t drain = drain_ns(a->interval_ns);
    for (uint64_t next = begin + drain; !stop_signal; next += drain) {
        sleep_until(next < deadline ? next : deadline);
        ms_probe_drain(p, live_sample, &win);
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= next_screen || now >= deadline) {
            ms_agg_finish(&win);
            struct ms_live_status st = {.elapsed_s = (double)(now - begin) / 1e9};
            ms_probe_counters(p, st.counters, &st.missed);
            ms_live_render(stdout, &win, now - win_start, &st, a->top, tty);
            ms_agg_free(&win);
            ms_agg_init(&win, a->interval_ns);
            win_start = now;
            next_screen = now + a->refresh_ns;
        }
        if (now >= deadline)
            break;
    }
    ms_agg_free(&win);
    ms_probe_close(p);
    return 0;
}

/* ---------------- report ---------------- */

static int agg_cb(void *arg, const struct ms_sample *s)
{
    return ms_agg_add(arg, s);
}

static int report(const struct microscope_args *a)
{
    struct ms_header h;
    struct ms_trailer t;
    struct ms_agg agg;
    char err[512];
    ms_agg_init(&agg, 0);
    if (ms_read_file(a->input, &h, &t, agg_cb, &agg, err, sizeof(err)) < 0) {
        vlog_err("microscope report: %s", err);
        ms_agg_free(&agg);
        return 1;
    }
    agg.bucket_ns = h.bucket_ns;
    ms_agg_finish(&agg);
    int rc = a->json ? ms_report_json(stdout, &agg, &h, &t, &a->rep) : ms_report_text(stdout, &agg, &h, &t, &a->rep);
    if (a->svg) {
        FILE *f = fopen(a->svg, "w");
        if (!f || ms_svg_write(f, &agg, &h, &a->rep, a->rep.top) < 0 || fclose(f) != 0) {
            vlog_err("microscope report: cannot write '%s': %s", a->svg, strerror(errno));
            rc = -1;
        }
    }
    ms_agg_free(&agg);
    return rc < 0 ? 1 : 0;
}

int cmd_microscope(int argc, char *const argv[])
{
    static struct microscope_args a;
    char err[512];
    if (microscope_args_parse(argc, argv, &a, err, sizeof(err)) < 0) {
        vlog_err("microscope: %s", err);
        fputs(microscope_usage, stderr);
        return 2;
    }
    if (a.help) {
        fputs(microscope_usage, stdout);
        return 0;
    }
    switch (a.cmd) {
    case MS_CMD_RECORD:
        return record(&a);
    case MS_CMD_REPORT:
        return report(&a);
    default:
        return live(&a);
    }
}

#include "cli/cmd_microscope.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#include "microscope/vmmap.h"
#include "toolstack/rundir.h"
#include "util/log.h"

/* The probe is drained every 100 buckets (10 to 100 ms).  Its rows wait
 * in a 16 MiB ring (about 90000 rows): one per bucket, CPU and (task,
 * device, kind) with I/O, so room for some 450 tasks doing I/O in every
 * bucket on two CPUs, or for a recorder kept off the CPU for a while. */
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

/* "14:02:07" for a CLOCK_REALTIME time. */
static void local_time(char *buf, size_t len, uint64_t realtime_ns)
{
    time_t s = (time_t)(realtime_ns / 1000000000ull);
    struct tm tm;
    if (!localtime_r(&s, &tm) || !strftime(buf, len, "%H:%M:%S", &tm))
        snprintf(buf, len, "?");
}

/* Opens the probe and says when measuring begins: loading the programs
 * takes seconds on a busy host, and none of that is measured. */
static struct ms_probe *open_probe(const struct microscope_args *a, char since[16])
{
    char err[1024];
    struct ms_probe *p;
    struct ms_probe_opts po = {.bucket_ns = a->interval_ns};
    uint64_t t0 = clock_ns(CLOCK_MONOTONIC), rt;
    if (ms_probe_open(&p, &po, err, sizeof(err)) < 0) {
        vlog_err("microscope: %s", err);
        return NULL;
    }
    uint64_t start = ms_probe_start_ns(p, &rt);
    local_time(since, 16, rt);
    vlog_info("microscope: measuring since %s (loading the eBPF programs took %.1f s)", since,
              (double)(start - t0) / 1e9);
    return p;
}

/* ---------------- Vireo VMs on this host ---------------- */

/* The toolstack's run directory (/run/vireo, VIREO_RUN_DIR) holds one
 * directory per running VM, whose pid file the VM process keeps locked:
 * every thread of that process (vCPUs, vireo-io*, vireo-net*, the main
 * thread, io_uring's workers) is the VM's.  By process, not by thread
 * name: names are anyone's to choose, and `vireo disk serve` has
 * vireo-io threads too without being a VM.  Looked at again when the
 * directory changes, or when a VM's pid file was not written yet. */
struct vm_watch {
    struct ms_vmmap map;
    struct timespec mtime;
    bool pending;
};

typedef void (*vm_new_fn)(void *arg, const struct ms_vm *vm);

static void vm_scan(struct vm_watch *w, uint64_t now, vm_new_fn fn, void *arg)
{
    struct stat st;
    const char *base = rundir_base();
    if (stat(base, &st) < 0)
        return;
    if (!w->pending && st.st_mtim.tv_sec == w->mtime.tv_sec && st.st_mtim.tv_nsec == w->mtime.tv_nsec)
        return;
    w->mtime = st.st_mtim;
    w->pending = false;
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[4096];
        if (e->d_name[0] == '.' || strlen(e->d_name) >= MS_VM_NAME ||
            rundir_path(path, sizeof(path), e->d_name, NULL) < 0)
            continue;
        pid_t pid = rundir_pid(e->d_name);
        if (pid <= 0) { /* being created (or gone): look again next time */
            w->pending = true;
            continue;
        }
        struct ms_vm vm = {.t_ns = now, .pid = (uint32_t)pid};
        memcpy(vm.name, e->d_name, strlen(e->d_name) + 1); /* shorter than MS_VM_NAME: checked above */
        if (ms_vmmap_add(&w->map, &vm) == 1 && fn)
            fn(arg, &vm);
    }
    closedir(d);
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

static void rec_vm(void *arg, const struct ms_vm *vm)
{
    struct rec_ctx *c = arg;
    if (ms_writer_vm(&c->w, vm) < 0)
        c->write_error = 1;
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
    char since[16];
    struct ms_probe *p = open_probe(a, since);
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
    struct ms_header h = {.bucket_ns = a->interval_ns};
    h.start_ns = ms_probe_start_ns(p, &h.start_realtime_ns);
    gethostname(h.host, sizeof(h.host) - 1);
    struct rec_ctx c = {0};
    struct vm_watch vms = {0};
    ms_writer_begin(&c.w, f, fmt, &h);
    catch_stop_signals();

    pid_t child = a->command ? start_command(a->command) : -1;
    if (a->command && child < 0) {
        vlog_err("microscope: fork: %s", strerror(errno));
        ms_probe_close(p);
        return 1;
    }
    int status = 0, rc = 0;
    uint64_t deadline = a->duration_ns ? h.start_ns + a->duration_ns : UINT64_MAX;
    uint64_t drain = drain_ns(a->interval_ns);
    for (uint64_t next = h.start_ns + drain;; next += drain) {
        uint64_t wake = next < deadline ? next : deadline;
        sleep_until(wake);
        /* VMs first: a VM's record comes before its samples */
        vm_scan(&vms, clock_ns(CLOCK_MONOTONIC), rec_vm, &c);
        if (ms_probe_drain(p, rec_sample, &c) < 0)
            vlog_err("microscope: draining the maps failed: %s", strerror(errno));
        if (child > 0 && waitpid(child, &status, WNOHANG) == child) {
            child = 0;
            break;
        }
        if (stop_signal || clock_ns(CLOCK_MONOTONIC) >= deadline)
            break;
    }
    struct ms_trailer t = {.end_ns = ms_probe_stop(p)};
    /* Both maps: the one that was filling during the last drain too. */
    ms_probe_drain(p, rec_sample, &c);
    ms_probe_drain(p, rec_sample, &c);
    ms_probe_counters(p, t.counters, &t.missed);
    ms_writer_end(&c.w, &t);
    ms_probe_close(p);
    ms_vmmap_free(&vms.map);
    if (c.write_error || (!to_stdout && fclose(f) != 0)) {
        vlog_err("microscope: writing '%s' failed: %s", a->output, strerror(errno));
        rc = 1;
    }
    uint64_t lost = ms_lost_events(t.counters, t.missed);
    vlog_info("microscope: %llu rows over %.3f s to %s; lost or unmatched events: %llu",
              (unsigned long long)c.rows, (double)(t.end_ns - h.start_ns) / 1e9, a->output, (unsigned long long)lost);
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

static void live_screen(const struct microscope_args *a, struct ms_agg *win, const struct ms_vmmap *vms,
                        uint64_t window_ns, const struct ms_live_status *st, bool tty)
{
    ms_agg_finish(win);
    struct ms_agg byvm;
    if (a->by_vm && ms_agg_by_vm(win, vms, &byvm) == 0) {
        ms_live_render(stdout, &byvm, window_ns, st, a->top, tty);
        ms_agg_free(&byvm);
    } else {
        ms_live_render(stdout, win, window_ns, st, a->top, tty);
    }
}

static int live(const struct microscope_args *a)
{
    struct ms_live_status st = {0};
    struct ms_probe *p = open_probe(a, st.since);
    if (!p)
        return 1;
    catch_stop_signals();
    bool tty = isatty(STDOUT_FILENO);
    uint64_t begin = ms_probe_start_ns(p, NULL);
    uint64_t deadline = a->duration_ns ? begin + a->duration_ns : UINT64_MAX;
    struct ms_agg win;
    struct vm_watch vms = {0};
    ms_agg_init(&win, a->interval_ns);
    uint64_t win_start = begin, next_screen = begin + a->refresh_ns;
    uint64_t drain = drain_ns(a->interval_ns);
    for (uint64_t next = begin + drain; !stop_signal; next += drain) {
        sleep_until(next < deadline ? next : deadline);
        if (a->by_vm)
            vm_scan(&vms, clock_ns(CLOCK_MONOTONIC), NULL, NULL);
        ms_probe_drain(p, live_sample, &win);
        uint64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now >= next_screen || now >= deadline) {
            st.elapsed_s = (double)(now - begin) / 1e9;
            ms_probe_counters(p, st.counters, &st.missed);
            live_screen(a, &win, &vms.map, now - win_start, &st, tty);
            ms_agg_free(&win);
            ms_agg_init(&win, a->interval_ns);
            win_start = now;
            next_screen = now + a->refresh_ns;
        }
        if (now >= deadline)
            break;
    }
    ms_agg_free(&win);
    ms_vmmap_free(&vms.map);
    ms_probe_close(p);
    return 0;
}

/* ---------------- report ---------------- */

struct report_in {
    struct ms_agg agg;
    struct ms_vmmap vms;
};

static int agg_cb(void *arg, const struct ms_sample *s)
{
    struct ms_agg *a = &((struct report_in *)arg)->agg;
    a->bucket_ns = s->bucket_ns; /* the header's: the reader checks */
    return ms_agg_add(a, s);
}

static int vm_cb(void *arg, const struct ms_vm *vm)
{
    return ms_vmmap_add(&((struct report_in *)arg)->vms, vm) < 0 ? -1 : 0;
}

static int report(const struct microscope_args *a)
{
    struct ms_header h;
    struct ms_trailer t;
    struct report_in in;
    struct ms_agg byvm;
    char err[512];
    ms_agg_init(&in.agg, 0);
    ms_vmmap_init(&in.vms);
    struct ms_read_cbs cb = {.sample = agg_cb, .vm = vm_cb, .arg = &in};
    int rc = ms_read_file(a->input, &h, &t, &cb, err, sizeof(err));
    if (rc < 0) {
        vlog_err("microscope report: %s", err);
        ms_agg_free(&in.agg);
        ms_vmmap_free(&in.vms);
        return 1;
    }
    in.agg.bucket_ns = h.bucket_ns; /* also when no sample came */
    if (!t.present)
        vlog_err("microscope report: warning: %s was cut short (no end record%s): its lost events are unknown and it "
                 "ends with its last complete bucket",
                 a->input, t.cut_line ? "; its unfinished last line was dropped" : "");
    ms_agg_finish(&in.agg);
    struct ms_agg *use = &in.agg;
    if (a->by_vm) {
        if (ms_agg_by_vm(&in.agg, &in.vms, &byvm) < 0) {
            vlog_err("microscope report: out of memory");
            ms_agg_free(&in.agg);
            ms_vmmap_free(&in.vms);
            return 1;
        }
        use = &byvm;
    }
    rc = a->json ? ms_report_json(stdout, use, &h, &t, &a->rep) : ms_report_text(stdout, use, &h, &t, &a->rep);
    if (a->svg) {
        FILE *f = fopen(a->svg, "w");
        if (!f || ms_svg_write(f, use, &h, &t, &a->rep, a->rep.top) < 0 || fclose(f) != 0) {
            vlog_err("microscope report: cannot write '%s': %s", a->svg, strerror(errno));
            rc = -1;
        }
    }
    if (use == &byvm)
        ms_agg_free(&byvm);
    ms_agg_free(&in.agg);
    ms_vmmap_free(&in.vms);
    return rc < 0 ? 1 : 0;
}

int cmd_microscope(int argc, char *const argv[])
{
    static struct microscope_args a;
    char err[512];
    if (microscope_args_parse(argc, argv, &a, err, sizeof(err)) < 0) {
        vlog_err("microscope: %s", err);
        fputs("Try 'vireo microscope --help'.\n", stderr);
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

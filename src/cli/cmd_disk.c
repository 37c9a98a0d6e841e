#include "cli/cmd_disk.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/log.h"
#include "util/size.h"
#include "vhost_user/backend.h"

const char disk_usage[] =
    "usage: vireo disk serve --socket PATH [OPTIONS] IMAGE\n"
    "Serves IMAGE (a raw file or block device) as a vhost-user-blk back-end on the\n"
    "UNIX socket PATH, for QEMU (-chardev socket,path=PATH -device vhost-user-blk-pci)\n"
    "or another VMM.  Runs in the foreground until SIGTERM or SIGINT.\n"
    "  --socket PATH      where to listen (a stale socket file there is replaced)\n"
    "  --ro               read-only disk\n"
    "  --queues N         virtqueues, 1-16 (default 1)\n"
    "  --iothread N       I/O threads serving the queues, 0-16 (default 1; 0 serves\n"
    "                     them on the main thread)\n"
    "  --cache none|writeback   O_DIRECT or the host page cache (default writeback)\n"
    "  --aio io_uring|threads   I/O engine (default io_uring, else threads)\n"
    "  --poll-us N        I/O threads busy-poll up to N us before sleeping, adapted\n"
    "                     to the load (default 32 on hosts with 4+ CPUs, else 0)\n"
    "  --serial ID        disk serial (up to 20 characters)\n";

int disk_serve_args_parse(int argc, char *const argv[], struct disk_serve_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    const char *image = NULL;
    /* The options are --disk's, so they are checked by the same parser. */
    char opts[512] = "";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            a->help = true;
            return 0;
        }
        if (!strcmp(arg, "--ro")) {
            strncat(opts, ",ro", sizeof(opts) - strlen(opts) - 1);
            continue;
        }
        static const char *const with_value[][2] = {
            {"--socket", NULL}, {"--queues", "queues"}, {"--iothread", "iothread"},
            {"--cache", "cache"}, {"--aio", "aio"}, {"--serial", "serial"}, {"--poll-us", "poll-us"},
        };
        size_t k = 0, nopts = sizeof(with_value) / sizeof(with_value[0]);
        for (; k < nopts; k++)
            if (!strcmp(arg, with_value[k][0]))
                break;
        if (k == nopts) {
            if (arg[0] == '-') {
                snprintf(err, errlen, "unknown option '%s'", arg);
                return -1;
            }
            if (image) {
                snprintf(err, errlen, "one IMAGE only ('%s' and '%s')", image, arg);
                return -1;
            }
            image = arg;
            continue;
        }
        if (i + 1 >= argc) {
            snprintf(err, errlen, "%s needs a value", arg);
            return -1;
        }
        const char *v = argv[++i];
        if (!with_value[k][1]) {
            a->socket = v;
        } else if (strchr(v, ',') || strlen(opts) + strlen(v) + 16 >= sizeof(opts)) {
            snprintf(err, errlen, "%s '%s': bad value", arg, v);
            return -1;
        } else {
            size_t n = strlen(opts);
            snprintf(opts + n, sizeof(opts) - n, ",%s=%s", with_value[k][1], v);
        }
    }
    if (!a->socket || !a->socket[0]) {
        snprintf(err, errlen, "--socket PATH is required");
        return -1;
    }
    if (!image || !image[0]) {
        snprintf(err, errlen, "IMAGE is required");
        return -1;
    }
    char spec[sizeof(a->disk.path) + sizeof(opts)];
    /* The image path goes in with its commas doubled, as --disk wants. */
    size_t n = 0;
    for (const char *p = image; *p && n + 2 < sizeof(spec) - sizeof(opts); p++) {
        if (*p == ',')
            spec[n++] = ',';
        spec[n++] = *p;
    }
    spec[n] = 0;
    strcat(spec, opts);
    char derr[512];
    if (disk_arg_parse(spec, &a->disk, derr, sizeof(derr)) < 0) {
        /* Report in this command's terms, not --disk's. */
        const char *why = strstr(derr, "': ");
        snprintf(err, errlen, "%s", why ? why + 3 : derr);
        return -1;
    }
    if (!a->disk.o.queues)
        a->disk.o.queues = 1;
    return 0;
}

struct stop_signal {
    int fd;
    bool stop;
    struct signalfd_siginfo si;
};

static void on_signal(void *opaque, uint32_t events)
{
    (void)events;
    struct stop_signal *s = opaque;
    if (read(s->fd, &s->si, sizeof(s->si)) == sizeof(s->si))
        s->stop = true;
}

static int serve(const struct disk_serve_args *a)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    static struct event_loop loop;
    if (sfd < 0 || event_loop_init(&loop) < 0) {
        vlog_err("setup: %s", strerror(errno));
        return 1;
    }
    event_loop_set_owner(&loop);
    char err[512];
    struct vblk *blk = vblk_new(&a->disk.o, &loop, err, sizeof(err));
    if (!blk) {
        vlog_err("%s", err);
        return 1;
    }
    static struct vu_backend be;
    if (vu_backend_init(&be, vblk_dev(blk), &loop, a->socket, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        vblk_free(blk);
        return 1;
    }
    char desc[512];
    vblk_describe(blk, desc, sizeof(desc));
    vlog_info("serving %s as vhost-user-blk on %s", desc, a->socket);
    struct el_watch w;
    struct stop_signal sig = {.fd = sfd};
    event_loop_add(&loop, &w, sfd, EPOLLIN, on_signal, &sig);
    while (!sig.stop)
        if (event_loop_run_once(&loop, -1) < 0)
            break;
    vlog_info("stopping on signal %u (%s)", sig.si.ssi_signo, strsignal((int)sig.si.ssi_signo));
    event_loop_del(&loop, &w);
    vu_backend_destroy(&be);
    unlink(a->socket);
    vblk_free(blk);
    event_loop_destroy(&loop);
    close(sfd);
    return 0;
}

int cmd_disk(int argc, char *const argv[])
{
    if (argc < 2 || strcmp(argv[1], "serve")) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            fputs(disk_usage, stdout);
            return 0;
        }
        vlog_err("disk: expected a subcommand: serve");
        fputs(disk_usage, stderr);
        return 2;
    }
    static struct disk_serve_args a;
    char err[512];
    if (disk_serve_args_parse(argc - 1, argv + 1, &a, err, sizeof(err)) < 0) {
        vlog_err("disk serve: %s", err);
        fputs(disk_usage, stderr);
        return 2;
    }
    if (a.help) {
        fputs(disk_usage, stdout);
        return 0;
    }
    return serve(&a);
}

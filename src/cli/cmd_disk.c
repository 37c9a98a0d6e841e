#include "cli/cmd_disk.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "confine/seccomp.h"
#include "util/log.h"
#include "util/size.h"
#include "vhost_user/backend.h"
#include "util/suggest.h"
#include "util/mclock.h"

const char disk_usage[] =
    "usage: vireo disk serve --socket PATH [OPTIONS] IMAGE\n"
    "Serves IMAGE (a raw file or block device, or a qcow2 image) as a vhost-user-blk\n"
    "back-end on the UNIX socket PATH, for QEMU (-chardev socket,path=PATH -device\n"
    "vhost-user-blk-pci) or another VMM.  Runs in the foreground until SIGTERM or SIGINT.\n"
    "  --socket PATH      where to listen: a new socket file, mode 0600 (a socket file\n"
    "                     nobody listens on is replaced; a live one is refused)\n"
    "  --format raw|qcow2 the image's format (default raw; never guessed)\n"
    "  --backing on|off   whether a qcow2 image may name a backing file (default on)\n"
    "  --ro               read-only disk\n"
    "  --queues N         virtqueues, 1-16 (default 1)\n"
    "  --iothread N       I/O threads serving the queues, 0-16 (default 1; 0 serves\n"
    "                     them on the main thread)\n"
    "  --cache none|writeback   O_DIRECT or the host page cache (default writeback)\n"
    "  --aio io_uring|threads   I/O engine (default io_uring, else threads)\n"
    "  --poll-us N        I/O threads busy-poll up to N us before sleeping, adapted\n"
    "                     to the load (default 32 on hosts with 4+ CPUs, else 0)\n"
    "  --serial ID        disk serial (up to 20 characters)\n"
    "  --seccomp on|off   the per-thread system call filters (default on; off is\n"
    "                     for debugging)\n";

int disk_serve_args_parse(int argc, char *const argv[], struct disk_serve_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    disk_opts_defaults(&a->disk.o, a->disk.path);
    a->disk.o.ro_hint = "--ro";
    const char *image = NULL;
    bool operands = false;      /* after "--": the IMAGE, whatever it looks like */
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!operands && !strcmp(arg, "--")) {
            operands = true;
            continue;
        }
        if (operands) {
            if (image) {
                snprintf(err, errlen, "one IMAGE only ('%s' and '%s')", image, arg);
                return -1;
            }
            image = arg;
            continue;
        }
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            a->help = true;
            return 0;
        }
        if (!strcmp(arg, "--ro")) {
            a->disk.o.ro = true;
            continue;
        }
        if (!strcmp(arg, "--seccomp") || !strncmp(arg, "--seccomp=", 10)) {
            const char *v = arg[9] == '=' ? arg + 10 : i + 1 < argc ? argv[++i] : NULL;
            if (!v || (strcmp(v, "on") && strcmp(v, "off"))) {
                snprintf(err, errlen, "--seccomp '%s': expected on or off", v ? v : "");
                return -1;
            }
            a->seccomp_off = !strcmp(v, "off");
            continue;
        }
        /* The options are --disk's, set through the same function. */
        static const char *const with_value[][2] = {
            {"--socket", NULL}, {"--queues", "queues"}, {"--iothread", "iothread"},
            {"--cache", "cache"}, {"--aio", "aio"}, {"--serial", "serial"}, {"--poll-us", "poll-us"},
            {"--format", "format"}, {"--backing", "backing"},
        };
        size_t k = 0, nopts = sizeof(with_value) / sizeof(with_value[0]);
        for (; k < nopts; k++)
            if (!strcmp(arg, with_value[k][0]))
                break;
        if (k == nopts) {
            if (arg[0] == '-') {
                static const char *const names[] = {"--socket", "--queues", "--iothread", "--cache", "--aio",
                                                    "--serial", "--poll-us", "--format", "--backing", "--ro",
                                                    "--seccomp", "--help"};
                const char *hint = suggest_word(arg, names, sizeof(names) / sizeof(names[0]), NULL);
                if (hint)
                    snprintf(err, errlen, "unknown option '%s'; did you mean '%s'?", arg, hint);
                else
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
        if (!with_value[k][1])
            a->socket = v;
        else if (disk_opt_set(&a->disk.o, with_value[k][1], v, err, errlen) < 0)
            return -1;
    }
    if (!a->socket || !a->socket[0]) {
        snprintf(err, errlen, "--socket PATH is required");
        return -1;
    }
    if (!image || !image[0]) {
        snprintf(err, errlen, "IMAGE is required");
        return -1;
    }
    if (strlen(image) >= sizeof(a->disk.path)) {
        snprintf(err, errlen, "IMAGE path too long");
        return -1;
    }
    snprintf(a->disk.path, sizeof(a->disk.path), "%s", image);
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
    /* Before the I/O threads start: each loads its filter as it starts. */
    /* The request clock reads /sys to decide (TSC or not): before the
     * filters, which allow no open. */
    mclock_init();
    struct confine_policy pol = {.process = CONFINE_PROCESS_DISK_SERVE, .proc_fd = -1};
    if (!a->seccomp_off && confine_seccomp_prepare(&pol, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return 1;
    }
    static struct disk disk;
    if (disk_open(&disk, &a->disk.o, &loop, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return 1;
    }
    static struct vu_backend be;
    if (vu_backend_init(&be, vblk_dev(disk.blk), &loop, a->socket, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        disk_close(&disk);
        return 1;
    }
    /* The image and the socket are open: main's filter from here on. */
    if (!a->seccomp_off && confine_seccomp_enter_main(err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        vu_backend_destroy(&be);
        disk_close(&disk);
        return 1;
    }
    char desc[512];
    disk_describe(&disk, desc, sizeof(desc));
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
    disk_close(&disk);
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
        fputs("Try 'vireo disk --help'.\n", stderr);
        return 2;
    }
    static struct disk_serve_args a;
    char err[512];
    if (disk_serve_args_parse(argc - 1, argv + 1, &a, err, sizeof(err)) < 0) {
        vlog_err("disk serve: %s", err);
        fputs("Try 'vireo disk --help'.\n", stderr);
        return 2;
    }
    if (a.help) {
        fputs(disk_usage, stdout);
        return 0;
    }
    return serve(&a);
}

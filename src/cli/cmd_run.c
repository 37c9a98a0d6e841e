#include "cli/cmd_run.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli/run_args.h"
#include "util/log.h"
#include "vm/console.h"
#include "vm/setup_report.h"
#include "vm/vm.h"
#include "vm/vm_vconsole.h"
#include "vm/vm_confine.h"

static int report_setup(struct vm *vm)
{
    struct setup_report r;
    if (setup_report_measure(&vm->memmap, &r) < 0) {
        vlog_err("measuring set-up cost failed");
        return VM_STATUS_ERROR;
    }
    /* One machine-readable line on stdout for bench/. */
    uint64_t vmm = r.rss_kib > r.guest_rss_kib ? r.rss_kib - r.guest_rss_kib : 0;
    printf("setup cpu_ms=%.3f rss_kib=%llu guest_rss_kib=%llu vmm_rss_kib=%llu vmm_anon_kib=%llu\n", r.cpu_ms,
           (unsigned long long)r.rss_kib, (unsigned long long)r.guest_rss_kib, (unsigned long long)vmm,
           (unsigned long long)(vmm > r.file_rss_kib ? vmm - r.file_rss_kib : 0));
    return VM_STATUS_POWEROFF;
}

/* The foreground driver of one VM: its loop serves the VM, the terminal
 * (console.c) and the termination signals. */
struct runner {
    struct event_loop loop;
    struct vm_resources res;   /* opened before the confinement, for the VM's life */
    struct vm vm;              /* large (device config spaces); keep it off the stack */
    struct console con;
    int sfd;
    struct el_watch w_sig;
};

static void on_signal(void *opaque, uint32_t events)
{
    (void)events;
    struct runner *r = opaque;
    struct signalfd_siginfo si;
    if (read(r->sfd, &si, sizeof(si)) != sizeof(si))
        return;
    vm_request_stop(&r->vm, 128 + (int)si.ssi_signo, "stopped by signal %u (%s)", si.ssi_signo,
                    strsignal((int)si.ssi_signo));
}

static size_t console_push(void *vm, const uint8_t *buf, size_t len)
{
    return vm_console_input(vm, buf, len);
}

static void on_console_quit(void *opaque)
{
    vm_request_stop(opaque, VM_STATUS_CONSOLE_QUIT, "stopped from the console (Ctrl-A x)");
}

/* Runs the VM until it stops; returns its vm_status. */
static int drive(struct runner *r)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    /* Blocked so that they reach the signalfd (the VM's threads block them
     * too). */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    r->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (r->sfd < 0 || event_loop_add(&r->loop, &r->w_sig, r->sfd, EPOLLIN, on_signal, r) < 0) {
        vm_request_stop(&r->vm, VM_STATUS_ERROR, "signal setup: %s", strerror(errno));
        return vm_finish(&r->vm);
    }
    console_open(&r->con, STDIN_FILENO);
    if (console_input_start(&r->con, &r->loop, console_push, &r->vm, on_console_quit, &r->vm) < 0)
        vm_request_stop(&r->vm, VM_STATUS_ERROR, "console: %s", strerror(errno));
    vm_start(&r->vm);
    while (!vm_stopping(&r->vm))
        if (event_loop_run_once(&r->loop, -1) < 0)
            vm_request_stop(&r->vm, VM_STATUS_ERROR, "epoll_wait: %s", strerror(errno));
    console_input_stop(&r->con);
    console_restore(&r->con);
    int status = vm_finish(&r->vm);
    event_loop_del(&r->loop, &r->w_sig);
    close(r->sfd);
    return status;
}

int cmd_run(int argc, char *const argv[])
{
    static struct run_args a;   /* the disks' paths: too large for the stack */
    char err[256];
    if (run_args_parse(argc, argv, &a, err, sizeof(err)) < 0) {
        vlog_err("run: %s", err);
        fputs("Try 'vireo run --help'.\n", stderr);
        return VM_STATUS_USAGE;
    }
    if (a.help) {
        fputs(run_usage, stdout);
        return 0;
    }
    static struct runner r;
    if (event_loop_init(&r.loop) < 0) {
        vlog_err("event loop: %s", strerror(errno));
        return VM_STATUS_ERROR;
    }
    event_loop_set_owner(&r.loop);
    struct vm_boot_disk boot = {.disk = a.boot_disk_index, .append = a.cmdline};
    struct vm_params cfg = {
        .ram_size = a.memory, .hugepages = a.hugepages, .ncpus = a.vcpus, .kernel_path = a.kernel,
        .initrd_path = a.initrd, .cmdline = a.cmdline, .boot_protocol = a.boot_protocol,
        .allow_pvm = a.setup_only, .balloon = a.balloon, .ndisks = a.ndisks,
        .loop = &r.loop, .serial_fd = STDOUT_FILENO,
        .boot_disk = a.boot_disk ? &boot : NULL,
    };
    for (unsigned i = 0; i < a.ndisks; i++)
        cfg.disks[i] = a.disks[i].o;
    cfg.nnets = a.nnets;
    for (unsigned i = 0; i < a.nnets; i++)
        cfg.nets[i] = a.nets[i];
    /* What needs root first, then the confinement, then the VM, built from
     * descriptors only. */
    if (vm_resources_open(&r.res, &cfg) < 0) {
        event_loop_destroy(&r.loop);
        return VM_STATUS_ERROR;
    }
    cfg.res = &r.res;
    char leaf[32];
    snprintf(leaf, sizeof(leaf), "run-%d", (int)getpid());
    struct vm_confine_opts co = {.seccomp = !a.seccomp_off, .user = a.user, .cgroup_leaf = leaf};
    int status = VM_STATUS_ERROR;
    if (vm_confine(&co, &cfg) == 0) {
        if (vm_create(&r.vm, &cfg) == 0)
            status = a.setup_only ? report_setup(&r.vm) : drive(&r);
        vm_destroy(&r.vm);
    }
    vm_resources_close(&r.res);
    event_loop_destroy(&r.loop);
    return status;
}

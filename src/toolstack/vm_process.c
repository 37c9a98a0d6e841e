#include "toolstack/vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/ctl_proto.h"
#include "toolstack/vm_commands.h"
#include "toolstack/vm_log.h"
#include "toolstack/vm_mem_commands.h"
#include "toolstack/vm_process_impl.h"
#include "util/capfile.h"
#include "util/cpulist.h"
#include "util/log.h"
#include "vm/vm_confine.h"
#include "vm/vm_vconsole.h"

static struct vm the_vm;   /* large (device config spaces): not on the stack */

static void on_serial(void *opaque, uint32_t events)
{
    (void)events;
    struct vmp *p = opaque;
    uint8_t buf[4096];
    ssize_t r = read(p->serial_rd, buf, sizeof(buf));
    if (r > 0 && p->cfg->serial == VM_SERIAL_FILE)
        capfile_write(&p->serial_file, buf, (size_t)r);
    else if (r > 0)
        ctl_server_console_output(&p->ctl, buf, (size_t)r);
}

static size_t console_input(void *opaque, const uint8_t *b, size_t n)
{
    struct vmp *p = opaque;
    if (!p->vm || p->state != VMP_RUNNING)
        return n;   /* nobody to take it: dropped, as a UART with no receiver */
    return vm_console_input(p->vm, b, n);
}

static int open_serial(struct vmp *p, char *err, size_t errlen)
{
    p->serial_rd = -1;
    if (p->cfg->serial == VM_SERIAL_FILE) {
        /* Written by this thread from the pipe below, not by the vCPU: the
         * cap and the rotation stay in one place. */
        char why[480];
        if (capfile_open(&p->serial_file, p->cfg->serial_path, vm_log_max(), 0600, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "serial file %s", why);
            return -1;
        }
    } else if (p->cfg->serial == VM_SERIAL_NULL) {
        p->params.serial_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (p->params.serial_fd < 0) {
            snprintf(err, errlen, "/dev/null: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    int fds[2];
    /* Non-blocking write end: a stalled main thread drops console output
     * (to the console or to the serial file) rather than holding a vCPU. */
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "console pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    p->serial_rd = fds[0];
    p->params.serial_fd = fds[1];
    if (event_loop_add(&p->outer, &p->w_serial, p->serial_rd, EPOLLIN, on_serial, p) < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* The CPUs of a config's set that this process may use (online, in its
 * cpuset); -1 if none.  The rest are dropped, as taskset does. */
static int host_cpus(const struct vmp *p, const struct vm_cpuset *want, cpu_set_t *out, const char *key,
                     const char *what, unsigned i, char *err, size_t errlen)
{
    cpu_set_t w;
    vm_cpuset_to_cpu_set(want, &w);
    CPU_AND(out, &w, &p->allowed);
    char have[256];
    cpulist_format(&p->allowed, p->host_cpus, have, sizeof(have));
    /* "0-999" on a small host works, but is likely a mistake worth a line
     * (once per key, not once per vCPU). */
    static bool warned[2];
    bool *w_once = &warned[strcmp(key, "cpus") != 0];
    if (CPU_COUNT(out) && CPU_COUNT(out) < CPU_COUNT(&w) && !*w_once) {
        *w_once = true;
        vlog_err("warning: %s names CPUs this host does not let vireo use; using only %s of its CPUs %s", key,
                 CPU_COUNT(out) == CPU_COUNT(&p->allowed) ? "all" : "some", have);
    }
    if (CPU_COUNT(out))
        return 0;
    snprintf(err, errlen, "%s: %s %u would run on no CPU this host lets it use (CPUs %s)", key, what, i, have);
    return -1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
_Static_assert(NELEM(((struct vm_config *)0)->disks) == NELEM(((struct vm_params *)0)->disks) &&
                   NELEM(((struct vm_config *)0)->vifs) == NELEM(((struct vm_params *)0)->nets) &&
                   NELEM(((struct vm_config *)0)->cpus) == NELEM(((struct vmp *)0)->affinity),
               "a configuration the parser accepts must fit the VM's arrays");

static int build_params(struct vmp *p, char *err, size_t errlen)
{
    const struct vm_config *c = p->cfg;
    struct vm_params *v = &p->params;
    memset(v, 0, sizeof(*v));
    /* vm_config_parse keeps within these; a config built another way must too. */
    if (c->ndisks > VM_MAX_DISKS || c->nvifs > VM_MAX_NETS || c->vcpus < 1 || c->vcpus > VM_MAX_VCPUS) {
        snprintf(err, errlen, "%u disks, %u vifs, %u vCPUs: a VM holds at most %d, %d and %d", c->ndisks, c->nvifs,
                 c->vcpus, VM_MAX_DISKS, VM_MAX_NETS, VM_MAX_VCPUS);
        return -1;
    }
    vm_memory_init(&p->mem, c);
    v->ram_size = p->mem.ram_mib * MiB;
    v->hugepages = c->hugepages;
    v->balloon = p->mem.balloon;   /* maxmem: the guest starts ballooned down to memory */
    v->ncpus = c->vcpus;
    v->kernel_path = c->kernel;
    v->initrd_path = c->ramdisk;
    v->cmdline = c->cmdline;
    if (c->boot.pygrub) {
        /* The first disk in vdev order (the guest's vda), as libxl hands pygrub its first disk. */
        p->boot_disk = (struct vm_boot_disk){.disk = 0, .entry = c->boot.entry, .kernel = c->boot.kernel,
                                             .ramdisk = c->boot.ramdisk, .append = c->cmdline[0] ? c->cmdline : NULL};
        v->boot_disk = &p->boot_disk;
    }
    v->ndisks = c->ndisks;
    v->name = c->name;
    v->nnets = c->nvifs;
    for (unsigned i = 0; i < c->nvifs; i++) {
        struct vm_net_opts *n = &v->nets[i];
        memset(n, 0, sizeof(*n));
        snprintf(n->bridge, sizeof(n->bridge), "%s", c->vifs[i].bridge);
        snprintf(n->ifname, sizeof(n->ifname), "%s", c->vifs[i].vifname);
        n->has_mac = c->vifs[i].has_mac;
        memcpy(n->mac, c->vifs[i].mac, 6);
        n->queues = VM_NET_DEFAULT_QUEUES;
        n->iothreads = 1;
        n->vhost = c->vifs[i].vhost;
    }
    for (unsigned i = 0; i < c->ndisks; i++) {
        disk_opts_defaults(&v->disks[i], c->disks[i].target);
        v->disks[i].ro = c->disks[i].readonly;
        v->disks[i].ro_hint = "access=r to its disk spec";
        v->disks[i].format = c->disks[i].format;
        v->disks[i].no_backing = c->disks[i].no_backing;
        v->disks[i].queues = c->vcpus < VBLK_MAX_QUEUES ? c->vcpus : VBLK_MAX_QUEUES;
    }
    /* Unpinned vCPUs stay unpinned after a vcpu-pin of others and a restart. */
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        p->affinity[i] = p->allowed;
    if (c->pinned) {
        for (unsigned i = 0; i < c->vcpus; i++)
            if (host_cpus(p, &c->cpus[i], &p->affinity[i], "cpus", "vCPU", i, err, errlen) < 0)
                return -1;
        v->vcpu_affinity = p->affinity;
    }
    for (unsigned i = 0; c->iothreads_pinned && i < c->ndisks; i++) {
        v->disks[i].pin_iothreads = true;
        if (host_cpus(p, &c->iothread_cpus[i], &v->disks[i].iothread_cpus, "iothread_cpus", "disk", i, err,
                      errlen) < 0)
            return -1;
    }
    v->loop = &p->outer;
    v->start_paused = p->a->paused;
    return 0;
}

/* SIGTERM presses the power button (the host shutting down: systemd
 * stopping the session or unit the process runs in, as xendomains and
 * libvirt-guests do), SIGINT stops the VM; a preserved VM goes away on
 * either.  SIGKILL is `destroy`. */
static void on_signal(void *opaque, uint32_t events)
{
    (void)events;
    struct vmp *p = opaque;
    struct signalfd_siginfo si;
    if (read(p->sfd, &si, sizeof(si)) != sizeof(si))
        return;
    if (!p->vm || p->state != VMP_RUNNING) {
        p->destroy_req = true;
    } else if (si.ssi_signo == SIGTERM) {
        vlog_info("SIGTERM: pressing the power button");
        p->host_stopping = true;
        vmp_freeze_lift(p, "the VM process got SIGTERM (the host is shutting down)");
        vm_unpause(p->vm);   /* a paused guest would never see it */
        vm_power_button(p->vm);
    } else {
        vm_request_stop(p->vm, 128 + (int)si.ssi_signo, "stopped by signal %u (%s)", si.ssi_signo,
                        strsignal((int)si.ssi_signo));
    }
}

static int watch_signals(struct vmp *p)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGHUP, SIG_IGN);   /* no terminal: the session ending is no reason to stop */
    p->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (p->sfd < 0 || event_loop_add(&p->outer, &p->w_sig, p->sfd, EPOLLIN, on_signal, p) < 0)
        return -1;
    return 0;
}

/* A preserved VM (on_poweroff/on_crash=preserve) waits, still listed,
 * until `vireo destroy` or a termination signal. */
static void preserve(struct vmp *p)
{
    vlog_info("preserved (%s): `vireo destroy %s` removes it", p->last_stop, p->cfg->name);
    while (!p->destroy_req)
        if (event_loop_run_once(&p->outer, -1) < 0 && errno != EINTR)
            break;
}

/* false when the VM restarted too often too fast. */
static bool restart_allowed(struct vmp *p)
{
    struct timespec now, *oldest = &p->restart_times[p->restarts % RESTART_BURST];
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (p->restarts >= RESTART_BURST && now.tv_sec - oldest->tv_sec < RESTART_WINDOW_S)
        return false;
    *oldest = now;
    return true;
}

/* What the configuration says to do after a stop with this status. */
static enum vm_action next_action(struct vmp *p, int status)
{
    if (p->destroy_req)
        return VM_ACTION_DESTROY;
    switch (status) {
    case VM_STATUS_POWEROFF:
        return p->reboot_req ? VM_ACTION_RESTART : p->cfg->on_poweroff;
    case VM_STATUS_REBOOT:
        return p->cfg->on_reboot;
    case VM_STATUS_CRASH:
        return p->cfg->on_crash;
    default:   /* an error, or SIGINT */
        return VM_ACTION_DESTROY;
    }
}

static enum vm_action decide(struct vmp *p, int status)
{
    enum vm_action a = next_action(p, status);
    if (a == VM_ACTION_RESTART && p->host_stopping) {
        vlog_info("not restarting: the process got SIGTERM (the host is shutting down)");
        return VM_ACTION_DESTROY;
    }
    if (a == VM_ACTION_RESTART && !restart_allowed(p)) {
        vlog_err("not restarting: %d restarts within %d s", RESTART_BURST, RESTART_WINDOW_S);
        return VM_ACTION_DESTROY;
    }
    return a;
}

static void notify(struct vmp *p, int status, enum vm_action then)
{
    struct json_object *ev = vmp_stop_event(p, status, then);
    /* Sent at once (no loop turn): commands that came meanwhile wait for
     * the next incarnation's loop, so none acts on a VM already gone. */
    ctl_server_notify_stopped(&p->ctl, ev);
    json_object_put(ev);
}


static int serve(struct vmp *p)
{
    int ready = p->a->ready_fd;
    for (;;) {
        p->vm = &the_vm;
        p->state = VMP_RUNNING;
        p->reboot_req = false;
        if (vm_create(p->vm, &p->params) < 0) {
            vm_destroy(p->vm);
            p->vm = NULL;
            if (ready >= 0)
                return 1;   /* the reason is on create's stderr already */
            vlog_err("restarting failed; the VM is gone");
            return 1;
        }
        vmp_mem_apply(p);
        if (ready >= 0) {
            (void)!write(ready, "ok\n", 3);
            close(ready);
            ready = -1;
            vm_log_start();
            p->started_once = true;
            vlog_info("VM '%s' (id %u) started", p->cfg->name, p->a->claim.domid);
        }
        p->params.start_paused = false;   /* only the first start of `create -p` */
        vm_start(p->vm);
        while (!vm_stopping(p->vm))
            if (event_loop_run_once(&p->outer, -1) < 0)
                vm_request_stop(p->vm, VM_STATUS_ERROR, "epoll_wait: %s", strerror(errno));
        vmp_freeze_lift(p, "the VM stopped while it was frozen");
        int status = vm_finish(p->vm);
        snprintf(p->last_stop, sizeof(p->last_stop), "%s", p->vm->stop_reason);
        enum vm_action then = decide(p, status);
        notify(p, status, then);
        if (then == VM_ACTION_RESTART) {
            vm_destroy(p->vm);
            p->vm = NULL;
            p->restarts++;
            vlog_info("restarting in place");
            continue;
        }
        if (then == VM_ACTION_PRESERVE) {
            p->state = status == VM_STATUS_CRASH ? VMP_CRASHED : VMP_SHUTDOWN;
            preserve(p);
        }
        vm_destroy(p->vm);
        p->vm = NULL;
        return 0;
    }
}

/* Runs until the VM is gone; returns the process's exit status.  Start-up
 * errors go to the inherited stderr (the `create` command's). */
static int vm_process_main(struct vm_process_args *a)
{
    static struct vmp p;
    memset(&p, 0, sizeof(p));
    p.serial_file.fd = -1;
    p.a = a;
    p.cfg = a->cfg;
    p.sfd = -1;
    p.serial_rd = -1;
    p.ctl.listen_fd = p.ctl.timer_fd = -1;
    vmp_freeze_init(&p);
    long n = sysconf(_SC_NPROCESSORS_CONF);
    p.host_cpus = n > 0 && n <= CPU_SETSIZE ? (unsigned)n : 1;
    /* The kernel reports only online CPUs of our cpuset here. */
    if (sched_getaffinity(0, sizeof(p.allowed), &p.allowed) < 0) {
        CPU_ZERO(&p.allowed);
        for (unsigned c = 0; c < p.host_cpus; c++)
            CPU_SET(c, &p.allowed);
    }
    clock_gettime(CLOCK_MONOTONIC, &p.started);
    char err[512], path[4096];
    int rc = 1;
    if (event_loop_init(&p.outer) < 0) {
        vlog_err("event loop: %s", strerror(errno));
        return 1;
    }
    event_loop_set_owner(&p.outer);
    struct ctl_handlers h = {.opaque = &p, .cmds = ctl_cmds, .running_or_err = vmp_running_or_err,
                             .console_input = console_input, .conn_closed = vmp_freeze_conn_closed};
    if (watch_signals(&p) < 0) {
        vlog_err("signal setup: %s", strerror(errno));
        goto out;
    }
    if (build_params(&p, err, sizeof(err)) < 0 || open_serial(&p, err, sizeof(err)) < 0 ||
        rundir_path(path, sizeof(path), p.cfg->name, "control") < 0 ||
        ctl_server_open(&p.ctl, path, &p.outer, &h, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        goto out;
    }
    /* Everything that needs root or a path, then the confinement: the VM
     * and each restart of it are built from descriptors. */
    vm_log_open(p.a->log_path);   /* a refusal still reaches create's stderr */
    if (vm_resources_open(&p.res, &p.params) < 0)
        goto out;
    p.params.res = &p.res;
    p.res_open = true;
    if (!getcwd(p.cwd, sizeof(p.cwd)))
        snprintf(p.cwd, sizeof(p.cwd), "/");
    const char *cf = vm_config_file(p.cfg);
    if (!cf || !realpath(cf, p.cfg_file))
        p.cfg_file[0] = '\0';
    char leaf[16 + VM_NAME_MAX];
    snprintf(leaf, sizeof(leaf), "vm-%s", p.cfg->name);
    struct vm_confine_opts co = {.seccomp = !p.cfg->seccomp_off, .user = p.cfg->user, .cgroup_leaf = leaf};
    if (vm_confine(&co, &p.params) < 0)
        goto out;
    p.confined = true;
    rc = serve(&p);
out:
    /* The name goes before the connections close: whoever waits for EOF
     * (shutdown -w, destroy) then finds it free.  A confined process can
     * reach no path: it lets go of the pid file's lock, which makes the
     * directory stale, and the next `list` or `create` removes it. */
    if (p.confined)
        rundir_unlock(&p.a->claim);
    else
        rundir_release(p.cfg->name);
    ctl_server_close(&p.ctl, false);
    if (p.serial_rd >= 0) {
        /* The guest's last words (the kernel's "Power down") still go to
         * a serial file. */
        uint8_t buf[4096];
        ssize_t r;
        while (p.serial_file.fd >= 0 && (r = read(p.serial_rd, buf, sizeof(buf))) > 0)
            capfile_write(&p.serial_file, buf, (size_t)r);
        event_loop_del(&p.outer, &p.w_serial);
        close(p.serial_rd);
    }
    if (p.params.serial_fd > 0)
        close(p.params.serial_fd);
    capfile_close(&p.serial_file);
    vmp_freeze_fini(&p);
    if (p.sfd >= 0) {
        event_loop_del(&p.outer, &p.w_sig);
        close(p.sfd);
    }
    event_loop_destroy(&p.outer);
    if (p.res_open)   /* the images flushed as they close */
        vm_resources_close(&p.res);
    if (p.started_once)
        vlog_info("VM '%s' ended", p.cfg->name);
    return rc;
}

/* The VM process's side of the start: detached from the caller's session
 * and terminal, it owns the claim from here on. */
static void child(struct vm_process_args *a, int ready_fd)
{
    /* The caller may be gone (Ctrl-C, a timeout) before it reads "ok";
     * writing to the pipe must then not kill the new VM. */
    signal(SIGPIPE, SIG_IGN);
    setsid();   /* outlives the command and its terminal */
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null >= 0) {
        dup2(null, STDIN_FILENO);
        close(null);
    }
    rundir_set_pid(&a->claim, getpid());
    a->ready_fd = ready_fd;
    vm_log_init();
    exit(vm_process_main(a));
}

/* Until the VM process says "ok" (the VM runs) or ends (it printed why). */
static int wait_ready(int rd, pid_t pid, char *err, size_t errlen)
{
    char buf[4] = {0};
    ssize_t n;
    do
        n = read(rd, buf, 3);
    while (n < 0 && errno == EINTR);
    close(rd);
    if (n == 3 && !memcmp(buf, "ok\n", 3))
        return 0;
    /* Collected, so no zombie is left. */
    int st;
    err[0] = 0;
    if (waitpid(pid, &st, 0) == pid && WIFSIGNALED(st))
        snprintf(err, errlen, "the VM process died of signal %d (%s) while starting", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    return -1;
}

int vm_process_spawn(const struct vm_config *cfg, bool paused, struct vm_spawned *out, char *err, size_t errlen)
{
    char log_path[4096];
    struct vm_process_args a = {.cfg = cfg, .paused = paused, .ready_fd = -1, .log_path = log_path};
    mkdir(logdir_base(), 0750);
    snprintf(log_path, sizeof(log_path), "%s/%s.log", logdir_base(), cfg->name);
    if (rundir_claim(cfg->name, &a.claim, err, errlen) < 0)
        return -1;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        rundir_release(cfg->name);
        return -1;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        close(pipefd[0]);
        close(pipefd[1]);
        rundir_release(cfg->name);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        child(&a, pipefd[1]);
    }
    close(pipefd[1]);
    close(a.claim.lock_fd);   /* the VM process holds the lock now */
    if (wait_ready(pipefd[0], pid, err, errlen) < 0)
        return -1;
    *out = (struct vm_spawned){.pid = pid, .domid = a.claim.domid};
    return 0;
}

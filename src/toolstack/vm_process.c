#include "toolstack/vm_process.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/ctl_server.h"
#include "toolstack/vm_config_json.h"
#include "net/mac.h"
#include "util/cpulist.h"
#include "util/log.h"
#include "vm/vm.h"

enum vmp_state { VMP_RUNNING, VMP_SHUTDOWN, VMP_CRASHED };

/* A guest that crashes or reboots at once must not spin the host: more
 * than RESTART_BURST restarts within RESTART_WINDOW_S seconds end the VM
 * (libxl refuses restarts that come too fast likewise). */
#define RESTART_BURST    10
#define RESTART_WINDOW_S 60

struct vmp {
    const struct vm_process_args *a;
    const struct vm_config *cfg;
    struct vm_params params;
    struct vm_managed managed;
    cpu_set_t affinity[VM_MAX_VCPUS];
    struct event_loop outer;
    struct ctl_server ctl;
    int serial_rd;             /* the console pipe's read end, or -1 */
    struct el_watch w_serial, w_sig;
    int sfd;
    struct vm *vm;             /* NULL between incarnations */
    enum vmp_state state;
    bool destroy_req, reboot_req;
    unsigned restarts;
    bool started_once;
    struct timespec started;
    char last_stop[256];
    unsigned host_cpus;
    cpu_set_t allowed;         /* the CPUs this process may use (online, in its cpuset) */
    struct timespec restart_times[RESTART_BURST];   /* the last restarts, a ring */
};

static struct vm the_vm;   /* large (device config spaces): not on the stack */

static void on_serial(void *opaque, uint32_t events)
{
    (void)events;
    struct vmp *p = opaque;
    uint8_t buf[4096];
    ssize_t r = read(p->serial_rd, buf, sizeof(buf));
    if (r > 0)
        ctl_server_console_output(&p->ctl, buf, (size_t)r);
}

static size_t console_input(void *opaque, const uint8_t *b, size_t n)
{
    struct vmp *p = opaque;
    if (!p->vm || p->state != VMP_RUNNING)
        return n;   /* nobody to take it: dropped, as a UART with no receiver */
    return serial_rx_push(&p->vm->serial, b, n);
}

static const char *console_unavailable(void *opaque)
{
    struct vmp *p = opaque;
    if (p->cfg->serial == VM_SERIAL_FILE)
        return "the console goes to a file (serial=\"file:...\" in the config)";
    if (p->cfg->serial == VM_SERIAL_NULL)
        return "the VM has no console (serial=\"null\" in the config)";
    return NULL;
}

static const char *state_name(const struct vmp *p)
{
    if (p->state == VMP_SHUTDOWN)
        return "shutdown";
    if (p->state == VMP_CRASHED)
        return "crashed";
    return p->vm && vm_is_paused(p->vm) ? "paused" : "running";
}

/* xl's six state flags: r(unning) b(locked) p(aused) s(hutdown) c(rashed) d(ying). */
static void state_flags(struct vmp *p, char out[7])
{
    memcpy(out, "------", 7);
    if (p->state == VMP_SHUTDOWN) {
        out[3] = 's';
        return;
    }
    if (p->state == VMP_CRASHED) {
        out[4] = 'c';
        return;
    }
    if (!p->vm)
        return;
    if (vm_is_paused(p->vm)) {
        out[2] = 'p';
        return;
    }
    bool any_running = false;
    for (unsigned i = 0; i < p->vm->ncpus; i++) {
        struct vm_vcpu_stat st;
        if (vm_vcpu_stat(p->vm, i, &st) == 0 && st.state == 'r')
            any_running = true;
    }
    out[any_running ? 0 : 1] = any_running ? 'r' : 'b';
}

static double cpu_time(struct vmp *p)
{
    double t = 0;
    for (unsigned i = 0; p->vm && i < p->vm->ncpus; i++) {
        struct vm_vcpu_stat st;
        if (vm_vcpu_stat(p->vm, i, &st) == 0)
            t += st.cpu_seconds;
    }
    return t;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static struct json_object *disk_json(const struct vmp *p, unsigned i)
{
    const struct vm_disk *d = &p->cfg->disks[i];
    struct json_object *o = json_object_new_object();
    add_str(o, "vdev", d->vdev);
    char guest[8];
    snprintf(guest, sizeof(guest), "vd%c", 'a' + i);   /* attached in vdev order */
    add_str(o, "guest_dev", guest);
    add_str(o, "target", d->target);
    add_str(o, "access", d->readonly ? "r" : "rw");
    add_str(o, "format", "raw");
    json_object_object_add(o, "discard", json_object_new_boolean(d->discard));
    const struct vblk_opts *b = &p->params.disks[i];
    char cpus[256] = "all";
    if (b->pin_iothreads)
        cpulist_format(&b->iothread_cpus, p->host_cpus, cpus, sizeof(cpus));
    add_str(o, "iothread_cpus", cpus);
    return o;
}

static void fill_info(struct vmp *p, struct json_object *r)
{
    const struct vm_config *c = p->cfg;
    char flags[7];
    state_flags(p, flags);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    add_str(r, "name", c->name);
    json_object_object_add(r, "id", json_object_new_int64(p->a->claim.domid));
    json_object_object_add(r, "pid", json_object_new_int(getpid()));
    json_object_object_add(r, "memory_mib", json_object_new_int64((int64_t)c->memory_mib));
    json_object_object_add(r, "vcpus", json_object_new_int((int)c->vcpus));
    add_str(r, "state", state_name(p));
    add_str(r, "flags", flags);
    json_object_object_add(r, "cpu_time", json_object_new_double(cpu_time(p)));
    json_object_object_add(r, "uptime", json_object_new_double((double)(now.tv_sec - p->started.tv_sec) +
                                                                (double)(now.tv_nsec - p->started.tv_nsec) / 1e9));
    json_object_object_add(r, "restarts", json_object_new_int((int)p->restarts));
    add_str(r, "last_stop", p->last_stop[0] ? p->last_stop : NULL);
    json_object_object_add(r, "config", vm_config_json(c));
}

static int vcpu_list(struct vmp *p, struct json_object *r, char *err, size_t errlen)
{
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < p->cfg->vcpus; i++) {
        struct vm_vcpu_stat st;
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "vcpu", json_object_new_int((int)i));
        if (p->vm && p->state == VMP_RUNNING && vm_vcpu_stat(p->vm, i, &st) == 0 && st.tid) {
            char aff[256];
            cpulist_format(&st.affinity, p->host_cpus, aff, sizeof(aff));
            json_object_object_add(o, "cpu", json_object_new_int(st.cpu));
            char s[2] = {st.state, 0};
            add_str(o, "state", s);
            json_object_object_add(o, "cpu_time", json_object_new_double(st.cpu_seconds));
            add_str(o, "affinity", aff);
            json_object_object_add(o, "tid", json_object_new_int(st.tid));
        } else {
            add_str(o, "state", "-");
        }
        json_object_array_add(arr, o);
    }
    json_object_object_add(r, "vcpus", arr);
    (void)err;
    (void)errlen;
    return 0;
}

static int vcpu_pin(struct vmp *p, struct json_object *req, char *err, size_t errlen)
{
    struct json_object *jv, *jc;
    if (!json_object_object_get_ex(req, "vcpu", &jv) || !json_object_object_get_ex(req, "cpus", &jc) ||
        !json_object_is_type(jc, json_type_string)) {
        snprintf(err, errlen, "vcpu-pin needs \"vcpu\" (a number or \"all\") and \"cpus\"");
        return -1;
    }
    cpu_set_t set, usable;
    if (cpulist_parse(json_object_get_string(jc), p->host_cpus, &set, err, errlen) < 0)
        return -1;
    CPU_AND(&usable, &set, &p->allowed);
    if (!CPU_EQUAL(&usable, &set)) {
        char have[256];
        cpulist_format(&p->allowed, p->host_cpus, have, sizeof(have));
        snprintf(err, errlen, "'%s' includes CPUs this VM process may not use (it may use %s)",
                 json_object_get_string(jc), have);
        return -1;
    }
    unsigned lo = 0, hi = p->cfg->vcpus - 1;
    if (json_object_is_type(jv, json_type_int)) {
        int64_t v = json_object_get_int64(jv);
        if (v < 0 || v >= p->cfg->vcpus) {
            snprintf(err, errlen, "no vCPU %lld: the VM has vCPUs 0-%u", (long long)v, p->cfg->vcpus - 1);
            return -1;
        }
        lo = hi = (unsigned)v;
    } else if (!json_object_is_type(jv, json_type_string) || strcmp(json_object_get_string(jv), "all")) {
        snprintf(err, errlen, "vcpu must be a number or \"all\"");
        return -1;
    }
    if (!p->vm || p->state != VMP_RUNNING) {
        snprintf(err, errlen, "the VM is not running (%s)", state_name(p));
        return -1;
    }
    for (unsigned i = lo; i <= hi; i++) {
        if (vm_vcpu_pin(p->vm, i, &set) < 0) {
            snprintf(err, errlen, "pinning vCPU %u: %s", i, strerror(errno));
            return -1;
        }
        p->affinity[i] = set;   /* kept across an in-place restart */
    }
    p->managed.vcpu_affinity = p->affinity;
    return 0;
}

static int running_or_err(struct vmp *p, char *err, size_t errlen)
{
    if (p->vm && p->state == VMP_RUNNING && !atomic_load(&p->vm->stopping))
        return 0;
    snprintf(err, errlen, "the VM is not running (%s)",
             p->vm && p->state == VMP_RUNNING ? "stopping" : state_name(p));
    return -1;
}

static int command(void *opaque, const char *cmd, struct json_object *req, struct json_object *r, char *err,
                   size_t errlen)
{
    struct vmp *p = opaque;
    if (!strcmp(cmd, "info")) {
        fill_info(p, r);
    } else if (!strcmp(cmd, "shutdown") || !strcmp(cmd, "reboot")) {
        if (running_or_err(p, err, errlen) < 0)
            return -1;
        if (vm_is_paused(p->vm)) {
            snprintf(err, errlen, "the VM is paused: a paused guest cannot see the power button (unpause it)");
            return -1;
        }
        /* A guest has no ACPI "reboot button": reboot presses the power
         * button and starts the VM again once it is off (libvirt's
         * --mode acpi reboot does the same). */
        p->reboot_req = !strcmp(cmd, "reboot");   /* the latest request decides */
        vm_power_button(p->vm);
    } else if (!strcmp(cmd, "destroy")) {
        p->destroy_req = true;
        if (p->vm && p->state == VMP_RUNNING)
            vm_request_stop(p->vm, VM_STATUS_POWEROFF, "destroyed (vireo destroy)");
    } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "unpause")) {
        if (running_or_err(p, err, errlen) < 0)
            return -1;
        if (!strcmp(cmd, "pause"))
            vm_pause(p->vm);
        else
            vm_unpause(p->vm);
    } else if (!strcmp(cmd, "vcpu-list")) {
        return vcpu_list(p, r, err, errlen);
    } else if (!strcmp(cmd, "vcpu-pin")) {
        return vcpu_pin(p, req, err, errlen);
    } else if (!strcmp(cmd, "block-list")) {
        struct json_object *disks = json_object_new_array();
        for (unsigned i = 0; i < p->cfg->ndisks; i++)
            json_object_array_add(disks, disk_json(p, i));
        json_object_object_add(r, "disks", disks);
    } else if (!strcmp(cmd, "network-list")) {
        struct json_object *vifs = json_object_new_array();
        for (unsigned i = 0; p->vm && i < p->vm->nnics; i++) {
            const struct vm_nic *nic = &p->vm->nics[i];
            struct json_object *o = json_object_new_object();
            char mac[18];
            mac_format(nic->mac, mac);
            add_str(o, "bridge", p->params.nets[i].bridge);
            add_str(o, "mac", mac);
            add_str(o, "vifname", nic->tap.ifname);
            json_object_array_add(vifs, o);
        }
        json_object_object_add(r, "vifs", vifs);
    } else {
        snprintf(err, errlen, "unknown command '%s'", cmd);
        return -1;
    }
    return 0;
}

static int open_serial(struct vmp *p, char *err, size_t errlen)
{
    p->serial_rd = -1;
    if (p->cfg->serial == VM_SERIAL_FILE) {
        p->managed.serial_fd = open(p->cfg->serial_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (p->managed.serial_fd < 0) {
            snprintf(err, errlen, "serial file %s: %s", p->cfg->serial_path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (p->cfg->serial == VM_SERIAL_NULL) {
        p->managed.serial_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (p->managed.serial_fd < 0) {
            snprintf(err, errlen, "/dev/null: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    int fds[2];
    /* Non-blocking write end: a stalled main thread drops console output
     * rather than holding a vCPU. */
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "console pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
    p->serial_rd = fds[0];
    p->managed.serial_fd = fds[1];
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
    if (CPU_COUNT(out))
        return 0;
    char have[256];
    cpulist_format(&p->allowed, p->host_cpus, have, sizeof(have));
    snprintf(err, errlen, "%s: %s %u would run on no CPU this host lets it use (CPUs %s)", key, what, i, have);
    return -1;
}

static int build_params(struct vmp *p, char *err, size_t errlen)
{
    const struct vm_config *c = p->cfg;
    struct vm_params *v = &p->params;
    memset(v, 0, sizeof(*v));
    v->ram_size = c->memory_mib * MiB;
    v->ncpus = c->vcpus;
    v->kernel_path = c->kernel;
    v->initrd_path = c->ramdisk;
    v->cmdline = c->cmdline;
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
    }
    for (unsigned i = 0; i < c->ndisks; i++) {
        vblk_opts_defaults(&v->disks[i], c->disks[i].target);
        v->disks[i].ro = c->disks[i].readonly;
        v->disks[i].queues = c->vcpus < VBLK_MAX_QUEUES ? c->vcpus : VBLK_MAX_QUEUES;
    }
    /* Unpinned vCPUs stay unpinned after a vcpu-pin of others and a restart. */
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++)
        p->affinity[i] = p->allowed;
    if (c->pinned) {
        for (unsigned i = 0; i < c->vcpus; i++)
            if (host_cpus(p, &c->cpus[i], &p->affinity[i], "cpus", "vCPU", i, err, errlen) < 0)
                return -1;
        p->managed.vcpu_affinity = p->affinity;
    }
    for (unsigned i = 0; c->iothreads_pinned && i < c->ndisks; i++) {
        v->disks[i].pin_iothreads = true;
        if (host_cpus(p, &c->iothread_cpus[i], &v->disks[i].iothread_cpus, "iothread_cpus", "disk", i, err,
                      errlen) < 0)
            return -1;
    }
    p->managed.outer = &p->outer;
    p->managed.start_paused = p->a->paused;
    v->managed = &p->managed;
    return 0;
}

static void to_log(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        close(fd);
    }
}

static void on_signal(void *opaque, uint32_t events)
{
    (void)events;
    struct vmp *p = opaque;
    struct signalfd_siginfo si;
    if (read(p->sfd, &si, sizeof(si)) == sizeof(si))
        p->destroy_req = true;
}

/* A preserved VM (on_poweroff/on_crash=preserve) waits, still listed,
 * until `vireo destroy` or a termination signal. */
static void preserve(struct vmp *p)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    p->sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (p->sfd >= 0 && event_loop_add(&p->outer, &p->w_sig, p->sfd, EPOLLIN, on_signal, p) < 0) {
        close(p->sfd);
        p->sfd = -1;
    }
    vlog_info("preserved (%s): `vireo destroy %s` removes it", p->last_stop, p->cfg->name);
    while (!p->destroy_req)
        if (event_loop_run_once(&p->outer, -1) < 0 && errno != EINTR)
            break;
    if (p->sfd >= 0) {
        event_loop_del(&p->outer, &p->w_sig);
        close(p->sfd);
    }
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
    if (a == VM_ACTION_RESTART && atomic_load(&p->vm->host_stopping)) {
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
    struct json_object *ev = json_object_new_object();
    add_str(ev, "reason", p->last_stop);
    json_object_object_add(ev, "status", json_object_new_int(status));
    add_str(ev, "then", vm_action_name(then));
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
        if (ready >= 0) {
            (void)!write(ready, "ok\n", 3);
            close(ready);
            ready = -1;
            to_log(p->a->log_path);
            p->started_once = true;
            vlog_info("VM '%s' (id %u) started", p->cfg->name, p->a->claim.domid);
        }
        p->managed.start_paused = false;   /* only the first start of `create -p` */
        int status = vm_run(p->vm);
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

int vm_process_main(const struct vm_process_args *a)
{
    static struct vmp p;
    memset(&p, 0, sizeof(p));
    p.a = a;
    p.cfg = a->cfg;
    p.sfd = -1;
    p.serial_rd = -1;
    p.ctl.listen_fd = p.ctl.timer_fd = -1;
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
    struct ctl_handlers h = {.opaque = &p, .command = command, .console_input = console_input,
                             .console_unavailable = console_unavailable};
    if (build_params(&p, err, sizeof(err)) < 0 || open_serial(&p, err, sizeof(err)) < 0 ||
        rundir_path(path, sizeof(path), p.cfg->name, "control") < 0 ||
        ctl_server_open(&p.ctl, path, &p.outer, &h, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        goto out;
    }
    rc = serve(&p);
out:
    /* The directory goes before the connections close: whoever waits for
     * EOF (shutdown -w, destroy) then finds the name free. */
    rundir_release(p.cfg->name);
    ctl_server_close(&p.ctl, false);
    if (p.serial_rd >= 0) {
        event_loop_del(&p.outer, &p.w_serial);
        close(p.serial_rd);
    }
    if (p.managed.serial_fd > 0)
        close(p.managed.serial_fd);
    event_loop_destroy(&p.outer);
    if (p.started_once)
        vlog_info("VM '%s' ended", p.cfg->name);
    return rc;
}

#include "toolstack/vm_commands.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "net/mac.h"
#include "toolstack/vm_config_json.h"
#include "toolstack/vm_config_write.h"
#include "toolstack/vm_mem_commands.h"
#include "toolstack/vm_process_impl.h"
#include "toolstack/vm_stats_json.h"
#include "util/cpulist.h"
#include "util/mclock.h"

const char *vmp_state_name(const struct vmp *p)
{
    if (p->state == VMP_SHUTDOWN)
        return "shutdown";
    if (p->state == VMP_CRASHED)
        return "crashed";
    return p->vm && vm_is_paused(p->vm) ? "paused" : "running";
}

int vmp_running_or_err(void *vmp, char *err, size_t errlen)
{
    struct vmp *p = vmp;
    if (p->vm && p->state == VMP_RUNNING && !atomic_load(&p->vm->stopping))
        return 0;
    snprintf(err, errlen, "the VM is not running (%s)",
             p->vm && p->state == VMP_RUNNING ? "stopping" : vmp_state_name(p));
    return -1;
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

int vmp_cmd_info(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    struct vmp *p = vmp;
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
    add_str(r, "state", vmp_state_name(p));
    add_str(r, "flags", flags);
    json_object_object_add(r, "cpu_time", json_object_new_double(cpu_time(p)));
    json_object_object_add(r, "uptime", json_object_new_double((double)(now.tv_sec - p->started.tv_sec) +
                                                                (double)(now.tv_nsec - p->started.tv_nsec) / 1e9));
    json_object_object_add(r, "restarts", json_object_new_int((int)p->restarts));
    add_str(r, "last_stop", p->last_stop[0] ? p->last_stop : NULL);
    json_object_object_add(r, "balloon", vmp_balloon_json(p));   /* null: none */
    json_object_object_add(r, "config", vm_config_json(c));
    return 0;
}

/* A guest has no ACPI "reboot button": reboot presses the power button and
 * starts the VM again once it is off (libvirt's --mode acpi reboot does
 * the same).  The latest request decides which. */
static int power_button(struct vmp *p, bool reboot, char *err, size_t errlen)
{
    if (vm_is_paused(p->vm)) {
        snprintf(err, errlen, "the VM is paused: a paused guest cannot see the power button (unpause it)");
        return -1;
    }
    p->reboot_req = reboot;
    vm_power_button(p->vm);
    return 0;
}

int vmp_cmd_shutdown(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r;
    return power_button(vmp, false, err, errlen);
}

int vmp_cmd_reboot(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r;
    return power_button(vmp, true, err, errlen);
}

int vmp_cmd_destroy(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r, (void)err, (void)errlen;
    struct vmp *p = vmp;
    p->destroy_req = true;
    if (p->vm && p->state == VMP_RUNNING)
        vm_request_stop(p->vm, VM_STATUS_POWEROFF, "destroyed (vireo destroy)");
    return 0;
}

int vmp_cmd_pause(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r, (void)err, (void)errlen;
    vm_pause(((struct vmp *)vmp)->vm);
    return 0;
}

int vmp_cmd_unpause(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r;
    struct vmp *p = vmp;
    if (p->freeze.active) {
        snprintf(err, errlen, "the VM is frozen for a point-in-time image (vireo clone or backup); it resumes "
                              "when that is taken");
        return -1;
    }
    vm_unpause(p->vm);
    return 0;
}

int vmp_cmd_vcpu_list(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    struct vmp *p = vmp;
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
    return 0;
}

int vmp_cmd_vcpu_pin(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)r;
    struct vmp *p = vmp;
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
    for (unsigned i = lo; i <= hi; i++) {
        if (vm_vcpu_pin(p->vm, i, &set) < 0) {
            snprintf(err, errlen, "pinning vCPU %u: %s", i, strerror(errno));
            return -1;
        }
        p->affinity[i] = set;   /* kept across an in-place restart */
    }
    p->params.vcpu_affinity = p->affinity;
    return 0;
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
    add_str(o, "format", bdev_format_name(d->format));
    json_object_object_add(o, "discard", json_object_new_boolean(d->discard));
    const struct disk_opts *b = &p->params.disks[i];
    char cpus[256] = "all";
    if (b->pin_iothreads)
        cpulist_format(&b->iothread_cpus, p->host_cpus, cpus, sizeof(cpus));
    add_str(o, "iothread_cpus", cpus);
    return o;
}

/* What block-list says of each disk; with stats (what_stats: 0 none, 1
 * totals, 2 per queue too) while the VM has its devices. */
static struct json_object *disks_json(const struct vmp *p, int what_stats)
{
    struct json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < p->cfg->ndisks; i++) {
        struct json_object *o = disk_json(p, i);
        if (what_stats && p->vm && i < p->vm->ndisks && p->vm->disks[i].open)
            stats_disk_add(o, p->vm, i, what_stats > 1);
        json_object_array_add(disks, o);
    }
    return disks;
}

static struct json_object *vifs_json(const struct vmp *p, int what_stats)
{
    struct json_object *vifs = json_object_new_array();
    for (unsigned i = 0; p->vm && i < p->vm->nnics; i++) {
        const struct vm_nic *nic = &p->vm->nics[i];
        struct json_object *o = json_object_new_object();
        char mac[18];
        mac_format(nic->mac, mac);
        add_str(o, "bridge", p->params.nets[i].bridge);
        add_str(o, "mac", mac);
        add_str(o, "vifname", nic->tap->ifname);
        if (what_stats && nic->net)
            stats_vif_add(o, p->vm, i, what_stats > 1);
        json_object_array_add(vifs, o);
    }
    return vifs;
}

int vmp_cmd_block_list(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    json_object_object_add(r, "disks", disks_json(vmp, 0));
    return 0;
}

int vmp_cmd_network_list(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    json_object_object_add(r, "vifs", vifs_json(vmp, 0));
    return 0;
}

int vmp_cmd_block_stats(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    json_object_object_add(r, "disks", disks_json(vmp, 2));
    return 0;
}

int vmp_cmd_net_stats(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    json_object_object_add(r, "vifs", vifs_json(vmp, 2));
    return 0;
}

int vmp_cmd_stats(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    struct vmp *p = vmp;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    add_str(r, "name", p->cfg->name);
    json_object_object_add(r, "id", json_object_new_int64(p->a->claim.domid));
    json_object_object_add(r, "pid", json_object_new_int(getpid()));
    add_str(r, "state", vmp_state_name(p));
    /* Read first: the counters below are as of about this moment. */
    json_object_object_add(r, "time_ns", json_object_new_uint64((uint64_t)now.tv_sec * 1000000000u +
                                                                (uint64_t)now.tv_nsec));
    json_object_object_add(r, "uptime", json_object_new_double((double)(now.tv_sec - p->started.tv_sec) +
                                                                (double)(now.tv_nsec - p->started.tv_nsec) / 1e9));
    json_object_object_add(r, "restarts", json_object_new_int((int)p->restarts));
    json_object_object_add(r, "cpu_time", json_object_new_double(cpu_time(p)));
    add_str(r, "clock", mclock_source());
    uint64_t configured = p->cfg->memory_mib << 20;
    json_object_object_add(r, "memory", stats_memory_json(p->vm, configured));
    json_object_object_add(r, "balloon", vmp_balloon_json(p));
    json_object_object_add(r, "vcpus", p->vm ? stats_vcpus_json(p->vm) : json_object_new_array());
    json_object_object_add(r, "disks", disks_json(p, 1));
    json_object_object_add(r, "vifs", vifs_json(p, 1));
    return 0;
}

struct json_object *vmp_stop_event(const struct vmp *p, int status, enum vm_action then)
{
    struct json_object *ev = json_object_new_object();
    add_str(ev, "reason", p->last_stop);
    json_object_object_add(ev, "status", json_object_new_int(status));
    add_str(ev, "then", vm_action_name(then));
    return ev;
}

int vmp_cmd_console(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req, (void)r;
    struct vmp *p = vmp;
    if (p->cfg->serial == VM_SERIAL_FILE) {
        snprintf(err, errlen, "the console goes to a file (serial=\"file:...\" in the config)");
        return -1;
    }
    if (p->cfg->serial == VM_SERIAL_NULL) {
        snprintf(err, errlen, "the VM has no console (serial=\"null\" in the config)");
        return -1;
    }
    return 0;
}

int vmp_cmd_config(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req;
    struct vmp *p = vmp;
    char *text = vm_config_write(p->cfg, NULL, err, errlen);
    if (!text)
        return -1;
    json_object_object_add(r, "xlcfg", json_object_new_string(text));
    free(text);
    /* Taken at the start: the confined process has neither a cwd nor
     * paths (and may not ask for them). */
    add_str(r, "cwd", p->cwd[0] ? p->cwd : "/");
    if (p->cfg_file[0])
        add_str(r, "file", p->cfg_file);
    return 0;
}

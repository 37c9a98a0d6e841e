/* freeze and thaw: the instant of a point-in-time image of a running VM's
 * disks (vireo clone, vireo backup).  freeze parks the vCPUs, so the guest
 * issues nothing more, and flushes every writable disk through the block
 * layer (bdev_sync: data and, for qcow2, its metadata reach stable
 * storage), so every write the guest saw complete is in the image files;
 * the caller then takes its snapshots (reflinks, LVM snapshots) and sends
 * thaw.  The image is crash-consistent: what a power cut at that instant
 * would have left, with every completed write in it.
 *
 * A freeze belongs to the connection that asked for it.  It is lifted, and
 * the guest resumes, when that connection ends (the command died), after
 * max_seconds, or when the VM stops; thaw then fails with the reason, so
 * the command discards what it made. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "toolstack/vm_commands.h"
#include "toolstack/vm_process_impl.h"
#include "util/log.h"
#include "vm/vm_disks.h"

#define FREEZE_DEFAULT_S 60
#define FREEZE_MAX_S     86400

void vmp_freeze_init(struct vmp *p)
{
    memset(&p->freeze, 0, sizeof(p->freeze));
    p->freeze.timer_fd = -1;
}

void vmp_freeze_fini(struct vmp *p)
{
    if (p->freeze.timer_fd >= 0) {
        event_loop_del(&p->outer, &p->freeze.w_timer);
        close(p->freeze.timer_fd);
    }
    p->freeze.timer_fd = -1;
}

static uint64_t ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
}

static void disarm(struct vmp *p)
{
    struct itimerspec off = {0};
    if (p->freeze.timer_fd >= 0)
        timerfd_settime(p->freeze.timer_fd, 0, &off, NULL);
}

void vmp_freeze_lift(struct vmp *p, const char *why)
{
    struct vmp_freeze *f = &p->freeze;
    if (!f->active)
        return;
    f->active = false;
    disarm(p);
    f->lifted_conn = f->conn;
    snprintf(f->lifted_why, sizeof(f->lifted_why), "%s", why);
    if (p->vm && !f->paused_before)
        vm_unpause(p->vm);
    vlog_info("freeze lifted after %llu ms: %s", (unsigned long long)ms_since(&f->since), why);
}

void vmp_freeze_conn_closed(void *vmp, uint64_t conn)
{
    struct vmp *p = vmp;
    if (p->freeze.active && p->freeze.conn == conn)
        vmp_freeze_lift(p, "the command that froze the VM went away");
}

static void on_timer(void *opaque, uint32_t events)
{
    (void)events;
    struct vmp *p = opaque;
    uint64_t v;
    (void)!read(p->freeze.timer_fd, &v, sizeof(v));
    char why[96];
    snprintf(why, sizeof(why), "the freeze lasted longer than its %u s", p->freeze.max_seconds);
    vmp_freeze_lift(p, why);
}

static int arm(struct vmp *p, unsigned seconds, char *err, size_t errlen)
{
    struct vmp_freeze *f = &p->freeze;
    if (f->timer_fd < 0) {
        f->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (f->timer_fd < 0 || event_loop_add(&p->outer, &f->w_timer, f->timer_fd, EPOLLIN, on_timer, p) < 0) {
            snprintf(err, errlen, "freeze timer: %s", strerror(errno));
            if (f->timer_fd >= 0)
                close(f->timer_fd);
            f->timer_fd = -1;
            return -1;
        }
    }
    struct itimerspec t = {.it_value = {.tv_sec = seconds}};
    if (timerfd_settime(f->timer_fd, 0, &t, NULL) < 0) {
        snprintf(err, errlen, "freeze timer: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* A disk's image path as the VM process saw it at its start (the
 * confined process has no cwd of its own), made absolute. */
static void abs_path(const struct vmp *p, const char *target, char *out, size_t len)
{
    if (target[0] == '/' || !p->cwd[0])
        snprintf(out, len, "%s", target);
    else
        snprintf(out, len, "%s/%s", p->cwd, target);
}

static struct json_object *disks_json(const struct vmp *p)
{
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < p->vm->ndisks && i < p->cfg->ndisks; i++) {
        const struct vm_disk *d = &p->cfg->disks[i];
        const struct bdev *bs = p->vm->disks[i].disk.bs;
        char path[PATH_MAX + 1];
        abs_path(p, d->target, path, sizeof(path));
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "vdev", json_object_new_string(d->vdev));
        json_object_object_add(o, "target", json_object_new_string(d->target));
        json_object_object_add(o, "path", json_object_new_string(path));
        json_object_object_add(o, "format", json_object_new_string(bdev_format_name(bs->format)));
        json_object_object_add(o, "access", json_object_new_string(bs->ro ? "r" : "rw"));
        json_object_array_add(arr, o);
    }
    return arr;
}

int vmp_cmd_freeze(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    struct vmp *p = vmp;
    struct vmp_freeze *f = &p->freeze;
    if (f->active) {
        snprintf(err, errlen, "the VM is already frozen by another command (vireo clone or vireo backup)");
        return -1;
    }
    unsigned max = FREEZE_DEFAULT_S;
    struct json_object *jm;
    if (req && json_object_object_get_ex(req, "max_seconds", &jm)) {
        int64_t v = json_object_get_int64(jm);
        if (!json_object_is_type(jm, json_type_int) || v < 1 || v > FREEZE_MAX_S) {
            snprintf(err, errlen, "max_seconds must be a number from 1 to %d", FREEZE_MAX_S);
            return -1;
        }
        max = (unsigned)v;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool paused_before = vm_is_paused(p->vm);
    vm_pause(p->vm);
    if (vm_disks_flush(p->vm, err, errlen) < 0 || arm(p, max, err, errlen) < 0) {
        if (!paused_before)
            vm_unpause(p->vm);
        return -1;
    }
    *f = (struct vmp_freeze){.active = true, .conn = ctl_server_current_conn(&p->ctl), .paused_before = paused_before,
                             .since = t0, .max_seconds = max, .timer_fd = f->timer_fd, .w_timer = f->w_timer};
    json_object_object_add(r, "disks", disks_json(p));
    json_object_object_add(r, "paused_before", json_object_new_boolean(paused_before));
    vlog_info("frozen for a point-in-time image (disks flushed in %llu ms)", (unsigned long long)ms_since(&t0));
    return 0;
}

int vmp_cmd_thaw(void *vmp, struct json_object *req, struct json_object *r, char *err, size_t errlen)
{
    (void)req;
    struct vmp *p = vmp;
    struct vmp_freeze *f = &p->freeze;
    uint64_t conn = ctl_server_current_conn(&p->ctl);
    if (!f->active) {
        if (conn && f->lifted_conn == conn) {
            snprintf(err, errlen, "the freeze was lifted before thaw: %s; the guest ran on, so what was taken "
                                  "may not be of one instant", f->lifted_why);
            f->lifted_conn = 0;
        } else {
            snprintf(err, errlen, "the VM is not frozen");
        }
        return -1;
    }
    if (f->conn != conn) {
        snprintf(err, errlen, "the VM was frozen by another command; only it may thaw it");
        return -1;
    }
    uint64_t ms = ms_since(&f->since);
    f->active = false;
    disarm(p);
    bool resumed = p->vm && !vm_is_paused(p->vm);
    if (p->vm && !f->paused_before)
        vm_unpause(p->vm);
    if (resumed && !f->paused_before) {
        snprintf(err, errlen, "the VM was resumed while frozen (vireo unpause?); what was taken may not be of one "
                              "instant");
        return -1;
    }
    json_object_object_add(r, "frozen_ms", json_object_new_int64((int64_t)ms));
    vlog_info("thawed after %llu ms", (unsigned long long)ms);
    return 0;
}

/* `vireo clone NAME-or-CFG NEWNAME [-o DIR]`: a second VM with copies of
 * the first's writable disks (image/img_clone.h says how each is made;
 * read-only disks are shared) and a config file, NEWNAME.cfg, naming them,
 * with the new name and so new MACs.
 *
 * A VM that is off: a qcow2 disk is switched onto a new base
 * (img_overlay_switch: the image becomes the base, the VM keeps its path
 * as an overlay on it) and the clone is another overlay on that base;
 * other disks are cloned as they are.  A running VM is frozen (paused, its
 * disks flushed) while its disks are reflinked or snapshotted, then
 * resumes: the clone is what a power cut at that instant would have left,
 * with every write the guest saw complete.  A running VM cannot go on
 * writing a disk that became a base, so its qcow2 disks are reflinked
 * like raw files. */
#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/bfile.h"
#include "cli/vm_source.h"
#include "image/img_clone.h"
#include "image/img_overlay.h"
#include "image/lvm.h"
#include "net/mac.h"
#include "toolstack/vm_config_write.h"
#include "util/file.h"
#include "util/log.h"
#include "util/size.h"

struct clone_disk {
    bool shared;
    char dst[PATH_MAX];              /* a file, or VG/NAME */
    char base[PATH_MAX];             /* the new base of a switched qcow2 disk */
    bool done;
    struct img_clone_result res;
};

static double ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) * 1e3 + (double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

/* Where disk i's copy goes: beside it (a reflink or an LVM snapshot cannot
 * leave its file system or volume group), named after the new VM. */
static int plan_disk(const struct vm_source *s, unsigned i, const char *newname, struct clone_disk *d)
{
    const char *src = s->path[i];
    struct stat st;
    if (stat(src, &st) < 0) {
        vlog_err("clone: disk %s: %s: %s", s->cfg.disks[i].vdev, src, strerror(errno));
        return -1;
    }
    char tmp[PATH_MAX], name[PATH_MAX];
    if (S_ISBLK(st.st_mode)) {
        struct lvm_lv lv, *all = NULL;
        size_t nall = 0;
        char err[1024];
        int r = lvm_lookup(src, &lv, &all, &nall, err, sizeof(err));
        if (r <= 0) {
            vlog_err("clone: disk %s: %s%s", s->cfg.disks[i].vdev, err,
                     r == 0 ? "; vireo clones block devices only as LVM snapshots" : "");
            return -1;
        }
        vm_source_rename(lv.name, s->name, newname, name, sizeof(name));
        bool exists = lvm_report_find(all, nall, lv.vg, name) != NULL;
        free(all);
        if (exists) {
            vlog_err("clone: disk %s: %s/%s exists; nothing was changed", s->cfg.disks[i].vdev, lv.vg, name);
            return -1;
        }
        if (snprintf(d->dst, sizeof(d->dst), "%s/%s", lv.vg, name) >= (int)sizeof(d->dst)) {
            vlog_err("clone: disk %s: name too long", s->cfg.disks[i].vdev);
            return -1;
        }
        return 0;
    }
    snprintf(tmp, sizeof(tmp), "%s", src);
    vm_source_rename(basename(tmp), s->name, newname, name, sizeof(name));
    snprintf(tmp, sizeof(tmp), "%s", src);
    if (snprintf(d->dst, sizeof(d->dst), "%s/%s", dirname(tmp), name) >= (int)sizeof(d->dst)) {
        vlog_err("clone: disk %s: path too long", s->cfg.disks[i].vdev);
        return -1;
    }
    if (lstat(d->dst, &st) == 0) {
        vlog_err("clone: disk %s: %s exists; nothing was changed", s->cfg.disks[i].vdev, d->dst);
        return -1;
    }
    return 0;
}

/* A VM that is off must stay off meanwhile: its disks must not be open for
 * writing (by this VM under another name, or anything else). */
static int check_unused(const struct vm_source *s, unsigned i)
{
    int fd = open(s->path[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;   /* reported by the clone itself */
    int l = bfile_lock_probe(fd);
    close(fd);
    if (l == F_WRLCK) {
        vlog_err("clone: disk %s (%s) is written by a running VM (not '%s', which is not running); nothing was "
                 "changed", s->cfg.disks[i].vdev, s->path[i], s->name);
        return -1;
    }
    return 0;
}

static int clone_offline(const struct vm_source *s, unsigned i, struct clone_disk *d, const struct img_clone_opts *o)
{
    char err[2048];
    if (s->fmt[i] == IMG_FORMAT_QCOW2) {
        struct stat st;
        if (stat(s->path[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (img_overlay_switch(s->path[i], d->base, sizeof(d->base), err, sizeof(err)) < 0 ||
                img_overlay_create(d->base, IMG_FORMAT_QCOW2, d->dst, err, sizeof(err)) < 0) {
                vlog_err("clone: disk %s: %s", s->cfg.disks[i].vdev, err);
                return -1;
            }
            d->res.method = IMG_CLONE_OVERLAY;
            d->res.fmt = IMG_FORMAT_QCOW2;
            snprintf(d->res.path, sizeof(d->res.path), "%s", d->dst);
            return 0;
        }
    }
    if (img_clone(s->path[i], d->dst, o, &d->res, err, sizeof(err)) < 0) {
        vlog_err("clone: disk %s: %s", s->cfg.disks[i].vdev, err);
        return -1;
    }
    return 0;
}

static int write_config(const struct vm_source *s, const struct clone_disk *d, const char *newname, const char *path)
{
    struct vm_config_edit e = {.name = newname, .new_identity = true};
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        e.disk_target[i] = d[i].shared ? s->path[i] : d[i].res.path;
        e.disk_format[i] = img_format_name(d[i].shared ? s->fmt[i] : d[i].res.fmt);
    }
    char err[1024];
    char *text = vm_config_write(&s->cfg, &e, err, sizeof(err));
    if (!text) {
        vlog_err("clone: %s", err);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int rc = -1;
    if (fd < 0) {
        vlog_err("clone: %s: %s", path, strerror(errno));
    } else if (write_full(fd, "# made by vireo clone of '", 26) < 0 || write_full(fd, s->name, strlen(s->name)) < 0 ||
               write_full(fd, "'\n", 2) < 0 || write_full(fd, text, strlen(text)) < 0 || fsync(fd) < 0 ||
               fsync_parent_dir(path) < 0) {
        vlog_err("clone: %s: %s", path, strerror(errno));
        unlink(path);
    } else {
        rc = 0;
    }
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

int cmd_clone(const struct cli_cmd *self, int argc, char *const argv[])
{
    const char *outdir = NULL, *cow_s = NULL;
    bool paused_copy = false;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"paused-copy", no_argument, NULL, 'P'},
                                             {"snapshot-size", required_argument, NULL, 'L'},
                                             {0, 0, 0, 0}};
    int opt;
    static const char optstring[] = "+o:h";
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (opt) {
        case 'o': outdir = optarg; break;
        case 'P': paused_copy = true; break;
        case 'L': cow_s = optarg; break;
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(self->name, "expected NAME-or-CFG and NEWNAME");
    const char *newname = argv[optind + 1];
    struct img_clone_opts o = {.progress = true, .copy_ok = paused_copy};
    if (cow_s && (!parse_size(cow_s, &o.cow_size) || !o.cow_size))
        return cli_usage_error(self->name, "--snapshot-size needs a size (e.g. 2G)");
    size_t nl = strlen(newname);
    if (!nl || nl > VM_NAME_MAX || newname[0] == '.' || newname[0] == '-' ||
        strspn(newname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != nl) {
        vlog_err("clone: '%s' is not a VM name (letters, digits, '_', '.', '-'; not starting with '.' or '-')",
                 newname);
        return 2;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static struct vm_source s;
    if (vm_source_load(argv[optind], &s) < 0)
        return 1;
    int rc = 1;
    static struct clone_disk d[VM_MAX_DISKS];
    memset(d, 0, sizeof(d));
    char cfgpath[PATH_MAX];
    struct stat st;
    if (!strcmp(newname, s.name)) {
        vlog_err("clone: the clone needs a name of its own (the VM is '%s')", s.name);
        goto out;
    }
    if (snprintf(cfgpath, sizeof(cfgpath), "%s/%s.cfg", outdir ? outdir : s.cfg_dir, newname) >= (int)sizeof(cfgpath)) {
        vlog_err("clone: -o %s: path too long", outdir);
        goto out;
    }
    if (lstat(cfgpath, &st) == 0) {
        vlog_err("clone: %s exists; nothing was changed", cfgpath);
        goto out;
    }
    for (unsigned i = 0; i < s.cfg.ndisks; i++) {
        d[i].shared = s.cfg.disks[i].readonly;
        if (!d[i].shared && (plan_disk(&s, i, newname, &d[i]) < 0 || (!s.running && check_unused(&s, i) < 0)))
            goto out;
    }
    uint64_t frozen_ms = 0;
    bool failed = false;
    if (s.running) {
        o.frozen = true;
        if (vm_source_freeze(&s, paused_copy ? 86400 : 60) < 0)
            goto out;
        for (unsigned i = 0; i < s.cfg.ndisks && !failed; i++) {
            char err[2048];
            if (d[i].shared)
                continue;
            o.fmt = s.fmt[i];
            if (img_clone(s.path[i], d[i].dst, &o, &d[i].res, err, sizeof(err)) < 0) {
                vlog_err("clone: disk %s: %s%s", s.cfg.disks[i].vdev, err,
                         strstr(err, "no reflinks") ? "; --paused-copy accepts that" : "");
                failed = true;
            } else {
                d[i].done = true;
            }
        }
        if (vm_source_thaw(&s, &frozen_ms) < 0)
            failed = true;
    } else {
        for (unsigned i = 0; i < s.cfg.ndisks && !failed; i++) {
            if (d[i].shared)
                continue;
            o.fmt = s.fmt[i];
            if (clone_offline(&s, i, &d[i], &o) < 0)
                failed = true;
            else
                d[i].done = true;
        }
    }
    if (!failed && write_config(&s, d, newname, cfgpath) < 0)
        failed = true;
    if (failed) {
        for (unsigned i = 0; i < s.cfg.ndisks; i++) {
            char err[1024];
            if (d[i].done && img_clone_undo(&d[i].res, err, sizeof(err)) < 0)
                vlog_err("clone: could not remove %s: %s", d[i].res.path, err);
            if (d[i].base[0])
                vlog_err("clone: %s stays an overlay on %s (same content; the base must not be written)", s.path[i],
                         d[i].base);
        }
        goto out;
    }
    if (s.running)
        printf("cloned VM '%s' (running; frozen for %llu ms) -> '%s':\n", s.name, (unsigned long long)frozen_ms,
               newname);
    else
        printf("cloned VM '%s' -> '%s':\n", s.name, newname);
    for (unsigned i = 0; i < s.cfg.ndisks; i++) {
        const char *vdev = s.cfg.disks[i].vdev;
        if (d[i].shared) {
            printf("  disk %s: %s, shared (read-only)\n", vdev, s.path[i]);
            continue;
        }
        char extra[2 * PATH_MAX + 64] = "";
        if (d[i].base[0])
            snprintf(extra, sizeof(extra), "; %s is now an overlay on %s too", s.path[i], d[i].base);
        else if (d[i].res.method == IMG_CLONE_COPY) {
            char h[32];
            size_human(d[i].res.bytes_copied, h, sizeof(h));
            snprintf(extra, sizeof(extra), ", %s of data", h);
        }
        printf("  disk %s: %s -> %s (%s, %s%s)\n", vdev, s.path[i], d[i].res.path, img_clone_method_name(d[i].res.method),
               img_format_name(d[i].res.fmt), extra);
    }
    for (unsigned i = 0; i < s.cfg.nvifs; i++) {
        uint8_t mac[6];
        char m[18];
        mac_derive(newname, i, mac);
        mac_format(mac, m);
        printf("  vif %u: mac %s (derived from the name '%s')\n", i, m, newname);
    }
    printf("wrote %s in %.0f ms\n", cfgpath, ms_since(&t0));
    rc = 0;
out:
    vm_source_free(&s);
    return rc;
}

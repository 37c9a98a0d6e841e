#include "image/img_clone.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/bfile.h"
#include "image/img_overlay.h"
#include "image/reflink.h"
#include "image/sparse_copy.h"
#include "util/err.h"
#include "util/progress.h"
#include "util/size.h"

const char *img_clone_method_name(enum img_clone_method m)
{
    switch (m) {
    case IMG_CLONE_OVERLAY: return "qcow2 overlay";
    case IMG_CLONE_REFLINK: return "reflink";
    case IMG_CLONE_COPY: return "sparse copy";
    case IMG_CLONE_LVM_THIN: return "LVM thin snapshot";
    case IMG_CLONE_LVM_COW: return "LVM snapshot";
    }
    return "?";
}

static int clone_lv(const char *src, const struct lvm_lv *lv, struct lvm_lv *all, size_t nall, const char *dst,
                    const struct img_clone_opts *o, struct img_clone_result *res, char *err, size_t errlen)
{
    char name[LVM_NAME_MAX + 1];
    if (lvm_dst_name(lv, dst, name, sizeof(name), err, errlen) < 0)
        return -1;
    if (lvm_report_find(all, nall, lv->vg, name))
        return err_fail(err, errlen, "%s/%s exists; nothing was changed", lv->vg, name);
    bool thin = lvm_is_thin(lv);
    if (!thin && lv->attr[0] == 's')
        return err_fail(err, errlen, "%s is a classic LVM snapshot (%s/%s), and lvm2 cannot snapshot a snapshot",
                        src, lv->vg, lv->name);
    if (!thin) {
        uint64_t want = o->cow_size ? o->cow_size : lvm_full_cow_size(lv);
        if (want > lv->vg_free) {
            char w[32], f[32], s[32];
            size_human(want, w, sizeof(w));
            size_human(lv->vg_free, f, sizeof(f));
            size_human(lv->size, s, sizeof(s));
            if (o->cow_size)
                return err_fail(err, errlen, "a %s snapshot of %s/%s does not fit: volume group %s has %s free", w,
                                lv->vg, lv->name, lv->vg, f);
            return err_fail(err, errlen, "a snapshot of %s/%s that can hold all of its %s needs %s, and volume group "
                                         "%s has %s free; give --snapshot-size SIZE for a smaller one (it becomes "
                                         "invalid, and the clone unreadable, once SIZE of blocks have changed)",
                            lv->vg, lv->name, s, w, lv->vg, f);
        }
    }
    if (lvm_snapshot(lv, name, o->cow_size, res->path, sizeof(res->path), err, errlen) < 0)
        return -1;
    res->method = thin ? IMG_CLONE_LVM_THIN : IMG_CLONE_LVM_COW;
    res->fmt = o->fmt;
    snprintf(res->vg, sizeof(res->vg), "%s", lv->vg);
    snprintf(res->lv, sizeof(res->lv), "%s", name);
    return 0;
}

static int clone_file(const char *src, const char *dst, const struct img_clone_opts *o, struct img_clone_result *res,
                      char *err, size_t errlen)
{
    struct bfile *f = NULL;
    int fd;
    char why[1024];
    if (o->frozen) {
        /* Its paused VM holds the write lock. */
        fd = open(src, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_fail(err, errlen, "%s: %s", src, strerror(errno));
    } else {
        /* A read lock: no VM writes it while we copy, nor starts to. */
        if (bfile_fd_open(&f, src, true, false, why, sizeof(why)) < 0)
            return err_fail(err, errlen, "%s", why);
        fd = f->fd;
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0) {
        err_fail(err, errlen, "%s: %s", src, strerror(errno));
        goto out;
    }
    res->fmt = o->fmt;
    int r = reflink_file(fd, dst, st.st_mode & 07777, err, errlen);
    if (r <= 0) {
        res->method = IMG_CLONE_REFLINK;
        rc = r;
        goto out;
    }
    if (o->frozen && !o->copy_ok) {
        err_fail(err, errlen, "%s: its file system cannot share blocks (no reflinks), and a copy would keep the VM "
                              "paused until it is done", src);
        goto out;
    }
    struct progress pr;
    char what[PATH_MAX + 32];
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", src);
    snprintf(what, sizeof(what), "copying %s", basename(tmp));
    uint64_t total = 0;
    sparse_data_bytes(fd, (uint64_t)st.st_size, &total);
    progress_start(&pr, what, total);
    r = sparse_copy(fd, (uint64_t)st.st_size, dst, st.st_mode & 07777, o->progress ? &pr : NULL, err, errlen);
    progress_end(&pr);
    if (r == 0) {
        res->method = IMG_CLONE_COPY;
        res->bytes_copied = pr.done;
        rc = 0;
    }
out:
    if (f)
        bfile_close(f);
    else
        close(fd);
    return rc;
}

int img_clone(const char *src, const char *dst, const struct img_clone_opts *o, struct img_clone_result *res,
              char *err, size_t errlen)
{
    memset(res, 0, sizeof(*res));
    struct stat st;
    if (stat(src, &st) < 0)
        return err_fail(err, errlen, "%s: %s", src, strerror(errno));
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        return err_fail(err, errlen, "%s: not a regular file or a block device", src);
    if (S_ISBLK(st.st_mode) && !(o->fmt == IMG_FORMAT_QCOW2 && !o->frozen)) {
        struct lvm_lv lv, *all = NULL;
        size_t nall = 0;
        char why[1024];
        /* Not frozen: held under a read lock, so no VM writes it while
         * the snapshot is taken, nor starts to. */
        struct bfile *hold = NULL;
        if (!o->frozen && bfile_fd_open(&hold, src, true, false, why, sizeof(why)) < 0)
            return err_fail(err, errlen, "%s", why);
        int r = lvm_lookup(src, &lv, &all, &nall, why, sizeof(why));
        if (r <= 0)
            err_fail(err, errlen, "%s%s", why, r == 0 ? "; vireo clones block devices only as LVM snapshots" : "");
        else
            r = clone_lv(src, &lv, all, nall, dst, o, res, err, errlen) < 0 ? -1 : 1;
        free(all);
        bfile_close(hold);
        return r > 0 ? 0 : -1;
    }
    snprintf(res->path, sizeof(res->path), "%s", dst);
    struct stat dt;
    if (lstat(dst, &dt) == 0)
        return err_fail(err, errlen, "%s exists; nothing was changed", dst);
    if (o->fmt == IMG_FORMAT_QCOW2 && !o->frozen) {
        if (img_overlay_create(src, IMG_FORMAT_QCOW2, dst, err, errlen) < 0)
            return -1;
        res->method = IMG_CLONE_OVERLAY;
        res->fmt = IMG_FORMAT_QCOW2;
        return 0;
    }
    return clone_file(src, dst, o, res, err, errlen);
}

int img_clone_undo(const struct img_clone_result *res, char *err, size_t errlen)
{
    if (res->method == IMG_CLONE_LVM_THIN || res->method == IMG_CLONE_LVM_COW)
        return lvm_remove(res->vg, res->lv, err, errlen);
    if (unlink(res->path) < 0 && errno != ENOENT)
        return err_fail(err, errlen, "%s: %s", res->path, strerror(errno));
    return 0;
}

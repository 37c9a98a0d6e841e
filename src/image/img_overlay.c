#include "image/img_overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/bfile.h"
#include "block/qcow2.h"
#include "util/err.h"
#include "util/file.h"

static void dir_of(const char *path, char *out, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(out, len, "%s", dirname(tmp));
}

int img_backing_name(const char *overlay, const char *base, char *out, size_t len, char *err, size_t errlen)
{
    char od[PATH_MAX], bd[PATH_MAX], ro[PATH_MAX], rb[PATH_MAX];
    dir_of(overlay, od, sizeof(od));
    dir_of(base, bd, sizeof(bd));
    if (!realpath(bd, rb))
        return err_fail(err, errlen, "%s: %s", bd, strerror(errno));
    if (realpath(od, ro) && !strcmp(ro, rb)) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s", base);
        if (snprintf(out, len, "%s", basename(tmp)) >= (int)len)
            return err_fail(err, errlen, "%s: name too long", base);
        return 0;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", base);
    if (snprintf(out, len, "%s/%s", rb, basename(tmp)) >= (int)len)
        return err_fail(err, errlen, "%s: path too long", base);
    return 0;
}

/* A new qcow2 file at dst on backing (recorded as given), size bytes. */
static int create_overlay_file(const char *dst, const char *backing, enum img_format fmt, uint64_t size,
                               const struct stat *like, char *err, size_t errlen)
{
    int fd = open(dst, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, like ? (like->st_mode & 07777) : 0644);
    if (fd < 0)
        return err_fail(err, errlen, "%s: %s", dst, strerror(errno));
    if (like) {
        /* Created by root for a VM that runs as someone else: theirs, as the image was. */
        if (fchown(fd, like->st_uid, like->st_gid) < 0 && errno != EPERM) {
            int e = errno;
            close(fd);
            unlink(dst);
            return err_fail(err, errlen, "%s: %s", dst, strerror(e));
        }
        fchmod(fd, like->st_mode & 07777);
    }
    struct bfile *f = bfile_fd_wrap(fd, 1);
    if (!f) {
        close(fd);
        unlink(dst);
        return err_fail(err, errlen, "%s: out of memory", dst);
    }
    char why[512];
    struct qcow2_create_opts o = {.size = size, .backing = backing, .backing_fmt = img_format_name(fmt)};
    int r = qcow2_create(f, &o, why, sizeof(why));
    bfile_close(f);
    if (r < 0 || fsync_parent_dir(dst) < 0) {
        unlink(dst);
        return err_fail(err, errlen, "%s: %s", dst, r < 0 ? why : strerror(errno));
    }
    return 0;
}

/* Opens base under a lock (read, or write for a switch) and learns its
 * virtual size; *q (qcow2) or *f (raw) stays open to hold the lock. */
static int open_base(const char *base, enum img_format fmt, bool write_lock, struct qcow2 **q, struct bfile **f,
                     uint64_t *size, char *err, size_t errlen)
{
    *q = NULL;
    *f = NULL;
    char why[2048];
    if (bfile_fd_open(f, base, !write_lock, false, why, sizeof(why)) < 0)
        return err_fail(err, errlen, "%s", why);
    if (fmt == IMG_FORMAT_RAW) {
        int r = bfile_size(*f, size);
        if (r < 0) {
            bfile_close(*f);
            return err_fail(err, errlen, "%s: %s", base, strerror(-r));
        }
        *size = (*size + 511) & ~511ull;
        return 0;
    }
    struct qcow2_open_opts o = {.read_only = true};
    if (qcow2_open(q, *f, base, &o, why, sizeof(why)) < 0) {
        bfile_close(*f);
        *f = NULL;
        return err_fail(err, errlen, "%s", why);
    }
    *f = NULL;
    *size = qcow2_size(*q);
    return 0;
}

static void close_base(struct qcow2 *q, struct bfile *f)
{
    if (q)
        qcow2_close(q);
    bfile_close(f);
}

int img_overlay_create(const char *base, enum img_format fmt, const char *dst, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dst, &st) == 0)
        return err_fail(err, errlen, "%s exists; nothing was changed", dst);
    struct qcow2 *q;
    struct bfile *f;
    uint64_t size;
    if (open_base(base, fmt, false, &q, &f, &size, err, errlen) < 0)
        return -1;
    char name[PATH_MAX];
    int r = img_backing_name(dst, base, name, sizeof(name), err, errlen);
    if (!r)
        r = create_overlay_file(dst, name, fmt, size, NULL, err, errlen);
    close_base(q, f);
    return r;
}

int img_overlay_switch(const char *path, char *base, size_t baselen, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return err_fail(err, errlen, "%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err_fail(err, errlen, "%s: only a qcow2 file can become a base (this is not a regular file)", path);
    struct qcow2 *q;
    struct bfile *f;
    uint64_t size;
    if (open_base(path, IMG_FORMAT_QCOW2, true, &q, &f, &size, err, errlen) < 0)
        return -1;
    char dir[PATH_MAX], tmp[PATH_MAX], file[PATH_MAX];
    dir_of(path, dir, sizeof(dir));
    snprintf(tmp, sizeof(tmp), "%s", path);
    snprintf(file, sizeof(file), "%s", basename(tmp));
    char *dot = strrchr(file, '.');
    const char *ext = dot && dot != file ? dot : "";
    size_t stem = dot && dot != file ? (size_t)(dot - file) : strlen(file);
    char stamp[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    int rc = -1;
    bool linked = false;
    if (snprintf(tmp, sizeof(tmp), "%s/.%.*s.vireo-overlay-%ld", dir, (int)stem, file, (long)getpid()) >=
        (int)sizeof(tmp))
        goto out_err_len;
    /* The new overlay names its base by file name: base and overlay live
     * in one folder. */
    for (int n = 1; n < 100 && !linked; n++) {
        char suffix[16] = "";
        if (n > 1)
            snprintf(suffix, sizeof(suffix), "-%d", n);
        if (snprintf(base, baselen, "%s/%.*s.base-%s%s%s", dir, (int)stem, file, stamp, suffix, ext) >= (int)baselen)
            goto out_err_len;
        if (link(path, base) == 0) {
            linked = true;
        } else if (errno != EEXIST) {
            err_fail(err, errlen, "%s: cannot make it a base (link to %s): %s", path, base, strerror(errno));
            goto out;
        }
    }
    if (!linked) {
        err_fail(err, errlen, "%s: no free name for its base", path);
        goto out;
    }
    char bname[PATH_MAX];
    snprintf(bname, sizeof(bname), "%s", base);
    if (create_overlay_file(tmp, basename(bname), IMG_FORMAT_QCOW2, size, &st, err, errlen) < 0)
        goto out_unlink;
    if (rename(tmp, path) < 0) {
        err_fail(err, errlen, "%s: cannot put the new overlay in place: %s", path, strerror(errno));
        unlink(tmp);
        goto out_unlink;
    }
    fsync_parent_dir(path);
    /* A reminder for people and tools: nothing may write it now.  (root
     * could; the locks of overlays in use refuse a VM that would.) */
    chmod(base, st.st_mode & 07555);
    rc = 0;
    goto out;
out_err_len:
    err_fail(err, errlen, "%s: path too long", path);
    goto out;
out_unlink:
    unlink(base);
out:
    close_base(q, f);
    return rc;
}

/* `vireo image import [-o DIR] [-n NAME] FILE|-`: restores what `vireo
 * backup` wrote (image/backup_stream.h): the disks as raw files and the
 * VM's configuration pointing at them.  Everything is written under
 * temporary names and put in place only once the whole stream checked
 * out; nothing existing is ever replaced. */
#include "cli/cmd_image.h"
#include "cli/commands.h"
#include "cli/image_args.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/backup_stream.h"
#include "toolstack/vm_config.h"
#include "toolstack/vm_config_write.h"
#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/size.h"

struct import {
    const char *dir;
    const char *newname;
    char name[65];
    unsigned n;
    int fd[BACKUP_MAX_DISKS];
    uint64_t size[BACKUP_MAX_DISKS];
    char tmp[BACKUP_MAX_DISKS][PATH_MAX];
    char final[BACKUP_MAX_DISKS][PATH_MAX];
    char cfg_final[PATH_MAX];
    char *cfg;
    size_t cfglen;
    struct progress pr;
};

static int on_manifest(void *ctx, const struct backup_manifest *m, char *err, size_t errlen)
{
    struct import *im = ctx;
    snprintf(im->name, sizeof(im->name), "%s", im->newname ? im->newname : m->name);
    struct stat st;
    if (snprintf(im->cfg_final, sizeof(im->cfg_final), "%s/%s.cfg", im->dir, im->name) >= (int)sizeof(im->cfg_final))
        return err_fail(err, errlen, "%s: path too long", im->dir);
    if (lstat(im->cfg_final, &st) == 0)
        return err_fail(err, errlen, "%s exists; nothing was changed", im->cfg_final);
    for (unsigned i = 0; i < m->ndisks; i++) {
        const struct backup_disk *d = &m->disks[i];
        if (snprintf(im->final[i], PATH_MAX, "%s/%s-%s.raw", im->dir, im->name, d->vdev) >= PATH_MAX ||
            snprintf(im->tmp[i], PATH_MAX, "%s/.%s-%s.raw.import-%ld", im->dir, im->name, d->vdev, (long)getpid()) >=
                PATH_MAX)
            return err_fail(err, errlen, "%s: path too long", im->dir);
        for (unsigned k = 0; k < i; k++)
            if (!strcmp(m->disks[k].vdev, d->vdev))
                return err_fail(err, errlen, "the backup has two disks %s", d->vdev);
        if (lstat(im->final[i], &st) == 0)
            return err_fail(err, errlen, "%s exists; nothing was changed", im->final[i]);
    }
    for (unsigned i = 0; i < m->ndisks; i++) {
        im->fd[i] = open(im->tmp[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (im->fd[i] < 0)
            return err_fail(err, errlen, "%s: %s", im->tmp[i], strerror(errno));
        im->n = i + 1;
        im->size[i] = m->disks[i].size;
    }
    return 0;
}

static int on_config(void *ctx, const char *text, size_t len, char *err, size_t errlen)
{
    struct import *im = ctx;
    im->cfg = malloc(len + 1);
    if (!im->cfg)
        return err_fail(err, errlen, "out of memory");
    memcpy(im->cfg, text, len);
    im->cfg[len] = 0;
    im->cfglen = len;
    return 0;
}

static int on_data(void *ctx, unsigned i, const void *buf, size_t len, uint64_t off, char *err, size_t errlen)
{
    struct import *im = ctx;
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(im->fd[i], p, len, (off_t)off);
        if (w <= 0)
            return err_fail(err, errlen, "%s: %s", im->final[i], w < 0 ? strerror(errno) : "short write");
        p += w;
        off += (uint64_t)w;
        len -= (size_t)w;
        progress_add(&im->pr, (uint64_t)w);
    }
    return 0;
}

static int on_disk_end(void *ctx, unsigned i, char *err, size_t errlen)
{
    struct import *im = ctx;
    if (ftruncate(im->fd[i], (off_t)im->size[i]) < 0 || fsync(im->fd[i]) < 0)
        return err_fail(err, errlen, "%s: %s", im->final[i], strerror(errno));
    return 0;
}

/* The configuration as restored: the backup's, checked, with the disks'
 * new paths (and a new name). */
static char *restored_config(struct import *im, const struct backup_manifest *m, char *err, size_t errlen)
{
    static struct vm_config c;
    char src[BACKUP_NAME_MAX + 32];
    snprintf(src, sizeof(src), "%s (in the backup)", m->config);
    if (vm_config_parse(im->cfg, im->cfglen, src, &c, err, errlen) < 0)
        return NULL;
    char *text = NULL;
    struct vm_config_edit e = {.name = im->newname, .new_identity = im->newname != NULL};
    if (c.ndisks != m->ndisks) {
        err_fail(err, errlen, "%s has %u disks, the backup %u", src, c.ndisks, m->ndisks);
        goto out;
    }
    for (unsigned k = 0; k < c.ndisks; k++) {
        for (unsigned i = 0; i < m->ndisks && !e.disk_target[k]; i++)
            if (!strcmp(c.disks[k].vdev, m->disks[i].vdev))
                e.disk_target[k] = im->final[i];
        if (!e.disk_target[k]) {
            err_fail(err, errlen, "%s: disk %s is not in the backup", src, c.disks[k].vdev);
            goto out;
        }
        e.disk_format[k] = "raw";
    }
    text = vm_config_write(&c, &e, err, errlen);
out:
    vm_config_free(&c);
    return text;
}

static int put_in_place(struct import *im, const char *cfgtext, char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/.%s.cfg.import-%ld", im->dir, im->name, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_fail(err, errlen, "%s: %s", tmp, strerror(errno));
    if (write_full(fd, cfgtext, strlen(cfgtext)) < 0 || fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return err_fail(err, errlen, "%s: %s", tmp, strerror(e));
    }
    close(fd);
    unsigned done = 0;
    for (; done < im->n; done++)
        if (renameat2(AT_FDCWD, im->tmp[done], AT_FDCWD, im->final[done], RENAME_NOREPLACE) < 0)
            break;
    if (done == im->n && renameat2(AT_FDCWD, tmp, AT_FDCWD, im->cfg_final, RENAME_NOREPLACE) == 0) {
        fsync_parent_dir(im->cfg_final);
        return 0;
    }
    int e = errno;
    for (unsigned i = 0; i < done; i++)
        rename(im->final[i], im->tmp[i]);   /* back, so the cleanup removes them */
    unlink(tmp);
    return err_fail(err, errlen, "putting the restored files in place: %s", strerror(e));
}

int cmd_image_import(int argc, char *const argv[], const char *usage)
{
    const char *dir = ".", *name = NULL, *file = NULL;
    const struct image_opt opts[] = {{"-o", &dir, NULL}, {"-n", &name, NULL}, {NULL, NULL, NULL}};
    const char **const operands[] = {&file};
    int parsed = image_args(argc, argv, "import", opts, operands, 1, usage);
    if (parsed >= 0)
        return parsed;
    if (!file) {
        return cli_usage_error("image", "import: FILE is missing (- for standard input)");
    }
    if (name && !backup_name_ok(name, 64)) {
        vlog_err("image import: -n '%s' is not a VM name (letters, digits, '.', '_', '-')", name);
        return 2;
    }
    struct stat st;
    if (stat(dir, &st) < 0) {
        vlog_err("image import: -o %s: %s", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        vlog_err("image import: -o %s: not a folder", dir);
        return 1;
    }
    /* The restored config names its disks by absolute paths. */
    static char absdir[PATH_MAX];
    if (!realpath(dir, absdir)) {
        vlog_err("image import: -o %s: %s", dir, strerror(errno));
        return 1;
    }
    dir = absdir;
    int fd = STDIN_FILENO;
    if (strcmp(file, "-")) {
        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            vlog_err("image import: %s: %s", file, strerror(errno));
            return 1;
        }
    } else if (isatty(STDIN_FILENO)) {
        vlog_err("image import: standard input is a terminal; pipe a backup into it (vireo backup NAME - | ...)");
        return 2;
    }
    static struct import im;
    memset(&im, 0, sizeof(im));
    im.dir = dir;
    im.newname = name;
    progress_start(&im.pr, "importing", 0);
    struct backup_sink sink = {&im, on_manifest, on_config, on_data, on_disk_end};
    static struct backup_manifest m;
    char err[2048];
    char *cfgtext = NULL;
    int rc = 1;
    if (backup_read_fd(fd, &sink, &m, err, sizeof(err)) < 0 || !(cfgtext = restored_config(&im, &m, err, sizeof(err))) ||
        put_in_place(&im, cfgtext, err, sizeof(err)) < 0) {
        progress_end(&im.pr);
        vlog_err("image import: %s%s", err, im.n ? "; nothing was restored" : "");
    } else {
        progress_end(&im.pr);
        for (unsigned i = 0; i < m.ndisks; i++) {
            char sz[32], data[32];
            size_human(m.disks[i].size, sz, sizeof(sz));
            size_human(m.disks[i].data_bytes, data, sizeof(data));
            printf("restored %s (%s, %s of data, from %s)\n", im.final[i], sz, data,
                   m.disks[i].source[0] ? m.disks[i].source : "?");
        }
        printf("restored %s: VM '%s', backed up %s\n", im.cfg_final, im.name, m.created);
        rc = 0;
    }
    for (unsigned i = 0; i < im.n; i++) {
        close(im.fd[i]);
        if (rc)
            unlink(im.tmp[i]);
    }
    free(cfgtext);
    free(im.cfg);
    if (fd != STDIN_FILENO)
        close(fd);
    return rc;
}

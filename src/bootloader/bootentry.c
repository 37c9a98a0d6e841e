#include "bootloader/bootentry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bootloader/grub.h"
#include "util/err.h"

static struct bl_part *part_by_number(struct bl_finder *f, unsigned number)
{
    for (unsigned i = 0; i < f->nparts; i++)
        if (f->parts[i].number == number)
            return &f->parts[i];
    return NULL;
}

/* The partition's ext file system, opened the first time it is needed. */
static struct extfs *part_fs(struct bl_part *p)
{
    if (p->probe.kind != FS_EXT)
        return NULL;
    if (!p->tried) {
        p->tried = true;
        if (extfs_open(&p->region, &p->fs, p->open_err, sizeof(p->open_err)) < 0)
            p->fs = NULL;
    }
    return p->fs;
}

static void part_name(const struct bl_finder *f, const struct bl_part *p, char *out, size_t len)
{
    if (!p->number)
        snprintf(out, len, "the disk");
    else
        snprintf(out, len, "partition %u", p->number);
    (void)f;
}

/* ---- the bl_host the parsers read through ---- */

static bool h_has_part(void *ctx, unsigned part)
{
    struct bl_part *p = part_by_number(ctx, part);
    return p && part_fs(p);
}

static int h_read_file(void *ctx, unsigned part, const char *path, size_t max, char **buf, size_t *len,
                       char *err, size_t errlen)
{
    struct bl_finder *f = ctx;
    struct bl_part *p = part_by_number(f, part);
    struct extfs *fs = p ? part_fs(p) : NULL;
    if (!fs)
        return 1;
    char why[256];
    int r = extfs_read_file(fs, path, max, buf, len, why, sizeof(why));
    if (r < 0) {
        char dev[32];
        grub_device_name(&f->host, part, dev, sizeof(dev));
        return err_fail(err, errlen, "(%s)%s", dev, why);
    }
    return r;
}

static int h_stat(void *ctx, unsigned part, const char *path, uint64_t *size, bool *is_dir)
{
    struct bl_part *p = part_by_number(ctx, part);
    struct extfs *fs = p ? part_fs(p) : NULL;
    enum extfs_type t;
    char err[128];
    if (!fs || extfs_stat(fs, path, &t, size, err, sizeof(err)) != 0)
        return 1;
    *is_dir = t == EXTFS_DIR;
    return 0;
}

static int h_find(void *ctx, enum bl_find by, const char *key, unsigned *part)
{
    struct bl_finder *f = ctx;
    for (unsigned i = 0; i < f->nparts; i++) {
        struct bl_part *p = &f->parts[i];
        if (p->probe.kind != FS_EXT)
            continue;
        bool hit = false;
        if (by == BL_FIND_UUID) {
            char u[37];
            fs_uuid_format(p->probe.uuid, u);
            hit = !strcasecmp(u, key);
        } else if (by == BL_FIND_LABEL) {
            hit = !strcmp(p->probe.label, key);
        } else {
            uint64_t size;
            bool dir;
            hit = key[0] == '/' && h_stat(f, p->number, key, &size, &dir) == 0;
        }
        if (hit) {
            *part = p->number;
            return 0;
        }
    }
    return 1;
}

static int h_list(void *ctx, unsigned part, const char *dir, unsigned max, char ***names, unsigned *n, char *err,
                  size_t errlen)
{
    struct bl_part *p = part_by_number(ctx, part);
    struct extfs *fs = p ? part_fs(p) : NULL;
    if (!fs)
        return 1;
    return extfs_list(fs, dir, max, names, n, err, errlen);
}

/* ---- opening ---- */

int bl_finder_open(struct bl_finder *f, const struct bl_disk *d, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->disk = d;
    if (pt_read(d, &f->pt, err, errlen) < 0)
        return -1;
    if (f->pt.scheme == PT_NONE) {
        f->nparts = 1;
        f->parts[0].number = 0;
        f->parts[0].region = (struct bl_region){d, 0, d->size};
    } else {
        for (unsigned i = 0; i < f->pt.n; i++) {
            f->parts[i].number = f->pt.parts[i].number;
            f->parts[i].region = (struct bl_region){d, f->pt.parts[i].start, f->pt.parts[i].size};
        }
        f->nparts = f->pt.n;
    }
    for (unsigned i = 0; i < f->nparts; i++) {
        if (fs_probe(&f->parts[i].region, &f->parts[i].probe) < 0) {
            char name[32];
            part_name(f, &f->parts[i], name, sizeof(name));
            return err_fail(err, errlen, "reading %s failed", name);
        }
    }
    f->host = (struct bl_host){
        .ctx = f,
        .scheme = f->pt.scheme == PT_NONE ? NULL : pt_scheme_name(f->pt.scheme),
        .has_part = h_has_part,
        .read_file = h_read_file,
        .stat = h_stat,
        .find = h_find,
        .list = h_list,
    };
    return 0;
}

void bl_finder_close(struct bl_finder *f)
{
    for (unsigned i = 0; i < f->nparts; i++) {
        extfs_close(f->parts[i].fs);
        f->parts[i].fs = NULL;
    }
}

int bl_open(struct bl_finder *f, const struct bl_file_ref *ref, struct extfs_file **file, uint64_t *size,
            char *err, size_t errlen)
{
    struct bl_part *p = part_by_number(f, ref->part);
    struct extfs *fs = p ? part_fs(p) : NULL;
    if (!fs)
        return err_fail(err, errlen, "partition %u cannot be read", ref->part);
    int r = extfs_file_open(fs, ref->path, file, size, err, errlen);
    if (r == 1)
        return err_fail(err, errlen, "%s does not exist", ref->path);
    return r;
}

/* ---- what to boot ---- */

static bool exists(struct bl_finder *f, unsigned part, const char *path)
{
    uint64_t size;
    bool dir;
    return h_stat(f, part, path, &size, &dir) == 0 && !dir;
}

static bool dir_exists(struct bl_finder *f, unsigned part, const char *path)
{
    uint64_t size;
    bool dir;
    return h_stat(f, part, path, &size, &dir) == 0 && dir;
}

/* pygrub's --kernel/--ramdisk: the first partition holding the file. */
static int by_path(struct bl_finder *f, const char *path, unsigned prefer, const char *what, struct bl_file_ref *ref,
                   char *err, size_t errlen)
{
    if (path[0] != '/' || strlen(path) >= sizeof(ref->path))
        return err_fail(err, errlen, "--%s '%.200s': expected an absolute path inside the guest", what, path);
    if (part_by_number(f, prefer) && exists(f, prefer, path)) {
        ref->part = prefer;
    } else {
        unsigned i;
        for (i = 0; i < f->nparts && !exists(f, f->parts[i].number, path); i++)
            ;
        if (i == f->nparts)
            return err_fail(err, errlen, "--%s %.200s: no partition of the disk holds that file", what, path);
        ref->part = f->parts[i].number;
    }
    snprintf(ref->path, sizeof(ref->path), "%s", path);
    return 0;
}

static const struct {
    const char *dir;
} grub_dirs[] = {{"/boot/grub"}, {"/grub"}, {"/boot/grub2"}, {"/grub2"}};

static int try_grub(struct bl_finder *f, const struct bl_request *req, struct bl_entry *e, char *err, size_t errlen,
                    bool *found)
{
    for (unsigned i = 0; i < f->nparts; i++) {
        struct bl_part *p = &f->parts[i];
        if (!part_fs(p))
            continue;
        for (size_t d = 0; d < sizeof(grub_dirs) / sizeof(grub_dirs[0]); d++) {
            char path[64];
            snprintf(path, sizeof(path), "%s/grub.cfg", grub_dirs[d].dir);
            if (!exists(f, p->number, path))
                continue;
            *found = true;
            char *buf;
            size_t len;
            int r = h_read_file(f, p->number, path, GRUB_MAX_CFG, &buf, &len, err, errlen);
            if (r)
                return r < 0 ? -1 : err_fail(err, errlen, "%s vanished", path);
            struct grub_start at = {p->number, grub_dirs[d].dir, "grub.cfg"};
            r = grub_find_boot(&f->host, &at, buf, len, req->entry, e, err, errlen);
            free(buf);
            return r;
        }
    }
    return 0;
}

static int try_bls(struct bl_finder *f, const struct bl_request *req, struct bl_entry *e, char *err, size_t errlen,
                   bool *found)
{
    static const char *const dirs[] = {"/loader/entries", "/boot/loader/entries"};
    for (unsigned i = 0; i < f->nparts; i++) {
        struct bl_part *p = &f->parts[i];
        if (!part_fs(p))
            continue;
        for (size_t d = 0; d < 2; d++) {
            if (!dir_exists(f, p->number, dirs[d]))
                continue;
            *found = true;
            return grub_find_bls_boot(&f->host, p->number, dirs[d], req->entry, e, err, errlen);
        }
    }
    return 0;
}

/* A link into a separate /boot: "boot/vmlinuz-6.1" seen from the root
 * file system, whose /boot is an empty mount point. */
static bool follow_into_boot(struct bl_finder *f, unsigned from, const char *link, struct bl_file_ref *ref)
{
    struct bl_part *p = part_by_number(f, from);
    struct extfs *fs = p ? part_fs(p) : NULL;
    char target[BL_MAX_PATH], abs[BL_MAX_PATH + 64], err[128];
    if (!fs || extfs_readlink(fs, link, target, sizeof(target), err, sizeof(err)) != 0)
        return false;
    const char *t = target;
    if (t[0] != '/') {
        /* Relative to the link's directory; Debian's links live in / or /boot. */
        const char *slash = strrchr(link, '/');
        snprintf(abs, sizeof(abs), "%.*s/%s", (int)(slash - link), link, target);
        t = abs;
    }
    while (t[0] == '/' && t[1] == '/')
        t++;
    if (strncmp(t, "/boot/", 6))
        return false;
    const char *in_boot = t + 5;
    for (unsigned i = 0; i < f->nparts; i++) {
        unsigned n = f->parts[i].number;
        if (n != from && part_fs(&f->parts[i]) && exists(f, n, in_boot)) {
            ref->part = n;
            snprintf(ref->path, sizeof(ref->path), "%s", in_boot);
            return true;
        }
    }
    return false;
}

static bool find_link(struct bl_finder *f, unsigned part, const char *path, struct bl_file_ref *ref)
{
    if (exists(f, part, path)) {
        ref->part = part;
        snprintf(ref->path, sizeof(ref->path), "%s", path);
        return true;
    }
    return follow_into_boot(f, part, path, ref);
}

static void try_links(struct bl_finder *f, struct bl_entry *e, bool *found)
{
    static const char *const dirs[] = {"", "/boot"};
    for (unsigned i = 0; i < f->nparts; i++) {
        struct bl_part *p = &f->parts[i];
        if (!part_fs(p))
            continue;
        for (size_t d = 0; d < 2; d++) {
            char k[32], r[32];
            snprintf(k, sizeof(k), "%s/vmlinuz", dirs[d]);
            snprintf(r, sizeof(r), "%s/initrd.img", dirs[d]);
            if (!find_link(f, p->number, k, &e->kernel))
                continue;
            *found = true;
            e->ninitrd = find_link(f, p->number, r, &e->initrd[0]) ? 1 : 0;
            char uuid[37];
            fs_uuid_format(p->probe.uuid, uuid);
            /* The file system holding /vmlinuz is the root file system.
             * Without an initramfs the kernel cannot look a UUID up. */
            if (e->ninitrd)
                snprintf(e->cmdline, sizeof(e->cmdline), "root=UUID=%s ro", uuid);
            else if (p->number && f->pt.scheme == PT_GPT) {
                char g[37];
                pt_guid_format(f->pt.parts[i].guid, g);
                snprintf(e->cmdline, sizeof(e->cmdline), "root=PARTUUID=%s ro", g);
            } else if (p->number) {
                snprintf(e->cmdline, sizeof(e->cmdline), "root=PARTUUID=%08x-%02x ro", f->pt.mbr_id, p->number);
            } else {
                snprintf(e->cmdline, sizeof(e->cmdline), "root=/dev/vda ro");
            }
            snprintf(e->title, sizeof(e->title), "%s", k);
            char dev[32];
            grub_device_name(&f->host, p->number, dev, sizeof(dev));
            snprintf(e->source, sizeof(e->source), "the %s link on (%s)", k, dev);
            return;
        }
    }
}

/* Nothing to boot: say what each partition was. */
static int nothing(struct bl_finder *f, char *err, size_t errlen)
{
    size_t o = 0;
    bool refused = false;
    o += (size_t)snprintf(err, errlen, "no boot loader configuration found (grub.cfg, /boot/loader/entries or "
                                       "Debian's /vmlinuz link):");
    for (unsigned i = 0; i < f->nparts && o < errlen; i++) {
        struct bl_part *p = &f->parts[i];
        char name[32];
        part_name(f, p, name, sizeof(name));
        const char *sep = i ? ";" : "";
        if (p->probe.kind == FS_EXT && !p->fs)
            o += (size_t)snprintf(err + o, errlen - o, "%s %s (%s): %s", sep, name, p->probe.name, p->open_err);
        else if (p->probe.kind == FS_EXT)
            o += (size_t)snprintf(err + o, errlen - o, "%s %s (%s): none of these", sep, name, p->probe.name);
        else if (p->probe.kind == FS_OTHER) {
            o += (size_t)snprintf(err + o, errlen - o, "%s %s holds %s, which vireo cannot read", sep, name,
                                  p->probe.name);
            refused = true;
        } else {
            o += (size_t)snprintf(err + o, errlen - o, "%s %s: %s", sep, name, p->probe.name);
        }
    }
    if (!f->nparts && o < errlen)
        o += (size_t)snprintf(err + o, errlen - o, " the partition table is empty");
    if (refused && o < errlen)
        snprintf(err + o, errlen - o, ". vireo reads ext2, ext3 and ext4; /boot must be on one of them");
    return -1;
}

int bl_find(struct bl_finder *f, const struct bl_request *req, struct bl_entry *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    err[0] = 0;
    if (req->kernel) {
        if (by_path(f, req->kernel, 0, "kernel", &e->kernel, err, errlen) < 0)
            return -1;
        if (req->ramdisk) {
            if (by_path(f, req->ramdisk, e->kernel.part, "ramdisk", &e->initrd[0], err, errlen) < 0)
                return -1;
            e->ninitrd = 1;
        }
        snprintf(e->title, sizeof(e->title), "%s", req->kernel);
        snprintf(e->source, sizeof(e->source), "--kernel");
        return 0;
    }
    bool found = false;
    if (try_grub(f, req, e, err, errlen, &found) < 0)
        return -1;
    if (found)
        return 0;
    if (try_bls(f, req, e, err, errlen, &found) < 0)
        return -1;
    if (found)
        return 0;
    try_links(f, e, &found);
    if (found) {
        if (req->entry)
            snprintf(e->warning, sizeof(e->warning), "--entry '%.60s' is ignored: the disk has no menu, only %.120s",
                     req->entry, e->source);
        return 0;
    }
    return nothing(f, err, errlen);
}

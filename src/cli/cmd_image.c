/* `vireo image create|info|resize`: the disk images Vireo users need
 * (qemu-img stays the general tool). */
#include "cli/cmd_image.h"
#include "cli/commands.h"
#include "cli/image_args.h"
#include "cli/cmd_image_bootstrap.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/bfile.h"
#include "block/qcow2.h"
#include "block/qcow2_header.h"
#include "util/log.h"
#include "util/printable.h"
#include "util/size.h"

static const char usage[] =
    "usage: vireo image create [-f raw|qcow2] [-b BACKING [-F raw|qcow2]] FILE [SIZE]\n"
    "       vireo image info [--json] [-f raw|qcow2] FILE\n"
    "       vireo image resize [-f raw|qcow2] FILE SIZE\n"
    "       vireo image clone [-f raw|qcow2] [--snapshot-size SIZE] SRC DST\n"
    "       vireo image import [-o DIR] [-n NAME] FILE|-\n"
    "       vireo image bootstrap NAME --size SIZE [OPTION...]   (a Debian guest; --help)\n"
    "create   a new image; never overwrites FILE.  -f defaults to qcow2 with -b, else\n"
    "         raw.  -b: a qcow2 overlay on BACKING, recorded as given and resolved\n"
    "         against FILE's folder (as QEMU does); SIZE defaults to BACKING's.  -F is\n"
    "         BACKING's format; without it BACKING is raw, and a BACKING that looks\n"
    "         like qcow2 is refused rather than guessed.  qcow2 images are version 3\n"
    "         (compat 1.1), 64 KiB clusters, 16-bit refcounts.\n"
    "info     format, sizes, cluster size, backing chain, dirty/corrupt bits, and\n"
    "         whether a running VM holds the image.\n"
    "resize   grows a raw or qcow2 image to SIZE (shrinking is refused); the image\n"
    "         must not be in use.\n"
    "clone    a new disk sharing SRC's data: a qcow2 overlay on a qcow2 SRC (which\n"
    "         then must not be written while DST exists); a reflink of a raw file\n"
    "         (XFS, btrfs), else a sparse copy; an LVM snapshot of a logical volume\n"
    "         (DST: NAME or VG/NAME; thin in a thin pool, else copy-on-write sized for\n"
    "         the whole origin unless --snapshot-size).  DST is never overwritten.\n"
    "import   restores a `vireo backup` stream (a file, or - for standard input;\n"
    "         gzip, zstd and xz are recognized): the VM's disks as raw files and\n"
    "         its config, NAME.cfg, in DIR (default: the current folder).  -n gives\n"
    "         the VM a new name (and its interfaces new MACs).\n"
    "SIZE: 512M, 20G, 1T, 1048576B; a bare number is MiB.  Without -f, info and\n"
    "resize take FILE as qcow2 when it starts with qcow2's magic (give -f raw for a\n"
    "raw disk whose guest wrote one); disks never guess (--disk format=).\n";

static int usage_error(const char *fmt, const char *a)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a);
    return cli_usage_error("image", "%s", msg);
}

static bool looks_qcow2(int fd)
{
    uint8_t m[4];
    return pread(fd, m, 4, 0) == 4 && qcow2_be32(m) == QCOW2_MAGIC;
}

/* Backing files for `info`: read without taking a lock, so an image a VM
 * writes is still described. */
static int open_nolock(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    (void)ctx;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    *out = bfile_fd_wrap(fd, 1);
    if (!*out) {
        close(fd);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

static const struct qcow2_opener nolock_opener = {open_nolock, NULL};

/* --- create ------------------------------------------------------------ */

/* The backing file's format and size, its chain checked. */
static int probe_backing(const char *file, const char *name, enum img_format *fmt, bool fmt_given, uint64_t *size)
{
    char path[PATH_MAX], err[2048];
    if (qcow2_backing_resolve(file, name, path, sizeof(path), err, sizeof(err)) < 0) {
        vlog_err("image create: %s", err);
        return -1;
    }
    struct bfile *f;
    if (bfile_fd_open(&f, path, true, false, err, sizeof(err)) < 0) {
        vlog_err("image create: %s: backing file '%s': %s", file, name, err);
        return -1;
    }
    if (!fmt_given) {
        if (looks_qcow2(f->fd)) {
            vlog_err("image create: backing file %s looks like a qcow2 image; say -F qcow2 (or -F raw if it is a "
                     "raw disk whose guest wrote a qcow2 header)", path);
            bfile_close(f);
            return -1;
        }
        *fmt = IMG_FORMAT_RAW;
    }
    if (*fmt == IMG_FORMAT_RAW) {
        int r = bfile_size(f, size);
        bfile_close(f);
        if (r < 0) {
            vlog_err("image create: %s: %s", path, strerror(-r));
            return -1;
        }
        *size = (*size + 511) & ~511ull;
        return 0;
    }
    struct qcow2 *q;
    struct qcow2_open_opts o = {.read_only = true};
    char chain[PATH_MAX + 64];
    snprintf(chain, sizeof(chain), "%s -> %s", file, path);
    if (qcow2_open(&q, f, path, &o, err, sizeof(err)) < 0) {
        bfile_close(f);
        vlog_err("image create: %s: %s", file, err);
        return -1;
    }
    *size = qcow2_size(q);
    qcow2_close(q);
    return 0;
}

static int image_create(int argc, char *const argv[])
{
    const char *fmt_s = NULL, *backing = NULL, *bfmt_s = NULL, *file = NULL, *size_s = NULL;
    const struct image_opt opts[] = {{"-f", &fmt_s, NULL}, {"-b", &backing, NULL}, {"-F", &bfmt_s, NULL}, {NULL, NULL, NULL}};
    const char **const operands[] = {&file, &size_s};
    int parsed = image_args(argc, argv, "create", opts, operands, 2, usage);
    if (parsed >= 0)
        return parsed;
    if (!file)
        return usage_error("create: %s", "FILE is missing");
    enum img_format fmt = backing ? IMG_FORMAT_QCOW2 : IMG_FORMAT_RAW, bfmt = IMG_FORMAT_RAW;
    if (fmt_s && img_format_parse(fmt_s, &fmt) < 0)
        return usage_error("create: format '%s' is not raw or qcow2", fmt_s);
    if (bfmt_s && img_format_parse(bfmt_s, &bfmt) < 0)
        return usage_error("create: backing format '%s' is not raw or qcow2", bfmt_s);
    if (bfmt_s && !backing)
        return usage_error("create: %s", "-F needs -b");
    if (backing && fmt == IMG_FORMAT_RAW)
        return usage_error("create: %s", "a raw image cannot have a backing file (use -f qcow2)");
    uint64_t size = 0;
    if (size_s && !parse_size(size_s, &size))
        return usage_error("create: '%s' is not a size (e.g. 512M, 20G)", size_s);
    if (!size_s && !backing)
        return usage_error("create: %s", "SIZE is missing");
    if (size_s && size % 512) {
        vlog_err("image create: %s: the size must be a multiple of 512 bytes", size_s);
        return 1;
    }
    struct stat st;
    if (lstat(file, &st) == 0) {
        vlog_err("image create: %s exists; nothing was changed", file);
        return 1;
    }
    uint64_t bsize = 0;
    if (backing && probe_backing(file, backing, &bfmt, bfmt_s != NULL, &bsize) < 0)
        return 1;
    if (!size_s)
        size = bsize;

    int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        vlog_err("image create: %s: %s", file, strerror(errno));
        return 1;
    }
    char err[512] = "";
    int r;
    if (fmt == IMG_FORMAT_RAW) {
        r = ftruncate(fd, (off_t)size) < 0 || fsync(fd) < 0 ? -errno : 0;
        if (r)
            snprintf(err, sizeof(err), "%s", strerror(-r));
        close(fd);
    } else {
        struct bfile *f = bfile_fd_wrap(fd, 1);
        struct qcow2_create_opts o = {.size = size, .backing = backing, .backing_fmt = img_format_name(bfmt)};
        r = f ? qcow2_create(f, &o, err, sizeof(err)) : -1;
        if (f)
            bfile_close(f);
        else
            close(fd);
    }
    if (r) {
        unlink(file);
        vlog_err("image create: %s: %s", file, err);
        return 1;
    }
    char h[48];
    size_human(size, h, sizeof(h));
    if (backing)
        printf("created %s: qcow2, %s, backing file %s (%s)\n", file, h, backing, img_format_name(bfmt));
    else
        printf("created %s: %s, %s\n", file, img_format_name(fmt), h);
    return 0;
}

/* --- info ---------------------------------------------------------------- */

static const char *in_use(int fd)
{
    int l = bfile_lock_probe(fd);
    return l == F_WRLCK ? "write" : l == F_RDLCK ? "read" : l == F_UNLCK ? "no" : "unknown";
}

struct chain_img {
    const char *path;
    enum img_format fmt;
    uint64_t size;
};

static int image_info(int argc, char *const argv[])
{
    bool json = false;
    const char *fmt_s = NULL, *file = NULL;
    const struct image_opt opts[] = {{"--json", NULL, &json}, {"-f", &fmt_s, NULL}, {NULL, NULL, NULL}};
    const char **const operands[] = {&file};
    int parsed = image_args(argc, argv, "info", opts, operands, 1, usage);
    if (parsed >= 0)
        return parsed;
    if (!file)
        return usage_error("info: %s", "FILE is missing");
    enum img_format fmt = IMG_FORMAT_NONE;
    if (fmt_s && img_format_parse(fmt_s, &fmt) < 0)
        return usage_error("info: format '%s' is not raw or qcow2", fmt_s);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        vlog_err("image info: %s: %s", file, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 1;
    }
    if (fmt == IMG_FORMAT_NONE)
        fmt = looks_qcow2(fd) ? IMG_FORMAT_QCOW2 : IMG_FORMAT_RAW;
    const char *use = in_use(fd);
    struct bfile *f = bfile_fd_wrap(fd, 1);
    uint64_t vsize = 0;
    bfile_size(f, &vsize);
    struct qcow2 *q = NULL;
    struct qcow2_info qi = {0};
    if (fmt == IMG_FORMAT_QCOW2) {
        char err[2048];
        struct qcow2_open_opts o = {.inspect = true, .opener = &nolock_opener};
        if (qcow2_open(&q, f, file, &o, err, sizeof(err)) < 0) {
            bfile_close(f);
            vlog_err("image info: %s", err);
            return 1;
        }
        qcow2_get_info(q, &qi);
        vsize = qi.size;
    }
    struct chain_img chain[QCOW2_MAX_CHAIN + 1];
    unsigned n = 0;
    chain[n++] = (struct chain_img){file, fmt, vsize};
    const char *chain_error = qi.chain_error;
    for (struct qcow2 *c = q; c;) {
        const struct qcow2_link *l = qcow2_backing(c);
        struct qcow2_info ci;
        qcow2_get_info(c, &ci);
        if (ci.chain_error)
            chain_error = ci.chain_error;
        if (l->fmt == IMG_FORMAT_NONE || n > QCOW2_MAX_CHAIN)
            break;
        chain[n++] = (struct chain_img){l->path, l->fmt, l->size};
        c = l->qcow2;
    }
    uint64_t used = (uint64_t)st.st_blocks * 512;
    if (json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "filename", json_object_new_string(file));
        json_object_object_add(o, "format", json_object_new_string(img_format_name(fmt)));
        json_object_object_add(o, "virtual-size", json_object_new_int64((int64_t)vsize));
        json_object_object_add(o, "actual-size", json_object_new_int64((int64_t)used));
        json_object_object_add(o, "in-use", json_object_new_string(use));
        if (q) {
            json_object_object_add(o, "version", json_object_new_int((int)qi.version));
            json_object_object_add(o, "cluster-size", json_object_new_int64(qi.cluster_size));
            json_object_object_add(o, "refcount-bits", json_object_new_int((int)qi.refcount_bits));
            json_object_object_add(o, "compression-type", json_object_new_string(qi.compression));
            json_object_object_add(o, "snapshots", json_object_new_int((int)qi.snapshots));
            json_object_object_add(o, "dirty", json_object_new_boolean(qi.dirty));
            json_object_object_add(o, "corrupt", json_object_new_boolean(qi.corrupt));
            json_object_object_add(o, "lazy-refcounts", json_object_new_boolean(qi.lazy_refcounts));
            if (qi.backing_name)
                json_object_object_add(o, "backing-filename", json_object_new_string(qi.backing_name));
            if (qi.backing_fmt)
                json_object_object_add(o, "backing-filename-format", json_object_new_string(qi.backing_fmt));
            if (qi.unsupported)
                json_object_object_add(o, "unsupported", json_object_new_string(qi.unsupported));
        }
        struct json_object *arr = json_object_new_array();
        for (unsigned i = 0; i < n; i++) {
            struct json_object *e = json_object_new_object();
            json_object_object_add(e, "filename", json_object_new_string(chain[i].path));
            json_object_object_add(e, "format", json_object_new_string(img_format_name(chain[i].fmt)));
            json_object_object_add(e, "virtual-size", json_object_new_int64((int64_t)chain[i].size));
            json_object_array_add(arr, e);
        }
        json_object_object_add(o, "backing-chain", arr);
        if (chain_error)
            json_object_object_add(o, "error", json_object_new_string(chain_error));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        char h[48];
        printf("image: %s\n", file);
        printf("format: %s", img_format_name(fmt));
        if (q)
            printf(" (version %u, compat %s)", qi.version, qi.version == 2 ? "0.10" : "1.1");
        size_human(vsize, h, sizeof(h));
        printf("\nvirtual size: %s (%llu bytes)\n", h, (unsigned long long)vsize);
        size_human(used, h, sizeof(h));
        printf("disk size: %s\n", h);
        if (q) {
            printf("cluster size: %u\n", qi.cluster_size);
            printf("refcount bits: %u\n", qi.refcount_bits);
            printf("compression: %s\n", qi.compression);
            printf("snapshots: %u\n", qi.snapshots);
            printf("dirty: %s\ncorrupt: %s\nlazy refcounts: %s\n", qi.dirty ? "yes" : "no",
                   qi.corrupt ? "yes" : "no", qi.lazy_refcounts ? "yes" : "no");
        }
        printf("in use: %s\n", !strcmp(use, "write") ? "yes, written by a running VM"
                               : !strcmp(use, "read") ? "yes, read-only (a read-only disk, or a backing file)"
                                                     : use);
        /* Names from the image (hostile bytes): escaped. */
        char shown[PRINTABLE_CAP(PATH_MAX)], fshown[PRINTABLE_CAP(64)];
        if (qi.backing_name)
            printf("backing file: %s (format %s)\n", printable(shown, sizeof(shown), qi.backing_name),
                   qi.backing_fmt ? printable(fshown, sizeof(fshown), qi.backing_fmt) : "not recorded");
        if (n > 1) {
            printf("backing chain:\n");
            for (unsigned i = 0; i < n; i++) {
                size_human(chain[i].size, h, sizeof(h));
                printf("  %s%s (%s, %s)\n", i ? "-> " : "", printable(shown, sizeof(shown), chain[i].path),
                       img_format_name(chain[i].fmt), h);
            }
        }
        if (qi.unsupported)
            printf("vireo cannot use it: %s\n", qi.unsupported);
    }
    int ret = 0;
    if (chain_error) {
        vlog_err("image info: %s", chain_error);
        ret = 1;
    }
    if (q)
        qcow2_close(q);
    else
        bfile_close(f);
    return ret;
}

/* --- resize ---------------------------------------------------------------- */

static int image_resize(int argc, char *const argv[])
{
    const char *fmt_s = NULL, *file = NULL, *size_s = NULL;
    const struct image_opt opts[] = {{"-f", &fmt_s, NULL}, {NULL, NULL, NULL}};
    const char **const operands[] = {&file, &size_s};
    int parsed = image_args(argc, argv, "resize", opts, operands, 2, usage);
    if (parsed >= 0)
        return parsed;
    if (!file || !size_s)
        return usage_error("resize: %s", "FILE and SIZE are needed");
    enum img_format fmt = IMG_FORMAT_NONE;
    if (fmt_s && img_format_parse(fmt_s, &fmt) < 0)
        return usage_error("resize: format '%s' is not raw or qcow2", fmt_s);
    uint64_t size;
    if (!parse_size(size_s, &size))
        return usage_error("resize: '%s' is not a size (e.g. 512M, 20G)", size_s);
    char err[2048];
    struct bfile *f;
    if (bfile_fd_open(&f, file, false, false, err, sizeof(err)) < 0) {
        vlog_err("image resize: %s", err);
        return 1;
    }
    if (fmt == IMG_FORMAT_NONE)
        fmt = looks_qcow2(f->fd) ? IMG_FORMAT_QCOW2 : IMG_FORMAT_RAW;
    int ret = 0;
    if (fmt == IMG_FORMAT_RAW) {
        struct stat st;
        uint64_t cur = 0;
        bfile_size(f, &cur);
        if (fstat(f->fd, &st) == 0 && S_ISBLK(st.st_mode)) {
            vlog_err("image resize: %s is a block device; grow the volume itself (e.g. lvextend)", file);
            ret = 1;
        } else if (size < cur) {
            vlog_err("image resize: %s: shrinking (from %llu to %llu bytes) is not supported", file,
                     (unsigned long long)cur, (unsigned long long)size);
            ret = 1;
        } else if (size % 512) {
            vlog_err("image resize: %s: the size must be a multiple of 512 bytes", size_s);
            ret = 1;
        } else if (bfile_truncate(f, size) < 0 || bfile_sync(f) < 0) {
            vlog_err("image resize: %s: %s", file, strerror(errno));
            ret = 1;
        }
        bfile_close(f);
    } else {
        struct qcow2 *q;
        if (qcow2_open(&q, f, file, NULL, err, sizeof(err)) < 0) {
            bfile_close(f);
            vlog_err("image resize: %s", err);
            return 1;
        }
        if (qcow2_grow(q, size, err, sizeof(err)) < 0) {
            vlog_err("image resize: %s: %s", file, err);
            ret = 1;
        }
        if (qcow2_close(q) < 0 && !ret) {
            vlog_err("image resize: %s: cannot write the image back", file);
            ret = 1;
        }
    }
    if (!ret) {
        char h[48];
        size_human(size, h, sizeof(h));
        printf("resized %s: %s\n", file, h);
    }
    return ret;
}

int cmd_image(int argc, char *const argv[])
{
    if (argc < 2)
        return usage_error("%s", "a subcommand is needed: create, info, resize, clone or import");
    const char *sub = argv[1];
    if (!strcmp(sub, "-h") || !strcmp(sub, "--help") || !strcmp(sub, "help")) {
        fputs(usage, stdout);
        return 0;
    }
    if (!strcmp(sub, "create"))
        return image_create(argc - 1, argv + 1);
    if (!strcmp(sub, "info"))
        return image_info(argc - 1, argv + 1);
    if (!strcmp(sub, "resize"))
        return image_resize(argc - 1, argv + 1);
    if (!strcmp(sub, "clone"))
        return cmd_image_clone(argc - 1, argv + 1, usage);
    if (!strcmp(sub, "import"))
        return cmd_image_import(argc - 1, argv + 1, usage);
    if (!strcmp(sub, "bootstrap"))
        return cmd_image_bootstrap(argc - 1, argv + 1);
    return usage_error("unknown subcommand '%s'", sub);
}

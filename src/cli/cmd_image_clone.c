/* `vireo image clone SRC DST`: a new disk sharing SRC's data (see
 * image/img_clone.h for how). */
#include "cli/cmd_image.h"
#include "cli/commands.h"
#include "cli/image_args.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/bfile.h"
#include "block/qcow2_header.h"
#include "image/img_clone.h"
#include "util/log.h"
#include "util/size.h"

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* SRC's format: -f, else raw unless it starts with qcow2's magic, which
 * is refused without -f: an overlay on a raw disk whose guest wrote that
 * header would have a VM read whatever backing file the guest names. */
static int src_format(const char *src, const char *fmt_s, enum img_format *fmt)
{
    if (fmt_s) {
        if (img_format_parse(fmt_s, fmt) < 0) {
            vlog_err("image clone: format '%s' is not raw or qcow2", fmt_s);
            return 2;
        }
        return 0;
    }
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vlog_err("image clone: %s: %s", src, strerror(errno));
        return 1;
    }
    uint8_t m[4];
    bool q = pread(fd, m, 4, 0) == 4 && qcow2_be32(m) == QCOW2_MAGIC;
    close(fd);
    if (q) {
        vlog_err("image clone: %s looks like a qcow2 image; say -f qcow2 (a qcow2 overlay on it) or -f raw (a "
                 "copy of its bytes, if it is a raw disk whose guest wrote a qcow2 header)", src);
        return 1;
    }
    *fmt = IMG_FORMAT_RAW;
    return 0;
}

int cmd_image_clone(int argc, char *const argv[], const char *usage)
{
    const char *fmt_s = NULL, *src = NULL, *dst = NULL, *cow_s = NULL;
    const struct image_opt opts[] = {{"-f", &fmt_s, NULL}, {"--snapshot-size", &cow_s, NULL}, {NULL, NULL, NULL}};
    const char **const operands[] = {&src, &dst};
    int parsed = image_args(argc, argv, "clone", opts, operands, 2, usage);
    if (parsed >= 0)
        return parsed;
    if (!src || !dst) {
        return cli_usage_error("image", "clone: SRC and DST are needed");
    }
    struct img_clone_opts o = {.progress = true};
    if (cow_s && (!parse_size(cow_s, &o.cow_size) || !o.cow_size)) {
        vlog_err("image clone: --snapshot-size '%s' is not a size (e.g. 2G)", cow_s);
        return 2;
    }
    int r = src_format(src, fmt_s, &o.fmt);
    if (r)
        return r;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct img_clone_result res;
    char err[2048];
    if (img_clone(src, dst, &o, &res, err, sizeof(err)) < 0) {
        vlog_err("image clone: %s", err);
        return 1;
    }
    double s = seconds_since(&t0);
    char extra[128] = "";
    if (res.method == IMG_CLONE_COPY) {
        char h[32];
        size_human(res.bytes_copied, h, sizeof(h));
        snprintf(extra, sizeof(extra), ", %s of data", h);
    }
    printf("cloned %s -> %s: %s (%s)%s, %.0f ms\n", src, res.path, img_clone_method_name(res.method),
           img_format_name(res.fmt), extra, s * 1000);
    if (res.method == IMG_CLONE_OVERLAY)
        printf("%s is now the base of %s: nothing may write it while %s exists\n", src, res.path, res.path);
    return 0;
}

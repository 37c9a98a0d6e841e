#include "block/dio_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_ALIGN 4096u        /* what the read probe tries up to, and its fallback */

static bool pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
    return v >= lo && v <= hi && !(v & (v - 1));
}

/* Whether a read of len bytes at off into buf is not refused for its
 * alignment (EINVAL); other outcomes say nothing against it. */
static bool read_ok(int fd, void *buf, uint32_t len, off_t off)
{
    ssize_t n;
    do
        n = pread(fd, buf, len, off);
    while (n < 0 && errno == EINTR);
    return n >= 0 || errno != EINVAL;
}

/* Where a file's data can tell: reads of holes, of extents not yet
 * allocated and past the end succeed at any alignment, so the probe reads
 * MAX_ALIGN bytes of allocated data (written back first); -1 if the file
 * has none. */
static off_t data_at(int fd)
{
    struct stat st;
    (void)fdatasync(fd);
    off_t at = lseek(fd, 0, SEEK_DATA);
    if (at < 0 || fstat(fd, &st) < 0)
        return -1;
    at &= ~(off_t)(MAX_ALIGN - 1);
    return st.st_size >= at + (off_t)MAX_ALIGN ? at : -1;
}

void dio_probe(int fd, bool is_bdev, bool use_statx, struct dio_align *out)
{
    out->offset = out->mem = MAX_ALIGN;
    struct statx sx;
    if (use_statx && statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN) &&
        pow2_in(sx.stx_dio_offset_align, 512, 65536) && pow2_in(sx.stx_dio_mem_align, 1, 65536)) {
        out->offset = sx.stx_dio_offset_align;
        out->mem = sx.stx_dio_mem_align;
        return;
    }
    uint8_t *buf;
    if (posix_memalign((void **)&buf, 2 * MAX_ALIGN, 4 * MAX_ALIGN))
        return;
    int lbs = 0;
    off_t at = 0;
    if (is_bdev && ioctl(fd, BLKSSZGET, &lbs) == 0 && pow2_in((uint32_t)lbs, 512, 65536)) {
        out->offset = (uint32_t)lbs;
    } else if (!is_bdev && (at = data_at(fd)) >= 0) {
        for (uint32_t a = 512; a <= MAX_ALIGN; a *= 2) {
            if (read_ok(fd, buf, a, at)) {
                out->offset = a;
                break;
            }
        }
    } else {
        free(buf);
        return;
    }
    /* buf + m is aligned to m and to no more. */
    if (out->offset <= MAX_ALIGN) {
        for (uint32_t m = 1; m <= MAX_ALIGN; m *= 2) {
            if (read_ok(fd, buf + m, out->offset, at)) {
                out->mem = m;
                break;
            }
        }
    }
    free(buf);
}

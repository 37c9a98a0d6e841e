#include "image/sparse_copy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/err.h"
#include "util/file.h"

#define CHUNK (64u << 20)
#define BUF   (1u << 20)

/* The data extent at or after off: [*start, *end); false past the last. */
static bool next_data(int fd, uint64_t off, uint64_t size, bool seek_ok, uint64_t *start, uint64_t *end)
{
    if (off >= size)
        return false;
    if (!seek_ok) {
        *start = off;
        *end = size;
        return true;
    }
    off_t d = lseek(fd, (off_t)off, SEEK_DATA);
    if (d < 0 || (uint64_t)d >= size)
        return false;   /* ENXIO: only a hole follows */
    off_t h = lseek(fd, d, SEEK_HOLE);
    *start = (uint64_t)d;
    *end = h < 0 || (uint64_t)h > size ? size : (uint64_t)h;
    return true;
}

static bool seek_supported(int fd)
{
    return lseek(fd, 0, SEEK_DATA) >= 0 || errno == ENXIO;
}

int sparse_data_bytes(int fd, uint64_t size, uint64_t *bytes)
{
    bool seek_ok = seek_supported(fd);
    uint64_t off = 0, s, e, n = 0;
    while (next_data(fd, off, size, seek_ok, &s, &e)) {
        n += e - s;
        off = e;
    }
    *bytes = n;
    return 0;
}

/* read/write where copy_file_range cannot go (another file system on an
 * old kernel, special files). */
static int copy_plain(int in, int out, uint64_t off, uint64_t len, struct progress *pr)
{
    char *buf = malloc(BUF);
    if (!buf)
        return -ENOMEM;
    int r = 0;
    while (len && !r) {
        size_t n = len < BUF ? (size_t)len : BUF;
        if (read_full_at(in, buf, n, off) < 0) {
            r = -errno;
            break;
        }
        ssize_t w = pwrite(out, buf, n, (off_t)off);
        if (w != (ssize_t)n) {
            r = w < 0 ? -errno : -EIO;
            break;
        }
        off += n;
        len -= n;
        if (pr)
            progress_add(pr, n);
    }
    free(buf);
    return r;
}

static int copy_range(int in, int out, uint64_t off, uint64_t len, bool *cfr_ok, struct progress *pr)
{
    while (len && *cfr_ok) {
        loff_t io = (loff_t)off, oo = (loff_t)off;
        ssize_t n = copy_file_range(in, &io, out, &oo, len < CHUNK ? (size_t)len : CHUNK, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)) {
            *cfr_ok = false;
            break;
        }
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;   /* the source shrank */
        off += (uint64_t)n;
        len -= (uint64_t)n;
        if (pr)
            progress_add(pr, (uint64_t)n);
    }
    return len ? copy_plain(in, out, off, len, pr) : 0;
}

int sparse_copy(int src_fd, uint64_t size, const char *dst, mode_t mode, struct progress *pr, char *err,
                size_t errlen)
{
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return err_fail(err, errlen, "%s: %s", dst, strerror(errno));
    bool seek_ok = seek_supported(src_fd), cfr_ok = true;
    uint64_t off = 0, s, e;
    int r = 0;
    while (!r && next_data(src_fd, off, size, seek_ok, &s, &e)) {
        r = copy_range(src_fd, fd, s, e - s, &cfr_ok, pr);
        off = e;
    }
    if (!r && ftruncate(fd, (off_t)size) < 0)
        r = -errno;
    if (!r && (fsync(fd) < 0 || fsync_parent_dir(dst) < 0))
        r = -errno;
    close(fd);
    if (r) {
        unlink(dst);
        return err_fail(err, errlen, "copying into %s: %s", dst, strerror(-r));
    }
    return 0;
}

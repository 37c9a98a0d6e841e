/* Image files on descriptors: the one place that opens, sizes, probes
 * (O_DIRECT's alignment) and locks a host file for a disk, whatever its
 * format, and does its synchronous I/O with the bounces O_DIRECT needs. */
#include "block/bfile.h"
#include "block/dio_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int raw_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0) {             /* end of file: the rest reads as zeroes */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static int raw_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static bool aligned(const struct bfile *f, const void *buf, size_t len, uint64_t off)
{
    return !((len | off) & (f->align - 1)) && !((uintptr_t)buf & (f->mem_align - 1));
}

/* O_DIRECT with an unaligned request: through an aligned bounce buffer
 * covering the request (read-modify-write for writes; callers serialize
 * metadata writes, so nobody writes the rest of those blocks meanwhile). */
static int bounce(struct bfile *f, void *rbuf, const void *wbuf, size_t len, uint64_t off)
{
    uint64_t a = f->align;
    uint64_t start = off & ~(a - 1), end = (off + len + a - 1) & ~(a - 1);
    void *tmp;
    if (posix_memalign(&tmp, a > f->mem_align ? a : f->mem_align, end - start))
        return -ENOMEM;
    /* A write of whole blocks needs nothing from the file. */
    bool whole = !rbuf && start == off && end == off + len;
    int r = whole ? 0 : raw_pread(f->fd, tmp, end - start, start);
    if (!r) {
        if (rbuf) {
            memcpy(rbuf, (uint8_t *)tmp + (off - start), len);
        } else {
            memcpy((uint8_t *)tmp + (off - start), wbuf, len);
            r = raw_pwrite(f->fd, tmp, end - start, start);
        }
    }
    free(tmp);
    return r;
}

static int fd_pread(struct bfile *f, void *buf, size_t len, uint64_t off)
{
    if (!aligned(f, buf, len, off))
        return bounce(f, buf, NULL, len, off);
    return raw_pread(f->fd, buf, len, off);
}

static int fd_pwrite(struct bfile *f, const void *buf, size_t len, uint64_t off)
{
    if (!aligned(f, buf, len, off))
        return bounce(f, NULL, buf, len, off);
    return raw_pwrite(f->fd, buf, len, off);
}

static int fd_sync(struct bfile *f)
{
    while (fdatasync(f->fd) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

static int fd_size(struct bfile *f, uint64_t *size)
{
    if (f->is_bdev) {
        if (ioctl(f->fd, BLKGETSIZE64, size) < 0)
            return -errno;
        return 0;
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0)
        return -errno;
    *size = (uint64_t)st.st_size;
    return 0;
}

static int fd_truncate(struct bfile *f, uint64_t size)
{
    if (f->is_bdev) {
        /* A device cannot grow: what fits is fine, the rest is full. */
        uint64_t have;
        int r = fd_size(f, &have);
        if (r)
            return r;
        return size <= have ? 0 : -ENOSPC;
    }
    while (ftruncate(f->fd, (off_t)size) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    return 0;
}

static int fd_punch(struct bfile *f, uint64_t off, uint64_t len)
{
    if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0)
        return errno == EOPNOTSUPP || errno == ENOSYS ? -EOPNOTSUPP : -errno;
    return 0;
}

static void fd_close(struct bfile *f)
{
    close(f->fd);
    free(f);
}

static const struct bfile_ops fd_ops = {
    .pread = fd_pread, .pwrite = fd_pwrite, .sync = fd_sync, .size = fd_size,
    .truncate = fd_truncate, .punch = fd_punch, .close = fd_close,
};

int bfile_lock_probe(int fd)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type;
}

struct bfile *bfile_fd_wrap(int fd, uint32_t align)
{
    struct bfile *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->ops = &fd_ops;
    f->fd = fd;
    f->align = f->mem_align = align ? align : 1;
    f->logical_block = 512;
    struct stat st;
    if (fstat(fd, &st) == 0) {
        f->dev = (uint64_t)st.st_dev;
        f->ino = (uint64_t)st.st_ino;
        f->is_bdev = S_ISBLK(st.st_mode);
    }
    return f;
}

int bfile_fd_open(struct bfile **out, const char *path, bool ro, bool direct, char *err, size_t errlen)
{
    int flags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct ? O_DIRECT : 0);
    int e, fd = open(path, flags);
    if (fd < 0) {
        e = errno;
        if (e == EINVAL && direct)
            snprintf(err, errlen, "%s: cache=none needs O_DIRECT, which its file system does not support (use "
                     "cache=writeback)", path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    struct stat st;
    uint32_t logical_block = 512;
    if (fstat(fd, &st) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        goto fail;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        e = EINVAL;
        snprintf(err, errlen, "%s: not a regular file or a block device", path);
        goto fail;
    }
    if (S_ISBLK(st.st_mode)) {
        int lbs = 0;
        uint64_t size;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0 || ioctl(fd, BLKSSZGET, &lbs) < 0) {
            e = errno;
            snprintf(err, errlen, "%s: cannot read the block device's size: %s", path, strerror(e));
            goto fail;
        }
        if (lbs >= 512 && lbs <= 65536 && !(lbs & (lbs - 1)))
            logical_block = (uint32_t)lbs;
    }
    /* One writer or any number of readers, across processes (OFD locks
     * are per open file, so they also hold between two disks of one VM). */
    struct flock fl = {.l_type = ro ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        e = errno;
        if (e == EAGAIN || e == EACCES) {
            e = EAGAIN;
            snprintf(err, errlen, "%s: in use by another VM or process, which holds %s lock on it", path,
                     ro ? "a write" : "a");
        } else {
            snprintf(err, errlen, "%s: cannot lock: %s", path, strerror(e));
        }
        goto fail;
    }
    struct dio_align a = {1, 1};
    if (direct) {
        /* Probed, not assumed: on 4 KiB-sector storage O_DIRECT refuses
         * 512-byte I/O. */
        dio_probe(fd, S_ISBLK(st.st_mode), true, &a);
    }
    struct bfile *f = bfile_fd_wrap(fd, 1);
    if (!f) {
        e = ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    f->align = a.offset;
    f->mem_align = a.mem;
    f->direct = direct;
    f->logical_block = logical_block;
    *out = f;
    return 0;
fail:
    close(fd);
    return -e;
}

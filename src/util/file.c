#include "util/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int open_input(const char *path, const char *what, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vlog_err("%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vlog_err("%s %s: %s", what, path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        vlog_err("%s %s: not a regular file", what, path);
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

char *read_input(const char *path, const char *what, uint64_t max, uint64_t *size)
{
    int fd = open_input(path, what, size);
    if (fd < 0)
        return NULL;
    if (*size > max) {
        vlog_err("%s: %llu bytes is too large for a %s", path, (unsigned long long)*size, what);
        close(fd);
        return NULL;
    }
    char *buf = malloc(*size + 1);
    if (!buf || read_full_at(fd, buf, *size, 0) < 0) {
        vlog_err("%s: %s", path, buf ? strerror(errno) : "out of memory");
        free(buf);
        close(fd);
        return NULL;
    }
    buf[*size] = '\0';
    close(fd);
    return buf;
}

int read_full_at(int fd, void *dst, size_t len, uint64_t offset)
{
    uint8_t *p = dst;
    while (len) {
        ssize_t n = pread(fd, p, len, (off_t)offset);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO; /* the file shrank under us */
            return -1;
        }
        p += n;
        len -= (size_t)n;
        offset += (uint64_t)n;
    }
    return 0;
}

int read_sparse_at(int fd, void *dst, size_t len, uint64_t offset)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    if ((uint64_t)st.st_size < offset || (uint64_t)st.st_size - offset < len) {
        errno = EIO;
        return -1;
    }
    uint8_t *p = dst;
    uint64_t end = offset + len, pos = offset;
    while (pos < end) {
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0 && errno != ENXIO)   /* a file system without it: read it all */
            return read_full_at(fd, p + (pos - offset), (size_t)(end - pos), pos);
        /* ENXIO: no data after pos, the rest is a hole */
        uint64_t d = data < 0 || (uint64_t)data > end ? end : (uint64_t)data;
        if (d == end)
            break;
        off_t hole = lseek(fd, (off_t)d, SEEK_HOLE);
        uint64_t h = hole < 0 || (uint64_t)hole > end ? end : (uint64_t)hole;
        if (h <= d)
            h = end;   /* a file system that says otherwise: read it all */
        if (read_full_at(fd, p + (d - offset), (size_t)(h - d), d) < 0)
            return -1;
        pos = h;
    }
    return 0;
}

int write_sparse(int fd, const void *src, size_t len)
{
    off_t start = lseek(fd, 0, SEEK_CUR);
    if (start < 0)
        return -1;
    const uint8_t *p = src;
    static const uint8_t zero[4096];
    size_t at = 0;
    while (at < len) {
        size_t n = len - at < sizeof(zero) ? len - at : sizeof(zero);
        if (!memcmp(p + at, zero, n)) {
            at += n;
            continue;
        }
        /* a run of blocks with data */
        size_t run = n;
        while (at + run < len) {
            size_t m = len - at - run < sizeof(zero) ? len - at - run : sizeof(zero);
            if (!memcmp(p + at + run, zero, m))
                break;
            run += m;
        }
        if (lseek(fd, start + (off_t)at, SEEK_SET) < 0 || write_full(fd, p + at, run) < 0)
            return -1;
        at += run;
    }
    if (ftruncate(fd, start + (off_t)len) < 0 || lseek(fd, start + (off_t)len, SEEK_SET) < 0)
        return -1;
    return 0;
}

int write_full(int fd, const void *src, size_t len)
{
    const uint8_t *p = src;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int fsync_parent_dir(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return r;
}

#include "image/img_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/bfile.h"
#include "block/qcow2_sync.h"
#include "util/err.h"

int img_reader_open(struct img_reader *r, const char *path, enum img_format fmt, bool lock, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct bfile *f = NULL;
    if (lock) {
        if (bfile_fd_open(&f, path, true, false, err, errlen) < 0)
            return -1;
    } else {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_fail(err, errlen, "%s: %s", path, strerror(errno));
        f = bfile_fd_wrap(fd, 1);
        if (!f) {
            close(fd);
            return err_fail(err, errlen, "%s: out of memory", path);
        }
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0 || (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
        bfile_close(f);
        return err_fail(err, errlen, "%s: not a regular file or a block device", path);
    }
    r->path = strdup(path);
    r->top.fmt = fmt;
    r->top.path = r->path;
    if (fmt == IMG_FORMAT_QCOW2) {
        struct qcow2_open_opts o = {.read_only = true};
        if (qcow2_open(&r->top.qcow2, f, path, &o, err, errlen) < 0) {
            bfile_close(f);
            free(r->path);
            r->path = NULL;
            return -1;
        }
        r->top.file = qcow2_file(r->top.qcow2);
        r->top.size = qcow2_size(r->top.qcow2);
        return 0;
    }
    r->top.file = f;
    r->blockdev = S_ISBLK(st.st_mode);
    int e = bfile_size(f, &r->top.size);
    if (e < 0) {
        bfile_close(f);
        free(r->path);
        r->path = NULL;
        return err_fail(err, errlen, "%s: %s", path, strerror(-e));
    }
    return 0;
}

void img_reader_close(struct img_reader *r)
{
    if (r->top.qcow2)
        qcow2_close(r->top.qcow2);
    else
        bfile_close(r->top.file);
    free(r->path);
    memset(r, 0, sizeof(*r));
}

/* Whether [off, off+len) of link l starts with data: *data, for *n >= 1
 * bytes (at most len).  off < len's end is inside the caller's disk, not
 * necessarily inside l (past its end it reads zeroes). */
static int status(const struct qcow2_link *l, uint64_t off, uint64_t len, bool *data, uint64_t *n)
{
    if (l->fmt == IMG_FORMAT_NONE || off >= l->size) {
        *data = false;
        *n = len;
        return 0;
    }
    uint64_t in = l->size - off < len ? l->size - off : len;
    if (l->fmt == IMG_FORMAT_RAW) {
        int fd = l->file->fd;
        *data = true;
        *n = in;
        if (fd < 0)
            return 0;
        off_t d = lseek(fd, (off_t)off, SEEK_DATA);
        if (d < 0) {
            if (errno == ENXIO) {   /* nothing but a hole from here */
                *data = false;
                *n = len;
            }
            return 0;   /* EINVAL: no SEEK_DATA here; all data */
        }
        if ((uint64_t)d > off) {
            *data = false;
            *n = (uint64_t)d - off < len ? (uint64_t)d - off : len;
            return 0;
        }
        off_t h = lseek(fd, (off_t)off, SEEK_HOLE);
        if (h > (off_t)off && (uint64_t)h - off < in)
            *n = (uint64_t)h - off;
        return 0;
    }
    struct qcow2_map m;
    int r = qcow2_map_read(l->qcow2, off, in, &m);
    if (r < 0)
        return r;
    const struct qcow2_extent *e = &m.ext[0];
    uint64_t ticket = m.ticket;
    if (e->kind == QCOW2_BACKING) {
        uint64_t elen = e->len;
        qcow2_io_end(l->qcow2, ticket);
        return status(qcow2_backing(l->qcow2), off, elen, data, n);
    }
    *data = e->kind != QCOW2_ZERO;
    *n = 0;
    for (unsigned i = 0; i < m.n && (m.ext[i].kind == QCOW2_ZERO) == !*data && m.ext[i].kind != QCOW2_BACKING; i++)
        *n += m.ext[i].len;
    qcow2_io_end(l->qcow2, ticket);
    if (!*data && in < len && *n == in)
        *n = len;   /* zeroes past the image's end too */
    return 0;
}

int img_reader_next_data(struct img_reader *r, uint64_t off, uint64_t max, uint64_t *start, uint64_t *len)
{
    uint64_t size = r->top.size;
    *start = off;
    *len = 0;
    while (off < size) {
        bool data;
        uint64_t n;
        int e = status(&r->top, off, size - off, &data, &n);
        if (e < 0)
            return e;
        if (!n)
            return -EIO;
        if (!data) {
            off += n;
            continue;
        }
        /* Adjacent data extents come as one, up to max. */
        *start = off;
        uint64_t got = 0;
        while (data && got < max && off + got < size) {
            got += n;
            if (got >= max || off + got >= size)
                break;
            e = status(&r->top, off + got, size - off - got, &data, &n);
            if (e < 0)
                return e;
        }
        *len = got < max ? got : max;
        if (*start + *len > size)
            *len = size - *start;
        return 0;
    }
    *start = size;
    return 0;
}

int img_reader_read(struct img_reader *r, void *buf, uint64_t len, uint64_t off)
{
    return qcow2_link_read(&r->top, buf, len, off);
}

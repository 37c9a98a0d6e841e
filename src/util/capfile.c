#include "util/capfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* O_NONBLOCK: opening a FIFO planted at path must not wait for a reader;
 * it is refused below anyway.  Readable too: a rotation copies the file. */
static int open_checked(const char *path, mode_t mode, bool append, uint64_t *size, char *err, size_t errlen)
{
    int flags = O_RDWR | (append ? O_APPEND : 0) | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = open(path, flags, mode);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP) {
            snprintf(err, errlen, "%s: is a symbolic link; refusing to follow it (it could name any file)", path);
        } else if (e == ENXIO) {   /* a FIFO without a reader, a socket */
            snprintf(err, errlen, "%s: not a regular file; refusing to write to it", path);
            e = EINVAL;
        } else {
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        }
        errno = e;
        return -1;
    }
    struct stat st;
    int e = 0;
    if (fstat(fd, &st) < 0) {
        e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
    } else if (!S_ISREG(st.st_mode)) {
        e = EINVAL;
        snprintf(err, errlen, "%s: not a regular file; refusing to write to it", path);
    } else if (st.st_nlink != 1) {
        e = EMLINK;
        snprintf(err, errlen, "%s: has %lu hard links; refusing to write to it (it could be any file's)", path,
                 (unsigned long)st.st_nlink);
    }
    if (e) {
        close(fd);
        errno = e;
        return -1;
    }
    fcntl(fd, F_SETFL, append ? O_APPEND : 0);   /* drop O_NONBLOCK */
    *size = (uint64_t)st.st_size;
    return fd;
}

int capfile_open(struct capfile *f, const char *path, uint64_t max, mode_t mode, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->fd = f->old_fd = -1;
    if (strlen(path) + 3 > sizeof(f->path)) {   /* room for ".1" */
        snprintf(err, errlen, "%s: path too long", path);
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(f->path, path);
    f->max = max < CAPFILE_MIN_MAX ? CAPFILE_MIN_MAX : max;
    f->fd = open_checked(path, mode, true, &f->size, err, errlen);
    if (f->fd < 0)
        return -1;
    char old[sizeof(f->path)];
    uint64_t old_size;
    snprintf(old, sizeof(old), "%s.1", path);
    f->old_fd = open_checked(old, mode, false, &old_size, err, errlen);
    if (f->old_fd < 0) {
        int e = errno;
        close(f->fd);
        f->fd = -1;
        errno = e;
        return -1;
    }
    pthread_mutex_init(&f->lock, NULL);
    return 0;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;   /* a full disk: dropped, as anything that does not fit */
        p += w;
        n -= (size_t)w;
    }
}

static void onto_stdio(const struct capfile *f)
{
    dup2(f->fd, STDOUT_FILENO);
    dup2(f->fd, STDERR_FILENO);
}

/* len bytes from the start of in to the start of out: in the kernel where
 * it can, else through a buffer. */
static int copy_all(int in, int out, uint64_t len)
{
    loff_t ip = 0, op = 0;
    while ((uint64_t)ip < len) {
        ssize_t n = copy_file_range(in, &ip, out, &op, (size_t)(len - (uint64_t)ip), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            continue;
        if (n == 0)
            return 0;   /* shorter than we thought: someone truncated it */
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
            return -1;
        char buf[16384];
        while ((uint64_t)ip < len) {
            ssize_t r = pread(in, buf, sizeof(buf), ip);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                return r < 0 ? -1 : 0;
            for (ssize_t w = 0; w < r;) {
                ssize_t k = pwrite(out, buf + w, (size_t)(r - w), op);
                if (k < 0 && errno == EINTR)
                    continue;
                if (k <= 0)
                    return -1;
                w += k;
                op += k;
            }
            ip += r;
        }
    }
    return 0;
}

/* PATH's content becomes PATH.1's, and PATH starts again empty (logrotate's
 * copytruncate).  Both are our own descriptors, opened and checked at
 * capfile_open: a rotation resolves no path, so nothing planted in the
 * directory since is ever followed, and it works where the process can
 * reach no path at all (the VM process's jail). */
static void rotate(struct capfile *f)
{
    if (ftruncate(f->old_fd, 0) < 0 || copy_all(f->fd, f->old_fd, f->size) < 0 || ftruncate(f->fd, 0) < 0) {
        char line[sizeof(f->path) + 256];
        int n = snprintf(line, sizeof(line), "vireo: %s reached %llu bytes and cannot be rotated (%s); nothing "
                                             "more is written to it\n",
                         f->path, (unsigned long long)f->max, strerror(errno));
        write_all(f->fd, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
        f->stopped = true;
        return;
    }
    f->size = 0;
    f->rotations++;
}

void capfile_write(struct capfile *f, const void *buf, size_t n)
{
    if (f->fd < 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (!f->stopped && f->size + n > f->max) {
        struct stat st;   /* someone may have truncated it (logrotate's copytruncate) */
        if (fstat(f->fd, &st) == 0)
            f->size = (uint64_t)st.st_size;
        if (f->size + n > f->max && f->size > 0)
            rotate(f);
    }
    if (!f->stopped) {
        size_t take = n < f->max ? n : (size_t)f->max;
        write_all(f->fd, buf, take);
        f->size += take;
    }
    pthread_mutex_unlock(&f->lock);
}

void capfile_onto_stdio(struct capfile *f)
{
    pthread_mutex_lock(&f->lock);
    f->onto_stdio = true;
    if (f->fd >= 0)
        onto_stdio(f);
    pthread_mutex_unlock(&f->lock);
}

void capfile_close(struct capfile *f)
{
    if (f->fd < 0)
        return;
    close(f->fd);
    close(f->old_fd);
    f->fd = f->old_fd = -1;
    pthread_mutex_destroy(&f->lock);
}

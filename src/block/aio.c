#include "block/aio_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "util/iov.h"

/* Larger transfers stay on the engine, where the kernel's workers can copy
 * several at once while the loop goes on. */
#define INLINE_MAX_LEN (128u << 10)

struct aio_engine *aio_engine_new(struct event_loop *loop, enum aio_kind kind, unsigned depth,
                                  char *why, size_t why_len)
{
    if (why_len)
        why[0] = 0;
    struct aio_engine *e = NULL;
    if (kind != AIO_THREADS)
        e = aio_uring_new(loop, depth, why, why_len);
    if (!e && kind != AIO_IO_URING)
        e = aio_threads_new(loop, why + strlen(why), why_len - strlen(why));
    if (e) {
        e->allow_inline = kind == AIO_AUTO;
        e->inline_fd = -1;
        e->inline_tail = &e->inline_done;
    }
    return e;
}

void aio_engine_free(struct aio_engine *e)
{
    if (e)
        e->ops->free(e);
}

const char *aio_engine_name(const struct aio_engine *e)
{
    return e->ops->name;
}

void aio_engine_set_batch_end(struct aio_engine *e, void (*fn)(void *), void *opaque)
{
    e->batch_end = fn;
    e->batch_opaque = opaque;
}

void aio_poll_begin(struct aio_engine *e)
{
    if (e->ops->poll_begin)
        e->ops->poll_begin(e);
}

bool aio_poll(struct aio_engine *e)
{
    return e->ops->poll && e->ops->poll(e);
}

bool aio_poll_end(struct aio_engine *e)
{
    return e->ops->poll_end && e->ops->poll_end(e);
}

/* tmpfs and ramfs take no O_DIRECT/nowait fast path in io_uring: every
 * request would be handed to a kernel worker thread only to copy memory,
 * two thread wake-ups that cost more than the copy. */
static bool fd_in_memory(int fd)
{
    struct statfs s;
    return fstatfs(fd, &s) == 0 && (s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC);
}

void aio_engine_register_fd(struct aio_engine *e, int fd)
{
    if (e->ops->register_fd)
        e->ops->register_fd(e, fd);
    if (e->allow_inline && e->inline_fd < 0 && fd_in_memory(fd))
        e->inline_fd = fd;
}

bool aio_engine_inline(const struct aio_engine *e)
{
    return e->inline_fd >= 0;
}

void aio_engine_set_max_transfer(struct aio_engine *e, size_t bytes)
{
    e->max_transfer = bytes;
}

/* The first cap bytes of iov (all of it if cap is 0) in out. */
static unsigned iov_head(const struct iovec *iov, unsigned n, size_t cap, struct iovec *out)
{
    unsigned k = 0;
    for (size_t left = cap; k < n && k < AIO_MAX_IOV && left; k++) {
        out[k] = iov[k];
        if (out[k].iov_len > left)
            out[k].iov_len = left;
        left -= out[k].iov_len;
    }
    return k;
}

static int64_t run_syscall(struct aio_req *r, size_t cap)
{
    ssize_t n;
    struct iovec head[AIO_MAX_IOV];
    const struct iovec *iov = r->iov;
    int cnt = (int)r->iovcnt;
    if (cap && (r->op == AIO_READ || r->op == AIO_WRITE)) {
        cnt = (int)iov_head(r->iov, r->iovcnt, cap, head);
        iov = head;
    }
    switch (r->op) {
    case AIO_READ:
        n = preadv2(r->fd, iov, cnt, (off_t)r->offset, r->rw_flags);
        break;
    case AIO_WRITE:
        n = pwritev2(r->fd, iov, cnt, (off_t)r->offset, r->rw_flags);
        break;
    case AIO_FDATASYNC:
        n = fdatasync(r->fd);
        break;
    default:
        n = fallocate(r->fd, r->falloc_mode, (off_t)r->offset, (off_t)r->len);
        break;
    }
    return n < 0 ? -errno : n;
}

static void run_sync(struct aio_req *r, size_t cap)
{
    int64_t res;
    do
        res = run_syscall(r, cap);
    while (res == -EINTR || !aio_req_progress(r, res));
}

void aio_req_run_sync(struct aio_req *r)
{
    run_sync(r, 0);
}

void aio_run_sync(struct aio_req *req)
{
    aio_req_start(req);
    aio_req_run_sync(req);
}

void aio_submit(struct aio_engine *e, struct aio_req *req)
{
    aio_req_start(req);
    if (!e->max_transfer &&
        (req->fd != e->inline_fd || req->fd < 0 ||
         ((req->op == AIO_READ || req->op == AIO_WRITE) && req->len > INLINE_MAX_LEN))) {
        e->ops->submit(e, req);
        return;
    }
    /* Done now; req->done runs from aio_flush like any completion, so the
     * device sees the same order of events from every path. */
    run_sync(req, e->max_transfer);
    req->next = NULL;
    *e->inline_tail = req;
    e->inline_tail = &req->next;
}

void aio_flush(struct aio_engine *e)
{
    e->ops->flush(e);
    /* A done() that submits and flushes again lands here nested: the outer
     * loop takes its requests. */
    if (e->inline_running || !e->inline_done)
        return;
    e->inline_running = true;
    while (e->inline_done) {
        struct aio_req *r = e->inline_done;
        e->inline_done = r->next;
        if (!e->inline_done)
            e->inline_tail = &e->inline_done;
        r->done(r);
    }
    e->inline_running = false;
    aio_batch_end(e);
}

int aio_kind_parse(const char *s, enum aio_kind *out)
{
    if (!strcmp(s, "io_uring"))
        *out = AIO_IO_URING;
    else if (!strcmp(s, "threads"))
        *out = AIO_THREADS;
    else
        return -1;
    return 0;
}

void aio_req_start(struct aio_req *req)
{
    req->transferred = 0;
    req->result = 0;
    if (req->op == AIO_READ || req->op == AIO_WRITE)
        req->len = iov_size(req->iov, req->iovcnt);
}

bool aio_req_progress(struct aio_req *req, int64_t res)
{
    if (req->op != AIO_READ && req->op != AIO_WRITE) {
        req->result = res < 0 ? res : 0;
        return true;
    }
    if (res < 0) {
        req->result = res;
        return true;
    }
    req->transferred += (uint64_t)res;
    if (req->transferred >= req->len) {
        req->result = (int64_t)req->transferred;
        return true;
    }
    if (res == 0) {
        if (req->op == AIO_WRITE) {
            req->result = -EIO;
            return true;
        }
        /* Reading past the end of a file that shrank under us: zeroes,
         * as a sparse file's hole would read. */
        iov_memset0(req->iov, req->iovcnt);
        req->result = (int64_t)req->len;
        return true;
    }
    iov_advance(&req->iov, &req->iovcnt, (size_t)res);
    req->offset += (uint64_t)res;
    return false;
}

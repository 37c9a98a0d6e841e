#include "block/aio_impl.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct aio_engine *aio_engine_new(struct event_loop *loop, enum aio_kind kind, unsigned depth,
                                  char *why, size_t why_len)
{
    if (why_len)
        why[0] = 0;
    if (kind != AIO_THREADS) {
        struct aio_engine *e = aio_uring_new(loop, depth, why, why_len);
        if (e || kind == AIO_IO_URING)
            return e;
    }
    return aio_threads_new(loop, why + strlen(why), why_len - strlen(why));
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

void aio_engine_register_fd(struct aio_engine *e, int fd)
{
    if (e->ops->register_fd)
        e->ops->register_fd(e, fd);
}

void aio_submit(struct aio_engine *e, struct aio_req *req)
{
    aio_req_start(req);
    e->ops->submit(e, req);
}

void aio_flush(struct aio_engine *e)
{
    e->ops->flush(e);
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
    if (req->op == AIO_READ || req->op == AIO_WRITE) {
        req->len = 0;
        for (unsigned i = 0; i < req->iovcnt; i++)
            req->len += req->iov[i].iov_len;
    }
}

static void iov_advance(struct aio_req *req, uint64_t n)
{
    while (n && req->iovcnt) {
        if (n >= req->iov->iov_len) {
            n -= req->iov->iov_len;
            req->iov++;
            req->iovcnt--;
        } else {
            req->iov->iov_base = (uint8_t *)req->iov->iov_base + n;
            req->iov->iov_len -= n;
            n = 0;
        }
    }
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
        for (unsigned i = 0; i < req->iovcnt; i++)
            memset(req->iov[i].iov_base, 0, req->iov[i].iov_len);
        req->result = (int64_t)req->len;
        return true;
    }
    iov_advance(req, (uint64_t)res);
    req->offset += (uint64_t)res;
    return false;
}

/* Shared by the aio engines; not for device models. */
#ifndef VIREO_BLOCK_AIO_IMPL_H
#define VIREO_BLOCK_AIO_IMPL_H

#include "block/aio.h"

struct aio_engine_ops {
    const char *name;
    void (*submit)(struct aio_engine *e, struct aio_req *req);
    void (*flush)(struct aio_engine *e);
    void (*free)(struct aio_engine *e);
    /* Optional (see aio_poll). */
    void (*poll_begin)(struct aio_engine *e);
    bool (*poll)(struct aio_engine *e);
    bool (*poll_end)(struct aio_engine *e);
    void (*register_fd)(struct aio_engine *e, int fd);
};

struct aio_engine {
    const struct aio_engine_ops *ops;
    struct event_loop *loop;
    void (*batch_end)(void *opaque);
    void *batch_opaque;
    /* A memory-backed image served by plain syscalls on the loop's thread
     * (see aio_engine_register_fd); -1 if none. */
    bool allow_inline;
    int inline_fd;
    bool inline_running;
    struct aio_req *inline_done, **inline_tail;
    size_t max_transfer;       /* tests: short transfers (aio_engine_set_max_transfer) */
};

static inline void aio_batch_end(struct aio_engine *e)
{
    if (e->batch_end)
        e->batch_end(e->batch_opaque);
}

struct aio_engine *aio_uring_new(struct event_loop *loop, unsigned depth, char *why, size_t why_len);
/* For tests: whether the engine's ring carries IORING_REGISTER_RESTRICTIONS,
 * and the result (cqe->res) of one submission of an opcode on it. */
bool aio_uring_restricted(const struct aio_engine *e);
int aio_uring_try_opcode(struct aio_engine *e, unsigned opcode);
struct aio_engine *aio_threads_new(struct event_loop *loop, char *why, size_t why_len);

/* Accounts a completed syscall's result: true if the request is finished
 * (result set), false if the rest of a short transfer must be sent again
 * (iov/offset advanced). */
bool aio_req_progress(struct aio_req *req, int64_t res);
void aio_req_start(struct aio_req *req);
/* Does the request with blocking syscalls until it is finished (short
 * transfers continued, EINTR retried); the result is in req->result. */
void aio_req_run_sync(struct aio_req *req);

#endif

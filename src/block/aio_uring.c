/* The io_uring engine: one ring per event loop, its completions signalled
 * on an eventfd the loop watches, submissions batched (in pieces of
 * URING_SUBMIT_BATCH; the rest at aio_flush). */
#include "block/aio_impl.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"

#define URING_SUBMIT_BATCH 8

struct uring_engine {
    struct aio_engine base;
    struct io_uring ring;
    int efd;
    struct el_watch watch;
    unsigned queued;                  /* prepared, not yet submitted */
    bool restricted;                  /* IORING_REGISTER_RESTRICTIONS in force */
    int fixed_fd;                     /* registered as fixed file 0, or -1 */
    bool reaping;
    struct aio_req *overflow, **overflow_tail;  /* waiting for SQ space */
    struct vlog_ratelimit log;        /* a failing ring fails again at every guest kick */
};

static bool prep(struct uring_engine *u, struct aio_req *r)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return false;
    switch (r->op) {
    case AIO_READ:
        io_uring_prep_readv2(sqe, r->fd, r->iov, r->iovcnt, r->offset, r->rw_flags);
        break;
    case AIO_WRITE:
        io_uring_prep_writev2(sqe, r->fd, r->iov, r->iovcnt, r->offset, r->rw_flags);
        break;
    case AIO_FDATASYNC:
        io_uring_prep_fsync(sqe, r->fd, IORING_FSYNC_DATASYNC);
        break;
    case AIO_FALLOCATE:
        io_uring_prep_fallocate(sqe, r->fd, r->falloc_mode, r->offset, r->len);
        break;
    }
    /* The disk's fd is registered: no fd table lookup per request. */
    if (r->fd == u->fixed_fd && u->fixed_fd >= 0) {
        sqe->fd = 0;
        sqe->flags |= IOSQE_FIXED_FILE;
    }
    io_uring_sqe_set_data(sqe, r);
    u->queued++;
    return true;
}

static void do_submit(struct uring_engine *u)
{
    while (u->queued) {
        int n = io_uring_submit(&u->ring);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            /* The prepared entries stay in the ring and go with the next
             * flush (EBUSY/EAGAIN clear once completions are reaped). */
            if (n != -EBUSY && n != -EAGAIN)
                vlog_ratelimited(&u->log, "io_uring_submit: %s", strerror(-n));
            return;
        }
        u->queued -= (unsigned)n < u->queued ? (unsigned)n : u->queued;
        if (n == 0)
            return;
    }
}

static void uring_submit(struct aio_engine *e, struct aio_req *r)
{
    struct uring_engine *u = (struct uring_engine *)e;
    if (u->overflow || !prep(u, r)) {
        do_submit(u);
        if (u->overflow || !prep(u, r)) {
            r->next = NULL;
            *u->overflow_tail = r;
            u->overflow_tail = &r->next;
        }
    }
    /* A burst goes to the kernel in pieces: a virtio or NVMe disk starts
     * on the first ones while the rest are still being prepared, and is
     * told of each piece with one doorbell.  One submission for a whole
     * queue of 32 left the disk idle meanwhile: allocated 4 KiB random
     * writes at QD32 on ext4 over virtio-blk went from 80k to 95k IOPS
     * with pieces of 8 (bench/qcow2-native.sh); pieces of 1 to 4 did no
     * better and cost more system calls. */
    if (u->queued >= URING_SUBMIT_BATCH)
        do_submit(u);
}

static void reap_cqes(struct uring_engine *u)
{
    u->reaping = true;
    for (;;) {
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        struct aio_req *done = NULL, **tail = &done;
        io_uring_for_each_cqe(&u->ring, head, cqe) {
            struct aio_req *r = io_uring_cqe_get_data(cqe);
            if (aio_req_progress(r, cqe->res)) {
                r->next = NULL;
                *tail = r;
                tail = &r->next;
            } else if (!prep(u, r)) {
                r->next = u->overflow;   /* rare: resubmit first */
                u->overflow = r;
                if (u->overflow_tail == &u->overflow)
                    u->overflow_tail = &r->next;
            }
            n++;
        }
        io_uring_cq_advance(&u->ring, n);
        /* The CQ slot is free before done() runs, which may submit more. */
        while (done) {
            struct aio_req *r = done;
            done = r->next;
            r->done(r);
        }
        while (u->overflow) {
            struct aio_req *r = u->overflow;
            if (!prep(u, r))
                break;
            u->overflow = r->next;
            if (!u->overflow)
                u->overflow_tail = &u->overflow;
        }
        do_submit(u);
        if (n == 0)
            break;
    }
    u->reaping = false;
    aio_batch_end(&u->base);
}

static void reap(void *opaque, uint32_t events)
{
    (void)events;
    struct uring_engine *u = opaque;
    uint64_t v;
    if (read(u->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    reap_cqes(u);
}

static void uring_flush(struct aio_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    do_submit(u);
    /* Fast files (page cache hits, tmpfs) complete during submission:
     * take those now instead of after a trip through epoll.  Inside a
     * reap the outer loop picks them up. */
    if (!u->reaping && io_uring_cq_ready(&u->ring))
        reap_cqes(u);
}

static void uring_poll_begin(struct aio_engine *e)
{
    io_uring_cq_eventfd_toggle(&((struct uring_engine *)e)->ring, false);
}

static bool uring_poll(struct aio_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    if (!io_uring_cq_ready(&u->ring))
        return false;
    reap_cqes(u);
    return true;
}

static bool uring_poll_end(struct aio_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    io_uring_cq_eventfd_toggle(&u->ring, true);
    /* A completion posted while the eventfd was off signalled nothing. */
    return io_uring_cq_ready(&u->ring) > 0;
}

static void uring_free(struct aio_engine *e)
{
    struct uring_engine *u = (struct uring_engine *)e;
    event_loop_del(e->loop, &u->watch);
    /* The ring's teardown is asynchronous and a registered file would stay
     * open (and the image locked) for a while after we exit; unregistering
     * waits. */
    if (u->fixed_fd >= 0)
        io_uring_unregister_files(&u->ring);
    io_uring_queue_exit(&u->ring);
    close(u->efd);
    free(u);
}

static void uring_register_fd(struct aio_engine *e, int fd)
{
    struct uring_engine *u = (struct uring_engine *)e;
    if (u->fixed_fd < 0 && io_uring_register_files(&u->ring, &fd, 1) == 0)
        u->fixed_fd = fd;
}

static const struct aio_engine_ops uring_ops = {
    .name = "io_uring", .submit = uring_submit, .flush = uring_flush, .free = uring_free,
    .poll_begin = uring_poll_begin, .poll = uring_poll, .poll_end = uring_poll_end,
    .register_fd = uring_register_fd,
};

/* io_uring submissions are no system calls: seccomp never sees them, and
 * a ring can open files, connect sockets, send messages.  So each ring is
 * created disabled, told the only operations it carries (vectored reads
 * and writes, fsync, fallocate, on a registered file or not) and the only
 * registrations it takes from now on (the image's file, and dropping it),
 * then enabled: anything else completes with -EACCES.  Its eventfd is
 * registered before.  Kernels before 5.10 refuse disabled rings: the ring
 * is then unrestricted, and the log says so once. */
/* liburing 2.3 declares io_uring_register_restrictions() and
 * io_uring_enable_rings() but Debian's library does not export them: the
 * system call itself. */
static int ring_register(struct io_uring *ring, unsigned op, const void *arg, unsigned n)
{
    return syscall(__NR_io_uring_register, ring->ring_fd, op, arg, n) < 0 ? -errno : 0;
}

static int ring_init(struct uring_engine *u, unsigned depth)
{
    struct io_uring_params p = {.flags = IORING_SETUP_R_DISABLED};
    int err = io_uring_queue_init_params(depth, &u->ring, &p);
    if (err == -EINVAL) {
        static bool said;
        if (!said)
            vlog_info("io_uring: this kernel cannot restrict a ring's operations (Linux 5.10+); rings are "
                      "unrestricted");
        said = true;
        return io_uring_queue_init(depth, &u->ring, 0);
    }
    if (err < 0)
        return err;
    static const struct io_uring_restriction allowed[] = {
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_READV},
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_WRITEV},
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FSYNC},
        {.opcode = IORING_RESTRICTION_SQE_OP, .sqe_op = IORING_OP_FALLOCATE},
        {.opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED, .sqe_flags = IOSQE_FIXED_FILE},
        {.opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_REGISTER_FILES},
        {.opcode = IORING_RESTRICTION_REGISTER_OP, .register_op = IORING_UNREGISTER_FILES},
    };
    u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->efd < 0 || (err = io_uring_register_eventfd(&u->ring, u->efd)) < 0 ||
        (err = ring_register(&u->ring, IORING_REGISTER_RESTRICTIONS, allowed,
                             sizeof(allowed) / sizeof(allowed[0]))) < 0 ||
        (err = ring_register(&u->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0)) < 0) {
        if (u->efd < 0)
            err = -errno;
        else
            close(u->efd);
        u->efd = -1;
        io_uring_queue_exit(&u->ring);
        return err;
    }
    u->restricted = true;
    return 0;
}

int aio_uring_try_opcode(struct aio_engine *e, unsigned opcode)
{
    struct uring_engine *u = (struct uring_engine *)e;
    if (e->ops != &uring_ops)
        return -EINVAL;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_nop(sqe);
    sqe->opcode = (uint8_t)opcode;
    sqe->fd = -1;
    io_uring_sqe_set_data64(sqe, 0);
    int r = io_uring_submit(&u->ring);
    struct io_uring_cqe *cqe;
    if (r >= 0)
        r = io_uring_wait_cqe(&u->ring, &cqe);
    if (r < 0)
        return r;
    int res = cqe->res;
    io_uring_cqe_seen(&u->ring, cqe);
    return res;
}

bool aio_uring_restricted(const struct aio_engine *e)
{
    return e->ops == &uring_ops && ((const struct uring_engine *)e)->restricted;
}

struct aio_engine *aio_uring_new(struct event_loop *loop, unsigned depth, char *why, size_t why_len)
{
    struct uring_engine *u = calloc(1, sizeof(*u));
    if (!u) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    if (depth < 8)
        depth = 8;
    if (depth > 4096)
        depth = 4096;
    u->efd = -1;
    int err = ring_init(u, depth);
    if (err < 0) {
        snprintf(why, why_len, "io_uring unavailable (%s); ", strerror(-err));
        free(u);
        return NULL;
    }
    if (u->efd < 0)   /* an unrestricted ring, whose eventfd comes now */
        u->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (u->efd < 0 || (!u->restricted && io_uring_register_eventfd(&u->ring, u->efd) < 0) ||
        event_loop_add(loop, &u->watch, u->efd, EPOLLIN, reap, u) < 0) {
        snprintf(why, why_len, "io_uring eventfd setup failed (%s); ", strerror(errno));
        if (u->efd >= 0)
            close(u->efd);
        io_uring_queue_exit(&u->ring);
        free(u);
        return NULL;
    }
    u->base.ops = &uring_ops;
    u->base.loop = loop;
    u->fixed_fd = -1;
    u->overflow_tail = &u->overflow;
    return &u->base;
}

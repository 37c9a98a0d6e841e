/* Asynchronous file I/O for one event loop: io_uring (liburing) when the
 * kernel allows it, else a small thread pool doing the same operations
 * with blocking syscalls.  Requests are queued with aio_submit() and sent
 * by aio_flush() (io_uring sends a long burst in pieces as it comes);
 * completions run req->done on the loop's thread. */
#ifndef VIREO_BLOCK_AIO_H
#define VIREO_BLOCK_AIO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "eventloop/event_loop.h"

enum aio_kind {
    AIO_AUTO,       /* io_uring, else threads */
    AIO_IO_URING,
    AIO_THREADS,
};

enum aio_op {
    AIO_READ,
    AIO_WRITE,
    AIO_FDATASYNC,
    AIO_FALLOCATE,
};

#define AIO_MAX_IOV 260

struct aio_req {
    enum aio_op op;
    int fd;
    struct iovec *iov;         /* may be advanced on short transfers */
    unsigned iovcnt;
    uint64_t offset;
    uint64_t len;              /* AIO_FALLOCATE: length; else filled in */
    int falloc_mode;
    int rw_flags;              /* AIO_READ/AIO_WRITE: RWF_* (RWF_DSYNC: write-through) */
    int64_t result;            /* bytes transferred, or -errno */
    void (*done)(struct aio_req *req);
    uint64_t transferred;      /* internal */
    struct aio_req *next;      /* internal */
};

struct aio_engine;

/* Creates an engine that completes on loop (watched from there).  With
 * AIO_AUTO an unusable io_uring falls back to threads; why says so. */
struct aio_engine *aio_engine_new(struct event_loop *loop, enum aio_kind kind, unsigned depth,
                                  char *why, size_t why_len);
void aio_engine_free(struct aio_engine *e);
const char *aio_engine_name(const struct aio_engine *e);

/* fn(opaque) runs on the loop after each batch of completions (where a
 * device sends one interrupt for the batch). */
void aio_engine_set_batch_end(struct aio_engine *e, void (*fn)(void *), void *opaque);

/* For an event loop's polling window: completions are looked for without
 * their eventfd (begin silences it; end re-arms it and says whether
 * completions are waiting); aio_poll reaps what is there. */
void aio_poll_begin(struct aio_engine *e);
bool aio_poll(struct aio_engine *e);
bool aio_poll_end(struct aio_engine *e);

/* A hint: fd will carry most requests (the engine may pre-register it).
 * Under AIO_AUTO, a file in memory (tmpfs, ramfs) is then served by plain
 * syscalls on the loop's thread for transfers up to 128 KiB: the copy is
 * cheaper than the hand-off to a kernel worker io_uring makes for it. */
void aio_engine_register_fd(struct aio_engine *e, int fd);
bool aio_engine_inline(const struct aio_engine *e);

/* For tests: caps each read and write syscall at bytes, so that transfers
 * come back short as a file system may return them; such requests are
 * done on the loop's thread.  0 lifts the cap. */
void aio_engine_set_max_transfer(struct aio_engine *e, size_t bytes);

void aio_submit(struct aio_engine *e, struct aio_req *req);
/* Does req now with blocking syscalls on the calling thread (short
 * transfers continued, EINTR retried, reads past the end of the file
 * zero-filled); the result is in req->result and done is not called. */
void aio_run_sync(struct aio_req *req);
void aio_flush(struct aio_engine *e);

/* Parses "io_uring" / "threads" (QEMU's aio= names); -1 if neither. */
int aio_kind_parse(const char *s, enum aio_kind *out);

#endif

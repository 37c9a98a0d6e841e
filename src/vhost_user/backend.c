#include "vhost_user/backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/log.h"
#include "util/unix_sock.h"
#include "vhost_user/msg.h"

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- The log a front-end can reach ------------------------------------------ */

/* How often things go wrong is the front-end's choice (a broken ring is
 * reported at every kick), so its lines are rationed: a flood costs a few
 * lines and a count, never unbounded log growth. */
static bool ration(atomic_ulong *count, const char *enough)
{
    unsigned long n = atomic_fetch_add(count, 1);
    if (n == VU_LOG_LINES)
        vlog_err("vhost-user: %s", enough);
    return n < VU_LOG_LINES;
}

void vu_complain(struct vu_backend *b, const char *fmt, ...)
{
    if (!ration(&b->complaints, "more errors from this front-end; they are counted, not logged"))
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    vlog_err("vhost-user: %s", line);
}

/* A new front-end gets a fresh budget; the last one's overflow is told. */
static void complaints_settle(struct vu_backend *b)
{
    unsigned long n = atomic_exchange(&b->complaints, 0);
    if (n > VU_LOG_LINES)
        vlog_err("vhost-user: the front-end left; %lu more errors from it were not logged", n - VU_LOG_LINES);
    atomic_store(&b->broken_logged, false);
}

/* ---- Device callbacks (any thread) ----------------------------------------- */

static void dev_notify(void *transport, unsigned qi)
{
    struct vu_queue *q = &((struct vu_backend *)transport)->q[qi];
    uint64_t one = 1;
    pthread_mutex_lock(&q->fd_lock);
    if (q->call_fd >= 0)
        (void)!write(q->call_fd, &one, sizeof(one));
    pthread_mutex_unlock(&q->fd_lock);
}

static void dev_broken(void *transport, const char *why)
{
    struct vu_backend *b = transport;
    /* Once per ring start: the device calls this at every kick until the
     * front-end restarts the ring; the err fds hear of each. */
    if (!atomic_exchange(&b->broken_logged, true))
        vu_complain(b, "the front-end broke a queue: %s", why);
    uint64_t one = 1;
    for (unsigned i = 0; i < b->dev->num_queues; i++) {
        pthread_mutex_lock(&b->q[i].fd_lock);
        if (b->q[i].err_fd >= 0)
            (void)!write(b->q[i].err_fd, &one, sizeof(one));
        pthread_mutex_unlock(&b->q[i].fd_lock);
    }
}

/* ---- Socket -------------------------------------------------------------------- */

static void on_listen(void *opaque, uint32_t events);

/* Faults signalled so far came from regions that are gone now. */
static void forget_faults(struct vu_backend *b)
{
    uint64_t v;
    (void)!read(b->fault_fd, &v, sizeof(v));
}

static void drop_conn(struct vu_backend *b)
{
    if (b->conn_fd >= 0) {
        event_loop_del(b->loop, &b->w_conn);
        close_fd(&b->conn_fd);
    }
    vu_backend_reset(b);
    forget_faults(b);
    complaints_settle(b);
    if (b->listener.fd >= 0)
        event_loop_add(b->loop, &b->w_listen, b->listener.fd, EPOLLIN, on_listen, b);
}

/* The front-end shrank a file behind its memory table: the guard has put
 * anonymous memory in its place, and the front-end goes (whatever it does
 * next, it can no longer share memory with us). */
static void on_fault(void *opaque, uint32_t events)
{
    (void)events;
    struct vu_backend *b = opaque;
    int k = vu_mem_faulted(&b->mem);
    if (k >= 0)
        vlog_err("vhost-user: the front-end shrank the file behind memory region %d under us (SIGBUS); "
                 "dropping it", k);
    else
        vlog_err("vhost-user: the front-end shrank the file behind a memory region under us (SIGBUS); "
                 "dropping it");
    drop_conn(b);
}

static void on_conn(void *opaque, uint32_t events)
{
    (void)events;
    struct vu_backend *b = opaque;
    struct vhost_user_msg m, reply;
    int fds[VHOST_USER_MAX_FDS];
    unsigned nfds;
    if (vu_msg_recv(b->conn_fd, &m, fds, &nfds) < 0) {
        if (errno == EPROTO)
            vu_complain(b, "malformed message; dropping the front-end");
        drop_conn(b);
        return;
    }
    int r = vu_backend_handle(b, &m, fds, nfds, &reply);
    if (r < 0 || (r == 1 && vu_msg_send(b->conn_fd, &reply, NULL, 0) < 0))
        drop_conn(b);
}

static void on_listen(void *opaque, uint32_t events)
{
    (void)events;
    struct vu_backend *b = opaque;
    int c = accept4(b->listener.fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    /* The control socket's rule: the mode of the socket file keeps others
     * out, and this holds even if someone loosens it. */
    struct ucred cr;
    if (!unix_peer_allowed(c, b->owner, &cr)) {
        if (ration(&b->refusals, "more front-ends refused; not logging them")) {
            char who[32] = "";
            if (b->owner != 0)
                snprintf(who, sizeof(who), "uid %u and ", (unsigned)b->owner);
            vlog_err("vhost-user: refused a front-end of uid %d (pid %d): only %sroot may connect", (int)cr.uid,
                     (int)cr.pid, who);
        }
        close(c);
        return;
    }
    /* One front-end at a time, as a disk has one driver. */
    event_loop_del(b->loop, &b->w_listen);
    b->conn_fd = c;
    event_loop_add(b->loop, &b->w_conn, c, EPOLLIN, on_conn, b);
}

static int listen_on(struct vu_backend *b, const char *path, char *err, size_t errlen);

int vu_backend_init(struct vu_backend *b, struct virtio_dev *dev, struct event_loop *loop, const char *path,
                    char *err, size_t errlen)
{
    memset(b, 0, sizeof(*b));
    b->dev = dev;
    b->loop = loop;
    b->listener.fd = b->conn_fd = b->fault_fd = -1;
    b->owner = geteuid();
    atomic_init(&b->complaints, 0);
    atomic_init(&b->refusals, 0);
    atomic_init(&b->broken_logged, false);
    if (dev->num_queues > VU_MAX_QUEUES) {
        snprintf(err, errlen, "too many queues");
        return -1;
    }
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
        b->q[i].kick_fd = b->q[i].call_fd = b->q[i].err_fd = -1;
        pthread_mutex_init(&b->q[i].fd_lock, NULL);
    }
    dev->transport = b;
    dev->notify = dev_notify;
    dev->broken = dev_broken;
    /* While fault_fd is open, it is watched. */
    b->fault_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->fault_fd < 0 || event_loop_add(loop, &b->w_fault, b->fault_fd, EPOLLIN, on_fault, b) < 0) {
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        close_fd(&b->fault_fd);
        vu_backend_destroy(b);
        return -1;
    }
    if (path && listen_on(b, path, err, errlen) < 0) {
        vu_backend_destroy(b);
        return -1;
    }
    return 0;
}

/* While the listener is open and no front-end is connected, it is watched. */
static int listen_on(struct vu_backend *b, const char *path, char *err, size_t errlen)
{
    char why[400];
    if (unix_listen_private(&b->listener, path, 1, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "--socket %s", why);
        return -1;
    }
    if (event_loop_add(b->loop, &b->w_listen, b->listener.fd, EPOLLIN, on_listen, b) < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        unix_listener_close(&b->listener);
        return -1;
    }
    return 0;
}

void vu_backend_destroy(struct vu_backend *b)
{
    if (b->conn_fd >= 0) {
        event_loop_del(b->loop, &b->w_conn);
        close_fd(&b->conn_fd);
    } else if (b->listener.fd >= 0) {
        event_loop_del(b->loop, &b->w_listen);
    }
    vu_backend_reset(b);
    unix_listener_close(&b->listener);
    if (b->fault_fd >= 0) {
        event_loop_del(b->loop, &b->w_fault);
        close_fd(&b->fault_fd);
    }
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
        pthread_mutex_destroy(&b->q[i].fd_lock);
}

#include "virtio/console.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/iov.h"
#include "util/log.h"

enum { RXQ, TXQ, NQUEUES };

/* Output written, and chains taken (an empty or refused chain costs
 * nothing else), per turn of the loop before it serves anything else: a
 * guest that reposts chains as fast as they come back cannot hold it. */
#define TX_BUDGET (64 * 1024)
#define CHAIN_BUDGET VCONS_QUEUE_SIZE
/* How soon output is tried again when its reader is behind; after a spent
 * budget, at once (the next turn of the loop). */
#define RETRY_NS (5 * 1000 * 1000)
#define AGAIN_NS 1
/* Configuration space (5.3.4): le16 cols, le16 rows, le32 max_nr_ports,
 * le32 emerg_wr.  None of the features that give them meaning is offered,
 * so it reads as zeros and writes are ignored. */
#define CONFIG_LEN 12

struct cq {
    struct vcons *c;
    unsigned index;
    struct vq vq;
    int kick;
    struct el_watch w;
    bool on;
};

struct vcons {
    struct virtio_dev dev;     /* first: the transport's handle */
    char name[32];
    int out_fd;
    struct event_loop *loop;
    struct cq q[NQUEUES];
    struct vq_elem rx;         /* the loop's scratch chain for input */
    /* The transmit chain being written out: kept across turns of the loop
     * while the output's reader is behind. */
    struct vq_elem tx;
    bool tx_held;
    size_t tx_off;
    int timer_fd;
    struct el_watch w_timer;
    pthread_mutex_t lock;      /* cnt, read by other threads */
    struct vcons_counters cnt;
    struct vlog_ratelimit log;
};

static void add_counters(struct vcons *c, const struct vcons_counters *d)
{
    pthread_mutex_lock(&c->lock);
    c->cnt.tx_bytes += d->tx_bytes;
    c->cnt.rx_bytes += d->rx_bytes;
    c->cnt.tx_dropped += d->tx_dropped;
    c->cnt.bad_buffers += d->bad_buffers;
    pthread_mutex_unlock(&c->lock);
}

static void retry_in(struct vcons *c, long ns)
{
    struct itimerspec t = {.it_value = {.tv_nsec = ns}};
    /* Cannot fail for a valid timerfd and time; if it did, the chain held
     * would wait for the driver's next kick. */
    if (timerfd_settime(c->timer_fd, 0, &t, NULL) < 0)
        vlog_ratelimited(&c->log, "%s: timer: %s", c->name, strerror(errno));
}

/* 0: the bytes are out (or dropped for good); 1: the reader is behind or
 * the budget is spent, try again later.  out_fd is non-blocking where
 * the console is a terminal or a pipe (vm_resources opens it so); where
 * that could not be had, POLLOUT first and at most PIPE_BUF bytes keep a
 * pipe's write from blocking. */
static int write_some(struct vcons *c, size_t *budget, struct vcons_counters *d)
{
    const struct vq_elem *e = &c->tx;
    while (c->tx_off < e->out_len) {
        if (*budget == 0)
            return 1;
        /* POLLOUT on a pipe means PIPE_BUF bytes fit: a write that large
         * does not block, whatever the descriptor's O_NONBLOCK says (it is
         * the UART's too, which writes from vCPU threads and may wait). */
        struct pollfd p = {.fd = c->out_fd, .events = POLLOUT};
        int pr = poll(&p, 1, 0);
        if (pr == 0 || (pr < 0 && errno == EINTR))
            return 1;
        if (pr < 0 || (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
            goto drop;
        size_t n = e->out_len - c->tx_off;
        if (n > PIPE_BUF)
            n = PIPE_BUF;
        if (n > *budget)
            n = *budget;
        struct iovec part[VQ_ELEM_MAX_IOV];
        int k = iov_slice(e->iov, e->out_num, c->tx_off, n, part, VQ_ELEM_MAX_IOV);
        if (k < 0)
            goto drop;
        ssize_t w = writev(c->out_fd, part, k);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            return 1;
        if (w <= 0)
            goto drop;
        c->tx_off += (size_t)w;
        *budget -= (size_t)w;
        d->tx_bytes += (uint64_t)w;
    }
    return 0;
drop:
    /* Nobody reads the console any more (`vireo run | head`): what the
     * guest writes is dropped, as a UART's would be. */
    d->tx_dropped += e->out_len - c->tx_off;
    c->tx_off = e->out_len;
    return 0;
}

static void tx_work(struct vcons *c)
{
    struct cq *q = &c->q[TXQ];
    struct vcons_counters d = {0};
    size_t budget = TX_BUDGET;
    unsigned chains = CHAIN_BUDGET;
    bool pushed = false;
    if (!q->on || q->vq.broken)
        return;
    for (;;) {
        if (!c->tx_held) {
            if (chains-- == 0) {
                retry_in(c, AGAIN_NS);
                break;
            }
            int r = vq_pop(&q->vq, &c->tx);
            if (r == 0) {
                if (vq_enable_kicks(&q->vq))
                    continue;
                break;
            }
            if (r < 0) {
                c->dev.broken(c->dev.transport, q->vq.why ? q->vq.why : "bad queue");
                break;
            }
            if (c->tx.in_num) {
                d.bad_buffers++;
                vq_push(&q->vq, c->tx.head, 0);
                pushed = true;
                continue;
            }
            c->tx_held = true;
            c->tx_off = 0;
        }
        if (write_some(c, &budget, &d)) {
            retry_in(c, budget ? RETRY_NS : AGAIN_NS);
            break;
        }
        vq_push(&q->vq, c->tx.head, 0);
        pushed = true;
        c->tx_held = false;
    }
    if (d.bad_buffers)
        vlog_ratelimited(&c->log, "%s: the guest sent %llu transmit buffers the device may not read",
                         c->name, (unsigned long long)d.bad_buffers);
    add_counters(c, &d);
    if (pushed && vq_should_notify(&q->vq))
        c->dev.notify(c->dev.transport, q->index);
}

static void on_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct cq *q = opaque;
    uint64_t v;
    (void)!read(q->kick, &v, sizeof(v));
    /* Receive buffers wait for input (vcons_rx_push); nothing to do. */
    if (q->index == TXQ)
        tx_work(q->c);
}

static void on_timer(void *opaque, uint32_t events)
{
    (void)events;
    struct vcons *c = opaque;
    uint64_t v;
    (void)!read(c->timer_fd, &v, sizeof(v));
    tx_work(c);
}

struct qcall {
    struct vcons *c;
    unsigned q;
    int ret;
    const struct vq *vq;
    int kick;
};

static void start_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct cq *q = &a->c->q[a->q];
    q->vq = *a->vq;
    q->kick = a->kick;
    a->ret = event_loop_add(a->c->loop, &q->w, q->kick, EPOLLIN, on_kick, q);
    q->on = a->ret == 0;
    if (q->on && q->index == TXQ)
        tx_work(a->c);
}

static int cons_queue_start(struct virtio_dev *d, unsigned qi, const struct vq *vq, int kick_fd)
{
    struct vcons *c = (struct vcons *)d;
    if (qi >= NQUEUES)
        return -1;
    struct qcall a = {c, qi, -1, vq, kick_fd};
    event_loop_call(c->loop, start_on_loop, &a);
    return a.ret;
}

static void stop_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct vcons *c = a->c;
    struct cq *q = &c->q[a->q];
    if (q->on)
        event_loop_del(c->loop, &q->w);
    q->on = false;
    /* The chain being written goes back to the ring: whoever resumes from
     * the index returned takes it again. */
    if (q->index == TXQ && c->tx_held) {
        vq_unpop(&q->vq, 1);
        c->tx_held = false;
    }
    a->ret = q->vq.last_avail;
}

static uint16_t cons_queue_stop(struct virtio_dev *d, unsigned qi)
{
    struct vcons *c = (struct vcons *)d;
    if (qi >= NQUEUES)
        return 0;
    struct qcall a = {c, qi, 0, NULL, -1};
    event_loop_call(c->loop, stop_on_loop, &a);
    return (uint16_t)a.ret;
}

static void cons_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
    (void)d, (void)off;
    memset(buf, 0, len);
}

static void cons_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
    (void)d, (void)off, (void)buf, (void)len;
}

static const struct virtio_dev_ops cons_ops = {
    .config_read = cons_config_read,
    .config_write = cons_config_write,
    .queue_start = cons_queue_start,
    .queue_stop = cons_queue_stop,
};

struct vcons *vcons_new(const char *name, int out_fd, struct event_loop *loop, char *err, size_t errlen)
{
    struct vcons *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "console: out of memory");
        return NULL;
    }
    snprintf(c->name, sizeof(c->name), "%s", name ? name : "console");
    c->out_fd = out_fd;
    c->loop = loop;
    pthread_mutex_init(&c->lock, NULL);
    c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->timer_fd < 0 || event_loop_add(loop, &c->w_timer, c->timer_fd, EPOLLIN, on_timer, c) < 0) {
        snprintf(err, errlen, "%s: timer: %s", c->name, strerror(errno));
        if (c->timer_fd >= 0)
            close(c->timer_fd);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    for (unsigned i = 0; i < NQUEUES; i++) {
        c->q[i].c = c;
        c->q[i].index = i;
        c->q[i].kick = -1;
    }
    c->dev.ops = &cons_ops;
    c->dev.device_id = VIRTIO_ID_CONSOLE;
    c->dev.host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_F_INDIRECT_DESC);
    c->dev.num_queues = NQUEUES;
    c->dev.queue_max = VCONS_QUEUE_SIZE;
    c->dev.config_len = CONFIG_LEN;
    return c;
}

void vcons_free(struct vcons *c)
{
    if (!c)
        return;
    event_loop_del(c->loop, &c->w_timer);
    close(c->timer_fd);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

struct virtio_dev *vcons_dev(struct vcons *c)
{
    return &c->dev;
}

struct rx_call {
    struct vcons *c;
    const uint8_t *buf;
    size_t len, done;
};

static void rx_on_loop(void *arg)
{
    struct rx_call *a = arg;
    struct vcons *c = a->c;
    struct cq *q = &c->q[RXQ];
    struct vcons_counters d = {0};
    bool pushed = false;
    if (!q->on || q->vq.broken)
        return;
    /* At most a ring's worth of chains per call, whatever they hold. */
    for (unsigned chains = q->vq.size; a->done < a->len && chains; chains--) {
        int r = vq_pop(&q->vq, &c->rx);
        if (r == 0)
            break;
        if (r < 0) {
            c->dev.broken(c->dev.transport, q->vq.why ? q->vq.why : "bad queue");
            break;
        }
        size_t n = 0;
        if (c->rx.out_num)
            d.bad_buffers++;
        else
            n = iov_from_buf(c->rx.iov, c->rx.in_num, 0, a->buf + a->done, a->len - a->done);
        vq_push(&q->vq, c->rx.head, (uint32_t)n);
        pushed = true;
        a->done += n;
        d.rx_bytes += n;
    }
    add_counters(c, &d);
    if (pushed && vq_should_notify(&q->vq))
        c->dev.notify(c->dev.transport, q->index);
}

static void ready_on_loop(void *arg)
{
    struct rx_call *a = arg;
    struct cq *q = &a->c->q[RXQ];
    a->done = q->on && !q->vq.broken;
}

bool vcons_rx_ready(struct vcons *c)
{
    struct rx_call a = {c, NULL, 0, 0};
    event_loop_call(c->loop, ready_on_loop, &a);
    return a.done;
}

size_t vcons_rx_push(struct vcons *c, const uint8_t *buf, size_t len)
{
    struct rx_call a = {c, buf, len, 0};
    event_loop_call(c->loop, rx_on_loop, &a);
    return a.done;
}

void vcons_get_counters(struct vcons *c, struct vcons_counters *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->cnt;
    pthread_mutex_unlock(&c->lock);
}

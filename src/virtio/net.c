/* virtio-net: the device as the transport sees it (features, config
 * space, queue start and stop) and the control queue.  The data path is
 * in net_rxtx.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/net_impl.h"

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1
#define VIRTIO_NET_CTRL_MQ 4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0

/* Queue numbering (5.1.2): receiveq1, transmitq1, ..., receiveqN,
 * transmitqN, then the control queue after all max_virtqueue_pairs; a
 * driver without MQ knows one pair, and its control queue is queue 2. */
static unsigned ctrl_index(const struct vnet *n)
{
    return n->dev.features & BIT(VIRTIO_NET_F_MQ) ? 2 * n->opts.pairs : 2;
}

static unsigned offloads(uint64_t f)
{
    unsigned o = 0;
    /* Without GUEST_CSUM the guest takes only complete frames. */
    if (!(f & BIT(VIRTIO_NET_F_GUEST_CSUM)))
        return 0;
    o |= VNET_OFFLOAD_CSUM;
    if (f & BIT(VIRTIO_NET_F_GUEST_TSO4))
        o |= VNET_OFFLOAD_TSO4;
    if (f & BIT(VIRTIO_NET_F_GUEST_TSO6))
        o |= VNET_OFFLOAD_TSO6;
    if (f & BIT(VIRTIO_NET_F_GUEST_ECN))
        o |= VNET_OFFLOAD_ECN;
    return o;
}

/* -1 (the previous pairs restored) if the backend could not follow. */
static int set_pairs(struct vnet *n, unsigned active)
{
    unsigned before = atomic_load(&n->active_pairs);
    for (unsigned i = 0; n->opts.be.enable_pair && i < n->opts.pairs; i++) {
        if (n->opts.be.enable_pair(n->opts.be.opaque, i, i < active) < 0) {
            for (unsigned k = 0; k <= i; k++)
                n->opts.be.enable_pair(n->opts.be.opaque, k, k < before);
            return -1;
        }
    }
    atomic_store(&n->active_pairs, active);
    return 0;
}

/* ---- control queue ---- */

static uint8_t ctrl_command(struct vnet *n, uint8_t cls, uint8_t cmd, const struct vq_elem *e)
{
    if (cls == VIRTIO_NET_CTRL_MQ && cmd == VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET &&
        (n->dev.features & BIT(VIRTIO_NET_F_MQ))) {
        uint16_t pairs = 0;
        if (e->out_len < 4 || iov_to_buf(e->iov, e->out_num, 2, &pairs, 2) != 2 || pairs < 1 ||
            pairs > n->opts.pairs)
            return VIRTIO_NET_ERR;
        return set_pairs(n, pairs) < 0 ? VIRTIO_NET_ERR : VIRTIO_NET_OK;
    }
    return VIRTIO_NET_ERR;   /* nothing else is offered */
}

static void ctrl_work(struct vnet *n)
{
    struct vnet_ctrl *c = &n->ctrl;
    struct vq_elem *e = &c->elem;
    bool pushed = false;
    int r;
    if (c->vq.broken)
        return;   /* reported once; waits for the reset */
    for (;;) {
        r = c->on ? vq_pop(&c->vq, e) : 0;
        if (r == 0) {
            /* With EVENT_IDX the driver kicks only past avail_event. */
            if (c->on && vq_enable_kicks(&c->vq))
                continue;
            break;
        }
        if (r < 0) {
            n->dev.broken(n->dev.transport, c->vq.why ? c->vq.why : "bad control queue");
            break;
        }
        uint8_t hdr[2], ack = VIRTIO_NET_ERR;
        /* Command (device-readable) first, then the one-byte ack the
         * device writes (5.1.6.5). */
        if (e->in_len >= 1 && e->out_len >= 2 && iov_to_buf(e->iov, e->out_num, 0, hdr, 2) == 2)
            ack = ctrl_command(n, hdr[0], hdr[1], e);
        if (ack != VIRTIO_NET_OK)
            c->errors++;
        uint32_t written = 0;
        if (e->in_len >= 1)
            written = (uint32_t)iov_from_buf(e->iov + e->out_num, e->in_num, e->in_len - 1, &ack, 1);
        vq_push(&c->vq, e->head, written);
        pushed = true;
    }
    if (pushed && vq_should_notify(&c->vq))
        n->dev.notify(n->dev.transport, ctrl_index(n));
}

static void on_ctrl_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct vnet *n = opaque;
    uint64_t v;
    (void)!read(n->ctrl.kick, &v, sizeof(v));
    ctrl_work(n);
}

/* ---- transport interface ---- */

struct qcall {
    struct vnet *n;
    unsigned q;
    int ret;
    const struct vq *vq;       /* for starts */
    int kick;
    int call;                  /* for vhost-net: the queue's interrupt eventfd */
};

static void start_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct vnet *n = a->n;
    a->ret = 0;
    /* Queue state is the loop's: set here, not on the caller's thread. */
    if (a->q == ctrl_index(n)) {
        n->ctrl.vq = *a->vq;
        n->ctrl.kick = a->kick;
        a->ret = event_loop_add(n->ctrl.loop, &n->ctrl.w_kick, n->ctrl.kick, EPOLLIN, on_ctrl_kick, n);
        n->ctrl.on = a->ret == 0;
        if (n->ctrl.on)
            ctrl_work(n);
        return;
    }
    struct vnet_pair *p = &n->pairs[a->q / 2];
    if (p->vhost_fd >= 0) {
        vnet_vhost_start(p, a->q % 2 == 0, a->vq, a->kick, a->call);
        a->ret = (a->q % 2 == 0 ? p->rx_on : p->tx_on) ? 0 : -1;
        return;
    }
    if (a->q % 2 == 0) {
        p->rxq = *a->vq;
        p->rx_kick = a->kick;
        vnet_pair_start_rx(p);
    } else {
        p->txq = *a->vq;
        p->tx_kick = a->kick;
        vnet_pair_start_tx(p);
    }
    a->ret = (a->q % 2 == 0 ? p->rx_on : p->tx_on) ? 0 : -1;
}

static int net_queue_start(struct virtio_dev *d, unsigned q, const struct vq *vq, int kick_fd)
{
    struct vnet *n = (struct vnet *)d;
    if (q > ctrl_index(n))
        return -1;
    /* The features are final now: the backend delivers what this driver
     * accepts, and a driver without MQ uses one pair. */
    if (!atomic_exchange(&n->offload_set, true)) {
        /* Frames this driver did not accept must not come: better a
         * device that does not start than a guest fed what it refused. */
        if (n->opts.be.set_offload && n->opts.be.set_offload(n->opts.be.opaque, offloads(d->features)) < 0) {
            vlog_ratelimited(&n->log, "%s: the backend refused the guest's offloads", n->opts.name);
            atomic_store(&n->offload_set, false);
            return -1;
        }
        atomic_store(&n->active_pairs, n->opts.pairs);   /* so set_pairs touches every queue */
        if (set_pairs(n, 1) < 0) {
            vlog_ratelimited(&n->log, "%s: the backend cannot switch its queues", n->opts.name);
            atomic_store(&n->offload_set, false);
            return -1;
        }
    }
    /* Asked here: the vector is the transport's, whose lock we hold. */
    int call = d->queue_call_fd ? d->queue_call_fd(d->transport, q) : -1;
    struct qcall a = {n, q, -1, vq, kick_fd, call};
    event_loop_call(q == ctrl_index(n) ? n->ctrl.loop : n->pairs[q / 2].loop, start_on_loop, &a);
    return a.ret;
}

static void stop_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct vnet *n = a->n;
    if (a->q == ctrl_index(n)) {
        if (n->ctrl.on)
            event_loop_del(n->ctrl.loop, &n->ctrl.w_kick);
        n->ctrl.on = false;
        a->ret = n->ctrl.vq.last_avail;
        return;
    }
    struct vnet_pair *p = &n->pairs[a->q / 2];
    if (p->vhost_fd >= 0) {
        a->ret = vnet_vhost_stop(p, a->q % 2 == 0);
        return;
    }
    vnet_pair_stop(p, a->q % 2 == 0);
    a->ret = a->q % 2 == 0 ? p->rxq.last_avail : p->txq.last_avail;
}

static uint16_t net_queue_stop(struct virtio_dev *d, unsigned q)
{
    struct vnet *n = (struct vnet *)d;
    struct qcall a = {n, q, 0, NULL, -1, -1};
    if (q > ctrl_index(n))
        return 0;
    /* The next driver negotiates afresh. */
    atomic_store(&n->offload_set, false);
    event_loop_call(q == ctrl_index(n) ? n->ctrl.loop : n->pairs[q / 2].loop, stop_on_loop, &a);
    return (uint16_t)a.ret;
}

static void call_on_loop(void *arg)
{
    struct qcall *a = arg;
    vnet_vhost_set_call(&a->n->pairs[a->q / 2], a->q % 2 == 0, a->call);
}

static void net_queue_call_changed(struct virtio_dev *d, unsigned q, int call_fd)
{
    struct vnet *n = (struct vnet *)d;
    /* The user-space path asks the transport at each interrupt. */
    if (q >= ctrl_index(n) || n->pairs[q / 2].vhost_fd < 0)
        return;
    struct qcall a = {n, q, 0, NULL, -1, call_fd};
    event_loop_call(n->pairs[q / 2].loop, call_on_loop, &a);
}

static void net_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
    struct vnet *n = (struct vnet *)d;
    memset(buf, 0, len);
    if (off < sizeof(n->cfg))
        memcpy(buf, (uint8_t *)&n->cfg + off, len < sizeof(n->cfg) - off ? len : sizeof(n->cfg) - off);
}

static void net_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
    /* The MAC is writable only in legacy devices; nothing else is. */
    (void)d, (void)off, (void)buf, (void)len;
}

static const struct virtio_dev_ops net_ops = {
    .config_read = net_config_read,
    .config_write = net_config_write,
    .queue_start = net_queue_start,
    .queue_stop = net_queue_stop,
    .queue_call_changed = net_queue_call_changed,
};

struct vnet *vnet_new(const struct vnet_opts *opts, struct event_loop *const loops[], char *err, size_t errlen)
{
    if (opts->pairs < 1 || opts->pairs > VNET_MAX_PAIRS) {
        snprintf(err, errlen, "%s: queues=%u: expected 1 to %u", opts->name, opts->pairs, VNET_MAX_PAIRS);
        return NULL;
    }
    struct vnet *n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    n->opts = *opts;
    for (unsigned i = 0; i < opts->pairs; i++) {
        struct vnet_pair *p = &n->pairs[i];
        p->n = n;
        p->idx = i;
        p->fd = opts->be.fds[i];
        p->vhost_fd = opts->be.vhost ? opts->be.vhost_fds[i] : -1;
        p->vhost_err[0] = p->vhost_err[1] = -1;
        /* Made here: the I/O thread's filter has no eventfd2. */
        for (unsigned r = 0; p->vhost_fd >= 0 && r < 2; r++) {
            p->vhost_err[r] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (p->vhost_err[r] < 0) {
                snprintf(err, errlen, "%s: eventfd: %s", opts->name, strerror(errno));
                vnet_free(n);
                return NULL;
            }
        }
        p->rx_kick = p->tx_kick = -1;
        p->loop = loops[i];
        p->rx_est = VNET_HDR_LEN + VNET_ETH_HLEN + 1500; /* an MTU's frame until frames say otherwise */
        p->pkt = malloc(VNET_HDR_LEN + VNET_MAX_FRAME);
        if (!p->pkt) {
            snprintf(err, errlen, "out of memory");
            vnet_free(n);
            return NULL;
        }
    }
    n->ctrl.loop = n->pairs[0].loop;
    n->ctrl.kick = -1;
    memcpy(n->cfg.mac, opts->mac, 6);
    n->cfg.status = VIRTIO_NET_S_LINK_UP;
    n->cfg.max_virtqueue_pairs = (uint16_t)opts->pairs;
    atomic_store(&n->active_pairs, 1);

    n->dev.ops = &net_ops;
    n->dev.device_id = VIRTIO_ID_NET;
    n->dev.num_queues = 2 * opts->pairs + 1;
    n->dev.queue_max = VNET_QUEUE_SIZE;
    n->dev.config_len = sizeof(n->cfg);
    n->dev.host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                           BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS) | BIT(VIRTIO_NET_F_CTRL_VQ) |
                           BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_HOST_TSO4) |
                           BIT(VIRTIO_NET_F_HOST_TSO6) | BIT(VIRTIO_NET_F_HOST_ECN);
    /* Receive offloads need a backend that can deliver such frames. */
    if (opts->be.set_offload)
        n->dev.host_features |= BIT(VIRTIO_NET_F_GUEST_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) |
                                BIT(VIRTIO_NET_F_GUEST_TSO6) | BIT(VIRTIO_NET_F_GUEST_ECN);
    if (opts->pairs > 1)
        n->dev.host_features |= BIT(VIRTIO_NET_F_MQ);
    if (opts->be.vhost)
        n->dev.host_features = vnet_vhost_offer(n->dev.host_features, opts->be.vhost_features);
    return n;
}

void vnet_free(struct vnet *n)
{
    if (!n)
        return;
    for (unsigned i = 0; i < VNET_MAX_PAIRS; i++) {
        free(n->pairs[i].pkt);
        for (unsigned r = 0; r < 2; r++)
            if (n->pairs[i].vhost_err[r] > 0)   /* 0: a pair never set up (calloc) */
                close(n->pairs[i].vhost_err[r]);
    }
    free(n);
}

struct virtio_dev *vnet_dev(struct vnet *n)
{
    return &n->dev;
}

unsigned vnet_active_pairs(struct vnet *n)
{
    return atomic_load(&n->active_pairs);
}

unsigned vnet_pairs(const struct vnet *n)
{
    return n->opts.pairs;
}

void vnet_pair_stats(struct vnet *n, unsigned pair, struct vnet_stats *s)
{
    const struct vnet_pair *p = &n->pairs[pair];
    memset(s, 0, sizeof(*s));
    s->rx_packets = stat_read(&p->rx_packets);
    s->rx_bytes = stat_read(&p->rx_bytes);
    s->tx_packets = stat_read(&p->tx_packets);
    s->tx_bytes = stat_read(&p->tx_bytes);
    s->rx_dropped_too_big = stat_read(&p->rx_dropped_too_big);
    s->rx_bad_buffers = stat_read(&p->rx_bad_buffers);
    s->rx_dropped_offload = stat_read(&p->rx_dropped_offload);
    s->tx_bad_chain = stat_read(&p->tx_bad_chain);
    s->tx_bad_header = stat_read(&p->tx_bad_header);
    s->tx_backend_errors = stat_read(&p->tx_backend_errors);
    s->rx_no_buffers = stat_read(&p->rx_no_buffers);
    s->tx_backend_full = stat_read(&p->tx_backend_full);
}

void vnet_get_stats(struct vnet *n, struct vnet_stats *s)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < n->opts.pairs; i++) {
        struct vnet_stats p;
        vnet_pair_stats(n, i, &p);
        s->rx_packets += p.rx_packets;
        s->rx_bytes += p.rx_bytes;
        s->tx_packets += p.tx_packets;
        s->tx_bytes += p.tx_bytes;
        s->rx_dropped_too_big += p.rx_dropped_too_big;
        s->rx_bad_buffers += p.rx_bad_buffers;
        s->rx_dropped_offload += p.rx_dropped_offload;
        s->tx_bad_chain += p.tx_bad_chain;
        s->tx_bad_header += p.tx_bad_header;
        s->tx_backend_errors += p.tx_backend_errors;
        s->rx_no_buffers += p.rx_no_buffers;
        s->tx_backend_full += p.tx_backend_full;
    }
    s->ctrl_errors = atomic_load(&n->ctrl.errors);
}

/* virtio-net's data path, each queue pair on its own event loop: frames
 * from the backend into the receive queue's buffers, chains from the
 * transmit queue to the backend.  Everything the guest wrote is checked
 * before use, and what cannot be used is counted and dropped. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/net_impl.h"

/* Frames handled per wake-up before the loop looks at its other work, so
 * a busy direction cannot starve the other. */
#define BUDGET 256

static bool has(const struct vnet *n, unsigned bit)
{
    return n->dev.features & BIT(bit);
}

static void notify(struct vnet_pair *p, unsigned q, struct vq *vq)
{
    if (vq_should_notify(vq))
        p->n->dev.notify(p->n->dev.transport, q);
}

static void broken(struct vnet_pair *p, struct vq *vq)
{
    p->n->dev.broken(p->n->dev.transport, vq->why ? vq->why : "bad queue");
}

static void on_fd(void *opaque, uint32_t events);

/* The backend fd's watch: readable while receive buffers are posted,
 * writable while a frame waits for room. */
static void update_fd(struct vnet_pair *p)
{
    uint32_t ev = 0;
    /* A broken queue was reported once and waits for the reset. */
    if (p->rx_on && !p->rx_starved && !p->backend_gone && !p->rxq.broken)
        ev |= EPOLLIN;
    if (p->tx_on && p->tx_blocked && !p->txq.broken)
        ev |= EPOLLOUT;
    if (!p->fd_watched) {
        if (!ev || event_loop_add(p->loop, &p->w_fd, p->fd, ev, on_fd, p) < 0)
            return;
        p->fd_watched = true;
    } else if (!ev) {
        event_loop_del(p->loop, &p->w_fd);
        p->fd_watched = false;
        return;
    } else if (ev != p->fd_events) {
        event_loop_mod(p->loop, &p->w_fd, ev);
    }
    p->fd_events = ev;
}

/* ---- receive ---- */

/* What rx_direct() or put_merged() did: RXD_BAD_CHAIN gave back a first
 * chain too short for the header, with no frame in it (the frame, if
 * any, takes the next); each such chain counts against the budget. */
enum { RXD_DONE, RXD_PENDING, RXD_BAD_CHAIN, RXD_NO_BUFFERS, RXD_EMPTY, RXD_GONE, RXD_BROKEN };

/* The k-th chain for a frame, checked as both receive paths need it:
 * RXD_DONE taken, RXD_NO_BUFFERS none posted, RXD_BROKEN, or RXD_BAD_CHAIN
 * (a first chain too short for the header, given back empty). */
static int rx_take(struct vnet_pair *p, struct vq_elem *e, unsigned k)
{
    int r = vq_pop(&p->rxq, e);
    if (r <= 0)
        return r < 0 ? RXD_BROKEN : RXD_NO_BUFFERS;
    if (e->out_num) {
        p->rxq.why = "receive buffer the device may not write";
        p->rxq.broken = true;
        return RXD_BROKEN;
    }
    if (k == 0 && e->in_len < VNET_HDR_LEN) {
        stat_inc(&p->rx_bad_buffers);
        vq_push(&p->rxq, e->head, 0);
        return RXD_BAD_CHAIN;
    }
    return RXD_DONE;
}

/* A frame in p->pkt that did not fit the chains rx_direct() took, spread
 * over as many as it needs (mergeable buffers); published only once
 * complete, so the driver never sees part of it.  Chains taken for a frame
 * that does not fit yet are given back; a frame that could never fit (it
 * needs more chains than the ring holds, or than a frame may take) is
 * dropped.  RXD_DONE, RXD_NO_BUFFERS, RXD_BROKEN or RXD_BAD_CHAIN (the
 * frame waits for the next chain). */
static int put_merged(struct vnet_pair *p)
{
    size_t off = 0;
    unsigned k = 0, limit = p->rxq.size < VNET_MAX_MERGE ? p->rxq.size : VNET_MAX_MERGE;
    while (off < p->pkt_len) {
        if (k == limit) {
            vq_unpop(&p->rxq, k);
            stat_inc(&p->rx_bad_buffers);
            return RXD_DONE;
        }
        struct vq_elem *e = k == 0 ? &p->first : &p->elem;
        int r = rx_take(p, e, k);
        if (r == RXD_NO_BUFFERS)
            vq_unpop(&p->rxq, k);
        if (r != RXD_DONE)
            return r;
        size_t n = p->pkt_len - off < e->in_len ? p->pkt_len - off : e->in_len;
        iov_from_buf(e->iov, e->in_num, 0, p->pkt + off, n);
        vq_fill(&p->rxq, k, e->head, (uint32_t)n);
        off += n;
        k++;
    }
    uint16_t nb = (uint16_t)k;
    iov_from_buf(p->first.iov, p->first.in_num, offsetof(struct virtio_net_hdr, num_buffers), &nb, sizeof(nb));
    vq_flush(&p->rxq, k);
    stat_inc(&p->rx_packets);
    stat_add(&p->rx_bytes, p->pkt_len - VNET_HDR_LEN);
    return RXD_DONE;
}

/* A frame like the recent ones is expected: a large one raises the
 * estimate at once, smaller ones lower it gradually. */
static void rx_learn(struct vnet_pair *p, size_t len)
{
    p->rx_est = len > p->rx_est ? len : p->rx_est - (p->rx_est - len) / 8;
}

/* The next frame read straight into the guest's receive buffers: one copy
 * (the kernel's) where reading into p->pkt and copying from there made
 * two.  The chains a frame as long as the recent ones needs are taken
 * first, and the frame is read into their buffers with p->pkt behind them
 * for whatever does not fit.  One that does not fit is rebuilt in p->pkt
 * (RXD_PENDING) for put_merged(), which can wait for more buffers; chains
 * taken and not used are given back.  What the guest sees is what the
 * bounce-buffer path gave it, header included: the header is checked and
 * fixed in our copy and written back before the chains are published. */
static int rx_direct(struct vnet_pair *p, bool *pushed)
{
    bool merge = has(p->n, VIRTIO_NET_F_MRG_RXBUF);
    unsigned limit = merge ? (p->rxq.size < VNET_MAX_MERGE ? p->rxq.size : VNET_MAX_MERGE) : 1;
    const size_t max = VNET_HDR_LEN + VNET_MAX_FRAME;
    unsigned k = 0, niov = 0;
    size_t cap = 0;
    while (k < limit && (k == 0 || cap < p->rx_est)) {
        struct vq_elem *e = &p->elem;
        int r = rx_take(p, e, k);
        if (r == RXD_NO_BUFFERS)
            break;
        if (r == RXD_BAD_CHAIN)
            *pushed = true;
        if (r != RXD_DONE)
            return r;
        if (niov + e->in_num >= VNET_RX_IOV) { /* never for the first: VNET_RX_IOV > VQ_ELEM_MAX_IOV */
            vq_unpop(&p->rxq, 1);
            break;
        }
        memcpy(p->rx_iov + niov, e->iov, e->in_num * sizeof(*e->iov));
        niov += e->in_num;
        p->rx_head[k] = e->head;
        p->rx_cap[k] = (uint32_t)(e->in_len < max ? e->in_len : max);
        cap += p->rx_cap[k];
        k++;
    }
    if (k == 0)
        return RXD_NO_BUFFERS;
    p->rx_iov[niov] = (struct iovec){p->pkt, max};
    ssize_t r = readv(p->fd, p->rx_iov, (int)niov + 1);
    if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
        vq_unpop(&p->rxq, k);
        return RXD_EMPTY;
    }
    if (r < 0 && errno == EFAULT) {
        /* Guest memory the kernel could not write: the frame is lost. */
        p->rxq.why = "receive buffer the host cannot write";
        p->rxq.broken = true;
        return RXD_BROKEN;
    }
    if (r <= 0) {
        /* A backend that hung up or failed (a TAP deleted under the VM)
         * stays readable for ever: stop listening. */
        vq_unpop(&p->rxq, k);
        vlog_ratelimited(&p->n->log, "%s: the backend is gone: %s", p->n->opts.name,
                         r ? strerror(errno) : "end of file");
        p->backend_gone = true;
        return RXD_GONE;
    }
    size_t len = (size_t)r;
    struct virtio_net_hdr h;
    if (len < VNET_HDR_LEN + VNET_ETH_HLEN || len > max) {
        vq_unpop(&p->rxq, k);
        if (len > max)
            stat_inc(&p->rx_dropped_too_big);
        return RXD_DONE;
    }
    /* Our copy of the header: the guest can write its buffers meanwhile. */
    iov_to_buf(p->rx_iov, niov + 1, 0, &h, VNET_HDR_LEN);
    if (!vnet_rx_hdr_fix(&h, p->n->dev.features)) {
        vq_unpop(&p->rxq, k);
        stat_inc(&p->rx_dropped_offload);
        return RXD_DONE;
    }
    rx_learn(p, len);
    if (len > cap) {
        if (!merge) {
            stat_inc(&p->rx_dropped_too_big);
            vq_push(&p->rxq, p->rx_head[0], 0);
            *pushed = true;
            return RXD_DONE;
        }
        /* The part in the chains goes in front of the part in p->pkt. */
        memmove(p->pkt + cap, p->pkt, len - cap);
        iov_to_buf(p->rx_iov, niov, 0, p->pkt, cap);
        memcpy(p->pkt, &h, VNET_HDR_LEN);
        vq_unpop(&p->rxq, k);
        p->pkt_len = len;
        return RXD_PENDING;
    }
    unsigned used = 0;
    for (size_t left = len; left; used++) {
        size_t n = left < p->rx_cap[used] ? left : p->rx_cap[used];
        vq_fill(&p->rxq, used, p->rx_head[used], (uint32_t)n);
        left -= n;
    }
    h.num_buffers = (uint16_t)used;
    iov_from_buf(p->rx_iov, niov, 0, &h, VNET_HDR_LEN);
    vq_flush(&p->rxq, used);
    vq_unpop(&p->rxq, k - used);
    *pushed = true;
    stat_inc(&p->rx_packets);
    stat_add(&p->rx_bytes, len - VNET_HDR_LEN);
    return RXD_DONE;
}

/* Whether the backend holds a frame: rx_direct() takes chains before it
 * reads, so an empty ring alone says nothing of one. */
static bool frame_waiting(struct vnet_pair *p)
{
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static void rx_work(struct vnet_pair *p)
{
    bool pushed = false;
    if (p->rxq.broken)
        return;
    for (int budget = BUDGET; budget > 0 && p->rx_on; budget--) {
        int r;
        if (!p->pkt_pending) {
            r = rx_direct(p, &pushed);
            if (r == RXD_EMPTY || r == RXD_GONE)
                break;
            if (r == RXD_PENDING)
                p->pkt_pending = true;
        } else {
            r = put_merged(p);
            if (r == RXD_DONE || r == RXD_BAD_CHAIN)
                pushed = true;
            if (r == RXD_DONE)
                p->pkt_pending = false;
        }
        if (r == RXD_BROKEN) {
            broken(p, &p->rxq);
            break;
        }
        if (r == RXD_NO_BUFFERS) {
            /* Out of buffers: the backend is left alone until the driver
             * posts more than it has so far (chains given back do not
             * count: the kick must come after new ones). */
            if (vq_wait_for_more(&p->rxq))
                continue;
            if (p->pkt_pending || frame_waiting(p))
                stat_inc(&p->rx_no_buffers); /* a wait only with a frame to wait */
            p->rx_starved = true;
            break;
        }
    }
    update_fd(p);
    if (pushed)
        notify(p, 2 * p->idx, &p->rxq);
}

/* ---- transmit ---- */

enum { TX_EMPTY, TX_DONE, TX_FULL, TX_BROKEN };

/* One chain to the backend: sent, or dropped and counted; TX_FULL gives
 * the chain back for when the backend has room. */
static int tx_one(struct vnet_pair *p)
{
    struct vq_elem *e = &p->elem;
    int r = vq_pop(&p->txq, e);
    if (r <= 0)
        return r < 0 ? TX_BROKEN : TX_EMPTY;
    struct virtio_net_hdr h;
    struct iovec iov[VQ_ELEM_MAX_IOV + 1];
    if (e->in_num || e->out_len < VNET_HDR_LEN || e->out_len > VNET_HDR_LEN + VNET_MAX_FRAME) {
        stat_inc(&p->tx_bad_chain);
        vq_push(&p->txq, e->head, 0);
        return TX_DONE;
    }
    /* The header goes out from our copy: the guest may rewrite its own
     * after the check. */
    iov_to_buf(e->iov, e->out_num, 0, &h, sizeof(h));
    size_t frame = e->out_len - VNET_HDR_LEN;
    const char *why = vnet_tx_hdr_check(&h, frame, p->n->dev.features);
    int cnt = why ? -1 : iov_slice(e->iov, e->out_num, VNET_HDR_LEN, frame, iov + 1, VQ_ELEM_MAX_IOV);
    if (why) {
        stat_inc(&p->tx_bad_header);
        vlog_debug("%s: dropped a frame: %s", p->n->opts.name, why);
    } else if (cnt < 0) {
        stat_inc(&p->tx_bad_chain);
    } else {
        h.num_buffers = 0;
        iov[0] = (struct iovec){&h, VNET_HDR_LEN};
        ssize_t w = writev(p->fd, iov, cnt + 1);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            vq_unpop(&p->txq, 1);
            return TX_FULL;
        }
        if (w < 0) {
            stat_inc(&p->tx_backend_errors);
        } else {
            stat_inc(&p->tx_packets);
            stat_add(&p->tx_bytes, frame);
        }
    }
    vq_push(&p->txq, e->head, 0);
    return TX_DONE;
}

static void tx_work(struct vnet_pair *p)
{
    bool pushed = false;
    if (p->txq.broken)
        return;
    vq_disable_kicks(&p->txq);
    for (int budget = BUDGET; p->tx_on;) {
        int r = tx_one(p);
        if (r == TX_BROKEN) {
            broken(p, &p->txq);
            break;
        }
        if (r == TX_EMPTY) {
            if (vq_enable_kicks(&p->txq))
                continue;   /* more arrived while kicks were off */
            break;
        }
        if (r == TX_FULL) {
            stat_inc(&p->tx_backend_full);
            p->tx_blocked = true;
            break;
        }
        pushed = true;
        if (--budget == 0) {
            /* Come back through the loop, after the other work. */
            uint64_t one = 1;
            (void)!write(p->tx_kick, &one, sizeof(one));
            break;
        }
    }
    update_fd(p);
    if (pushed)
        notify(p, 2 * p->idx + 1, &p->txq);
}

/* ---- events ---- */

static void on_fd(void *opaque, uint32_t events)
{
    struct vnet_pair *p = opaque;
    if ((events & EPOLLOUT) && p->tx_blocked) {
        p->tx_blocked = false;
        tx_work(p);
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        rx_work(p);
}

static void drain(int fd)
{
    uint64_t v;
    (void)!read(fd, &v, sizeof(v));
}

static void on_rx_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct vnet_pair *p = opaque;
    drain(p->rx_kick);
    p->rx_starved = false;
    rx_work(p);
}

static void on_tx_kick(void *opaque, uint32_t events)
{
    (void)events;
    struct vnet_pair *p = opaque;
    drain(p->tx_kick);
    if (!p->tx_blocked)
        tx_work(p);
}

void vnet_pair_start_rx(struct vnet_pair *p)
{
    if (event_loop_add(p->loop, &p->w_rx_kick, p->rx_kick, EPOLLIN, on_rx_kick, p) < 0)
        return;
    p->rx_on = true;
    p->rx_starved = false;
    rx_work(p);
}

void vnet_pair_start_tx(struct vnet_pair *p)
{
    if (event_loop_add(p->loop, &p->w_tx_kick, p->tx_kick, EPOLLIN, on_tx_kick, p) < 0)
        return;
    p->tx_on = true;
    p->tx_blocked = false;
    tx_work(p);   /* chains queued before the driver set DRIVER_OK */
}

void vnet_pair_stop(struct vnet_pair *p, bool rx)
{
    if (rx && p->rx_on) {
        event_loop_del(p->loop, &p->w_rx_kick);
        p->rx_on = false;
        p->pkt_pending = false;   /* a reset device has no frames in hand */
    } else if (!rx && p->tx_on) {
        event_loop_del(p->loop, &p->w_tx_kick);
        p->tx_on = false;
        p->tx_blocked = false;
    }
    update_fd(p);
}

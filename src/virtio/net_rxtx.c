/* virtio-net's data path, each queue pair on its own event loop: frames
 * from the backend into the receive queue's buffers, chains from the
 * transmit queue to the backend.  Everything the guest wrote is checked
 * before use, and what cannot be used is counted and dropped. */
#include <errno.h>
#include <stddef.h>
#include <string.h>
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

/* The frame in p->pkt into one chain (no mergeable buffers): 1 done (put
 * or dropped), 0 no chain posted, -1 queue broken. */
static int put_single(struct vnet_pair *p)
{
    struct vq_elem *e = &p->elem;
    int r = vq_pop(&p->rxq, e);
    if (r <= 0)
        return r;
    if (e->out_num) {
        p->rxq.why = "receive buffer the device may not write";
        p->rxq.broken = true;
        return -1;
    }
    if (e->in_len < p->pkt_len) {
        if (e->in_len < VNET_HDR_LEN)
            stat_inc(&p->rx_bad_buffers);
        else
            stat_inc(&p->rx_dropped_too_big);
        vq_push(&p->rxq, e->head, 0);
        return 1;
    }
    struct virtio_net_hdr *h = (struct virtio_net_hdr *)p->pkt;
    h->num_buffers = 1;
    iov_from_buf(e->iov, e->in_num, 0, p->pkt, p->pkt_len);
    vq_push(&p->rxq, e->head, (uint32_t)p->pkt_len);
    stat_inc(&p->rx_packets);
    stat_add(&p->rx_bytes, p->pkt_len - VNET_HDR_LEN);
    return 1;
}

/* The frame spread over as many chains as it needs; published only once
 * complete, so the driver never sees part of it.  Chains taken for a frame
 * that does not fit yet are given back; a frame that could never fit (it
 * needs more chains than the ring holds, or than a frame may take) is
 * dropped. */
static int put_merged(struct vnet_pair *p)
{
    size_t off = 0;
    unsigned k = 0, limit = p->rxq.size < VNET_MAX_MERGE ? p->rxq.size : VNET_MAX_MERGE;
    while (off < p->pkt_len) {
        if (k == limit) {
            vq_unpop(&p->rxq, k);
            stat_inc(&p->rx_bad_buffers);
            return 1;
        }
        struct vq_elem *e = k == 0 ? &p->first : &p->elem;
        int r = vq_pop(&p->rxq, e);
        if (r < 0)
            return -1;
        if (r == 0) {
            vq_unpop(&p->rxq, k);
            return 0;
        }
        if (e->out_num) {
            p->rxq.why = "receive buffer the device may not write";
            p->rxq.broken = true;
            return -1;
        }
        if (k == 0 && e->in_len < VNET_HDR_LEN) {
            stat_inc(&p->rx_bad_buffers);
            vq_push(&p->rxq, e->head, 0);
            return 1;
        }
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
    return 1;
}

static void rx_work(struct vnet_pair *p)
{
    bool pushed = false;
    if (p->rxq.broken)
        return;
    for (int budget = BUDGET; budget > 0 && p->rx_on; budget--) {
        if (!p->pkt_pending) {
            ssize_t r = read(p->fd, p->pkt, VNET_HDR_LEN + VNET_MAX_FRAME);
            if (r < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (r <= 0) {
                /* A backend that hung up or failed (a TAP deleted under
                 * the VM) stays readable for ever: stop listening. */
                vlog_ratelimited(&p->n->log, "%s: the backend is gone: %s", p->n->opts.name,
                                 r ? strerror(errno) : "end of file");
                p->backend_gone = true;
                break;
            }
            if (r < VNET_HDR_LEN + VNET_ETH_HLEN)
                continue;
            if (!vnet_rx_hdr_fix((struct virtio_net_hdr *)p->pkt, p->n->dev.features)) {
                stat_inc(&p->rx_dropped_offload);
                continue;
            }
            p->pkt_len = (size_t)r;
            p->pkt_pending = true;
        }
        int r = has(p->n, VIRTIO_NET_F_MRG_RXBUF) ? put_merged(p) : put_single(p);
        if (r < 0) {
            broken(p, &p->rxq);
            break;
        }
        if (r == 0) {
            /* Out of buffers: the frame waits, the backend is left alone
             * until the driver posts more than it has so far (chains given
             * back do not count: the kick must come after new ones). */
            if (vq_wait_for_more(&p->rxq))
                continue;
            stat_inc(&p->rx_no_buffers);
            p->rx_starved = true;
            break;
        }
        p->pkt_pending = false;
        pushed = true;
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

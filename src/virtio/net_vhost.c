/* virtio-net's queue pairs served by the kernel's vhost-net: the guest's
 * kicks reach vhost through the transport's kick eventfds (KVM
 * ioeventfds), vhost's interrupts reach the guest through the transport's
 * vector eventfds (KVM irqfds on MSI routes), and frames move between the
 * rings and the TAP queue inside the kernel.  This file only starts and
 * stops the rings, on the pair's loop like the user-space path: its
 * ioctls are the I/O thread's (confine/seccomp_policy.c).  vhost checks
 * the guest's rings itself; a ring it finds broken stops moving frames
 * and signals the ring's error eventfd, which marks the device as needing
 * a reset, as the user-space path does; the driver's reset starts it
 * afresh. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "net/vhost_net.h"
#include "util/log.h"
#include "virtio/net_impl.h"

/* What vhost must implement itself because it walks the rings; the rest
 * of what the device offers (offloads, MAC, status, control queue) is the
 * TAP's or this process's. */
#define RING_FEATURES \
    (BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VIRTIO_NET_F_MRG_RXBUF))

uint64_t vnet_vhost_offer(uint64_t host_features, uint64_t vhost_features)
{
    return host_features & ~(RING_FEATURES & ~vhost_features);
}

static void failed(struct vnet_pair *p, const char *what)
{
    vlog_ratelimited(&p->n->log, "%s: pair %u: vhost-net: %s: %s", p->n->opts.name, p->idx, what, strerror(errno));
}

static void on_ring_error(struct vnet_pair *p, unsigned r)
{
    uint64_t v;
    (void)!read(p->vhost_err[r], &v, sizeof(v));
    p->n->dev.broken(p->n->dev.transport, r == 0 ? "vhost-net found the receive ring broken"
                                                 : "vhost-net found the transmit ring broken");
}

static void on_rx_error(void *opaque, uint32_t events)
{
    (void)events;
    on_ring_error(opaque, 0);
}

static void on_tx_error(void *opaque, uint32_t events)
{
    (void)events;
    on_ring_error(opaque, 1);
}

void vnet_vhost_start(struct vnet_pair *p, bool rx, const struct vq *vq, int kick, int call)
{
    struct vnet *n = p->n;
    /* Once per driver: both rings of the pair see the same features, and
     * guest memory is laid out anew at each VM start. */
    if (!p->vhost_ready) {
        if (vhost_net_set_features(p->vhost_fd, vhost_net_ack_features(n->dev.features, n->opts.be.vhost_features)) < 0) {
            failed(p, "setting the features");
            return;
        }
        if (vhost_net_set_mem(p->vhost_fd, vq->mem) < 0) {
            failed(p, "giving it guest memory");
            return;
        }
        p->vhost_ready = true;
    }
    struct vhost_ring r = {
        .num = vq->size, .desc = vq->desc, .avail = vq->avail, .used = vq->used, .base = vq->last_avail,
        .kick = kick, .call = call, .err = p->vhost_err[rx ? 0 : 1],
    };
    if (event_loop_add(p->loop, &p->w_vhost_err[rx ? 0 : 1], r.err, EPOLLIN, rx ? on_rx_error : on_tx_error, p) < 0) {
        failed(p, "watching its error eventfd");
        return;
    }
    if (vhost_net_ring_start(p->vhost_fd, rx ? 0 : 1, &r, p->fd) < 0) {
        failed(p, rx ? "starting the receive ring" : "starting the transmit ring");
        event_loop_del(p->loop, &p->w_vhost_err[rx ? 0 : 1]);
        return;
    }
    if (rx) {
        p->rxq = *vq;
        p->rx_on = true;
    } else {
        p->txq = *vq;
        p->tx_on = true;
    }
}

uint16_t vnet_vhost_stop(struct vnet_pair *p, bool rx)
{
    bool *on = rx ? &p->rx_on : &p->tx_on;
    struct vq *vq = rx ? &p->rxq : &p->txq;
    uint16_t base = vq->last_avail;
    if (*on) {
        if (vhost_net_ring_stop(p->vhost_fd, rx ? 0 : 1, &base) < 0)
            failed(p, "stopping a ring");
        event_loop_del(p->loop, &p->w_vhost_err[rx ? 0 : 1]);
        uint64_t v;   /* an error of this driver's is not the next one's */
        (void)!read(p->vhost_err[rx ? 0 : 1], &v, sizeof(v));
    }
    *on = false;
    vq->last_avail = base;
    if (!p->rx_on && !p->tx_on)
        p->vhost_ready = false;   /* the next driver negotiates afresh */
    return base;
}

void vnet_vhost_set_call(struct vnet_pair *p, bool rx, int call)
{
    if ((rx ? p->rx_on : p->tx_on) && vhost_net_ring_set_call(p->vhost_fd, rx ? 0 : 1, call) < 0)
        failed(p, "moving it to another interrupt");
}

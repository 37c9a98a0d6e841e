/* Shared by net.c (device, control queue) and net_rxtx.c (data path). */
#ifndef VIREO_VIRTIO_NET_IMPL_H
#define VIREO_VIRTIO_NET_IMPL_H

#include <stdatomic.h>

#include "eventloop/event_loop.h"
#include "util/log.h"
#include "util/stat_counter.h"
#include "virtio/net.h"
#include "virtio/net_hdr.h"
#include "virtio/virtqueue.h"

/* Chains one received frame may take with mergeable buffers; a driver
 * posting buffers so small that a frame needs more breaks the rules. */
#define VNET_MAX_MERGE 128
/* Buffers a frame is read into at once: any one chain, and more. */
#define VNET_RX_IOV (VQ_ELEM_MAX_IOV + 64)

struct vnet_pair {
    struct vnet *n;
    unsigned idx;
    struct event_loop *loop;
    int fd;
    struct vq rxq, txq;
    int rx_kick, tx_kick;
    bool rx_on, tx_on;
    struct el_watch w_rx_kick, w_tx_kick, w_fd;
    bool fd_watched;
    uint32_t fd_events;
    bool rx_starved;          /* waiting for the driver to post buffers */
    bool tx_blocked;          /* the backend is full: waiting for EPOLLOUT */
    bool backend_gone;        /* it reported end of file */
    uint8_t *pkt;             /* a received frame waiting for buffers */
    size_t pkt_len;
    bool pkt_pending;
    struct vq_elem elem;      /* scratch: one chain */
    struct vq_elem first;     /* the first chain of a merged frame */
    /* Receiving straight into the guest's buffers (net_rxtx.c): the
     * chains taken for the next frame, their buffers with the bounce
     * buffer behind, and how long recent frames were. */
    struct iovec rx_iov[VNET_RX_IOV];
    uint16_t rx_head[VNET_MAX_MERGE];
    uint32_t rx_cap[VNET_MAX_MERGE];
    size_t rx_est;
    int vhost_fd;             /* -1: this process moves the frames */
    bool vhost_ready;         /* features and memory table given for this driver */
    int vhost_err[2];         /* eventfds vhost signals when it finds ring [0] rx, [1] tx broken */
    struct el_watch w_vhost_err[2];
    /* Written on the pair's loop only (stat_counter.h). */
    stat_counter rx_packets, rx_bytes, tx_packets, tx_bytes;
    stat_counter rx_dropped_too_big, rx_dropped_offload, rx_bad_buffers, tx_bad_chain, tx_bad_header, tx_backend_errors;
    stat_counter rx_no_buffers, tx_backend_full;
};

struct vnet_ctrl {
    struct event_loop *loop;
    struct vq vq;
    int kick;
    bool on;
    struct el_watch w_kick;
    struct vq_elem elem;
    _Atomic uint64_t errors;
};

struct __attribute__((packed)) vnet_config {
    uint8_t mac[6];
    uint16_t status;
    uint16_t max_virtqueue_pairs;
};

struct vnet {
    struct virtio_dev dev;
    struct vnet_opts opts;
    struct vnet_config cfg;
    struct vnet_pair pairs[VNET_MAX_PAIRS];
    struct vnet_ctrl ctrl;
    _Atomic unsigned active_pairs;
    atomic_bool offload_set;  /* this driver's offloads were given to the backend */
    struct vlog_ratelimit log;   /* backend failures a driver can repeat at will (resets) */
};

/* net_rxtx.c, on the pair's loop. */
void vnet_pair_start_rx(struct vnet_pair *p);
void vnet_pair_start_tx(struct vnet_pair *p);
void vnet_pair_stop(struct vnet_pair *p, bool rx);
/* net_vhost.c, on the pair's loop: vhost-net takes ring rx or tx of p
 * (call: the eventfd that interrupts the driver, -1 none); stop returns
 * the next avail index. */
void vnet_vhost_start(struct vnet_pair *p, bool rx, const struct vq *vq, int kick, int call);
uint16_t vnet_vhost_stop(struct vnet_pair *p, bool rx);
void vnet_vhost_set_call(struct vnet_pair *p, bool rx, int call);

#endif

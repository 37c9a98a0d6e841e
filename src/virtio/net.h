/* The virtio-net device model (virtio 1.x, 5.1): receive and transmit
 * queue pairs served on I/O threads, the control queue (multiqueue), MAC
 * and link status in config space, checksum and TCP segmentation offloads
 * negotiated with the guest and passed on to the backend, mergeable
 * receive buffers.  It knows nothing of TAP devices: the backend is one
 * packet file descriptor per queue pair carrying frames behind a 12-byte
 * virtio-net header (a TAP with IFF_VNET_HDR in the VMM, a socketpair in
 * tests), plus two callbacks; or, with vhost-net, the kernel moves the
 * frames between those fds and the rings itself (net_vhost.c). */
#ifndef VIREO_VIRTIO_NET_H
#define VIREO_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/event_loop.h"
#include "virtio/virtio.h"

#define VNET_MAX_PAIRS   16
#define VNET_QUEUE_SIZE  256

/* Receive offloads the guest accepted; the backend should deliver such
 * frames (TUNSETOFFLOAD), and only such. */
#define VNET_OFFLOAD_CSUM 1
#define VNET_OFFLOAD_TSO4 2
#define VNET_OFFLOAD_TSO6 4
#define VNET_OFFLOAD_ECN  8

struct vnet_backend {
    void *opaque;
    int fds[VNET_MAX_PAIRS];          /* one per queue pair, non-blocking */
    int (*set_offload)(void *opaque, unsigned offloads);
    /* Whether frames for the host's side should go to pair i (multiqueue:
     * the driver uses only some pairs). */
    int (*enable_pair)(void *opaque, unsigned pair, bool on);
    /* vhost-net as the data plane: pair i's frames move between fds[i]
     * and the guest in the kernel (vhost_fds[i], owned by the caller and
     * already VHOST_SET_OWNER'd), never through this process; the control
     * queue stays here.  vhost_features: its VHOST_GET_FEATURES. */
    bool vhost;
    int vhost_fds[VNET_MAX_PAIRS];
    uint64_t vhost_features;
};

struct vnet_opts {
    const char *name;                 /* for log lines: "net 0" */
    unsigned pairs;                   /* 1..VNET_MAX_PAIRS */
    uint8_t mac[6];
    struct vnet_backend be;
};

/* Frames dropped are counted by reason, never silently. */
struct vnet_stats {
    uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
    uint64_t rx_dropped_too_big;      /* no buffers large enough (non-mergeable) */
    uint64_t rx_bad_buffers;          /* a chain too short for the header, a frame needing too many */
    uint64_t rx_dropped_offload;      /* segmented/partial-checksum frames the driver did not accept */
    uint64_t tx_bad_chain;            /* too short for the header, writable buffers, oversize */
    uint64_t tx_bad_header;           /* vnet_tx_hdr_check refused it */
    uint64_t tx_backend_errors;       /* the backend refused the frame */
    uint64_t ctrl_errors;             /* control commands answered VIRTIO_NET_ERR */
    /* Ring-full events: a frame from the backend found no receive buffer
     * posted (it waits, and the TAP's own queue fills behind it); the
     * backend could take no more frames (transmit waits for room). */
    uint64_t rx_no_buffers, tx_backend_full;
};

struct vnet;

/* loops[i] serves queue pair i (and loops[0] the control queue): an I/O
 * thread's loop or the main loop, as the caller assigned them. */
struct vnet *vnet_new(const struct vnet_opts *opts, struct event_loop *const loops[], char *err, size_t errlen);
void vnet_free(struct vnet *n);
struct virtio_dev *vnet_dev(struct vnet *n);
/* Summed over the pairs, or pair i's (its ctrl_errors 0); from any thread. */
void vnet_get_stats(struct vnet *n, struct vnet_stats *s);
void vnet_pair_stats(struct vnet *n, unsigned pair, struct vnet_stats *s);
unsigned vnet_pairs(const struct vnet *n);
/* The features offered to the driver when vhost-net serves the rings:
 * host_features without the ring features this vhost cannot do. */
uint64_t vnet_vhost_offer(uint64_t host_features, uint64_t vhost_features);

/* Pairs the driver has enabled (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET). */
unsigned vnet_active_pairs(struct vnet *n);

#endif

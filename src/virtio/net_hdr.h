/* The virtio-net header (virtio 1.x, 5.1.6) that precedes every frame on
 * the queues and on the backend (a TAP with IFF_VNET_HDR and a 12-byte
 * header), and the checks a transmitted one must pass before the host
 * sees it. */
#ifndef VIREO_VIRTIO_NET_HDR_H
#define VIREO_VIRTIO_NET_HDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTIO_NET_F_CSUM        0
#define VIRTIO_NET_F_GUEST_CSUM  1
#define VIRTIO_NET_F_MAC         5
#define VIRTIO_NET_F_GUEST_TSO4  7
#define VIRTIO_NET_F_GUEST_TSO6  8
#define VIRTIO_NET_F_GUEST_ECN   9
#define VIRTIO_NET_F_HOST_TSO4   11
#define VIRTIO_NET_F_HOST_TSO6   12
#define VIRTIO_NET_F_HOST_ECN    13
#define VIRTIO_NET_F_MRG_RXBUF   15
#define VIRTIO_NET_F_STATUS      16
#define VIRTIO_NET_F_CTRL_VQ     17
#define VIRTIO_NET_F_MQ          22

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2

#define VIRTIO_NET_HDR_GSO_NONE   0
#define VIRTIO_NET_HDR_GSO_TCPV4  1
#define VIRTIO_NET_HDR_GSO_UDP    3
#define VIRTIO_NET_HDR_GSO_TCPV6  4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#define VIRTIO_NET_HDR_GSO_ECN    0x80

struct __attribute__((packed)) virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;   /* always there with VERSION_1 */
};

#define VNET_HDR_LEN   12
#define VNET_ETH_HLEN  14
/* The largest frame either way: a 64 KiB GSO packet behind an Ethernet
 * header with a VLAN tag. */
#define VNET_MAX_FRAME (65535 + VNET_ETH_HLEN + 4)

/* NULL when a frame the guest transmits (frame_len bytes after the header)
 * may go to the host with header h under the negotiated features; else
 * why not, for the drop counters' log line. */
const char *vnet_tx_hdr_check(const struct virtio_net_hdr *h, size_t frame_len, uint64_t features);

/* Makes the header of a frame from the backend say only what the driver
 * negotiated (5.1.6.4.1: no flags without GUEST_CSUM; the backend sets
 * DATA_VALID regardless); false if the frame itself is one the driver did
 * not accept (segmented, or with a partial checksum), which can still
 * arrive from before the offloads changed. */
bool vnet_rx_hdr_fix(struct virtio_net_hdr *h, uint64_t features);

#endif

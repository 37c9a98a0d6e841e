#include "virtio/net_hdr.h"

#include <stdbool.h>

#include "virtio/virtio.h"

static bool has(uint64_t features, unsigned bit)
{
    return features & BIT(bit);
}

bool vnet_rx_hdr_fix(struct virtio_net_hdr *h, uint64_t features)
{
    if (!has(features, VIRTIO_NET_F_GUEST_CSUM)) {
        if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
            return false;
        h->flags = 0;
    }
    h->flags &= VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID;
    uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
    switch (gso) {
    case VIRTIO_NET_HDR_GSO_NONE:
        if (ecn)
            return false;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        if (!has(features, VIRTIO_NET_F_GUEST_TSO4))
            return false;
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        if (!has(features, VIRTIO_NET_F_GUEST_TSO6))
            return false;
        break;
    default:
        return false;
    }
    return !ecn || has(features, VIRTIO_NET_F_GUEST_ECN);
}

const char *vnet_tx_hdr_check(const struct virtio_net_hdr *h, size_t frame_len, uint64_t features)
{
    if (frame_len < VNET_ETH_HLEN)
        return "frame shorter than an Ethernet header";
    if (frame_len > VNET_MAX_FRAME)
        return "frame larger than 64 KiB";
    /* DATA_VALID (and RSC_INFO) are the device's to set (5.1.6.2.1). */
    if (h->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return "header flags a driver may not set";
    if (h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!has(features, VIRTIO_NET_F_CSUM))
            return "checksum offload requested but not negotiated";
        if ((size_t)h->csum_start + h->csum_offset + 2 > frame_len)
            return "checksum position outside the frame";
    }
    uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    bool ecn = h->gso_type & VIRTIO_NET_HDR_GSO_ECN;
    switch (gso) {
    case VIRTIO_NET_HDR_GSO_NONE:
        return ecn ? "ECN flag without segmentation" : NULL;
    case VIRTIO_NET_HDR_GSO_TCPV4:
        if (!has(features, VIRTIO_NET_F_HOST_TSO4))
            return "TCPv4 segmentation not negotiated";
        break;
    case VIRTIO_NET_HDR_GSO_TCPV6:
        if (!has(features, VIRTIO_NET_F_HOST_TSO6))
            return "TCPv6 segmentation not negotiated";
        break;
    default:   /* UDP and UDP_L4 are not offered */
        return "segmentation type not offered";
    }
    if (ecn && !has(features, VIRTIO_NET_F_HOST_ECN))
        return "ECN segmentation not negotiated";
    /* The host computes each segment's checksum from the partial one. */
    if (!(h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
        return "segmentation without checksum offload";
    if (h->gso_size == 0)
        return "segmentation with a segment size of 0";
    if (h->hdr_len > frame_len)
        return "header length beyond the frame";
    return NULL;
}

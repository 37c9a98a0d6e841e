/* What a virtio device model offers to a transport (virtio-pci in the VMM,
 * vhost-user in `vireo disk serve`) and what the transport gives back.
 * Device models know nothing of PCI or sockets. */
#ifndef VIREO_VIRTIO_VIRTIO_H
#define VIREO_VIRTIO_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtqueue.h"

#define VIRTIO_ID_NET    1
#define VIRTIO_ID_BLOCK  2

#define VIRTIO_STATUS_ACKNOWLEDGE  1
#define VIRTIO_STATUS_DRIVER       2
#define VIRTIO_STATUS_DRIVER_OK    4
#define VIRTIO_STATUS_FEATURES_OK  8
#define VIRTIO_STATUS_NEEDS_RESET  64
#define VIRTIO_STATUS_FAILED       128

#define VIRTIO_F_INDIRECT_DESC  28
#define VIRTIO_F_EVENT_IDX      29
#define VIRTIO_F_VERSION_1      32

#define BIT(n) (1ULL << (n))

struct virtio_dev;

struct virtio_dev_ops {
    /* Device-specific configuration space. */
    void (*config_read)(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len);
    void (*config_write)(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len);
    /* Serve queue q from now on.  vq is mapped and positioned; kick_fd
     * becomes readable when the driver kicks.  Called with d->features
     * final.  -1 if the device cannot (it then stays stopped). */
    int (*queue_start)(struct virtio_dev *d, unsigned q, const struct vq *vq, int kick_fd);
    /* Stop serving q; returns once its in-flight requests are complete
     * (nothing touches guest memory afterwards), with the next avail
     * index to process. */
    uint16_t (*queue_stop)(struct virtio_dev *d, unsigned q);
    /* Optional: the driver moved started queue q to another interrupt
     * (call_fd, as queue_call_fd would now return). */
    void (*queue_call_changed)(struct virtio_dev *d, unsigned q, int call_fd);
};

struct virtio_dev {
    const struct virtio_dev_ops *ops;
    uint32_t device_id;
    uint64_t host_features;    /* offered */
    uint64_t features;         /* accepted by the driver */
    unsigned num_queues;
    uint16_t queue_max;        /* largest queue size */
    uint32_t config_len;

    /* Filled by the transport; callable from any thread. */
    void *transport;
    /* Used buffers were added to queue q: interrupt the driver. */
    void (*notify)(void *transport, unsigned q);
    /* The driver broke the device's rules: DEVICE_NEEDS_RESET. */
    void (*broken)(void *transport, const char *why);
    /* The device changed its configuration space on its own (a balloon's
     * new target): tell the driver.  NULL where the transport cannot. */
    void (*config_changed)(void *transport);
    /* The eventfd whose write interrupts the driver for queue q, for a
     * data plane outside this process (vhost-net); -1 if q has no
     * interrupt.  NULL where the transport has none. */
    int (*queue_call_fd)(void *transport, unsigned q);
};

#endif

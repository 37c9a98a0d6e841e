/* The virtio 1.x PCI transport (modern only, virtio spec 4.1): one 64-bit
 * memory BAR with the common, notify, ISR and device-config structures
 * and the MSI-X table.  Guest kicks reach the device through per-queue
 * eventfds (KVM ioeventfds when the host provides them) and interrupts go
 * out through per-vector eventfds (KVM irqfds on MSI routes), so neither
 * path needs the vCPU threads or a lock shared with them. */
#ifndef VIREO_VIRTIO_VIRTIO_PCI_H
#define VIREO_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"
#include "mem/memmap.h"
#include "util/log.h"
#include "virtio/virtio.h"

#define VPCI_MAX_QUEUES   64
#define VPCI_MAX_VECTORS  (VPCI_MAX_QUEUES + 1)
#define VPCI_BAR_SIZE     0x8000ULL
#define VIRTIO_MSI_NO_VECTOR 0xFFFF

/* What the transport needs from the machine (KVM in the VMM, stubs in
 * unit tests).  All return -1 on failure. */
struct vpci_host {
    void *ctx;
    /* Sets an MSI route; gsi < 0 allocates one.  Returns the GSI. */
    int (*msi_route)(void *ctx, int gsi, uint64_t addr, uint32_t data);
    void (*msi_route_free)(void *ctx, int gsi);
    int (*irqfd)(void *ctx, int fd, int gsi, bool assign);
    int (*ioeventfd)(void *ctx, int fd, uint64_t addr, bool assign);
};

struct vpci_queue {
    uint16_t size;
    _Atomic uint16_t vector;
    bool enabled;
    bool started;
    uint64_t desc, avail, used;
    int kick_fd;
};

struct vpci_vector {
    uint32_t addr_lo, addr_hi, data, ctrl;
    int fd;                    /* written to interrupt */
    int gsi;                   /* -1: no route yet */
    bool attached;             /* irqfd assigned: unmasked and enabled */
};

struct vpci {
    struct pci_device pci;
    struct virtio_dev *dev;
    const struct memmap *mem;
    struct vpci_host host;
    pthread_mutex_t lock;      /* control state; vCPU threads only */
    uint32_t dfselect, gfselect;
    uint64_t driver_features;
    uint8_t status;
    uint8_t config_generation;
    uint16_t queue_select;
    _Atomic uint16_t config_vector;
    atomic_bool needs_reset;
    _Atomic uint8_t isr;
    unsigned nvec;
    struct vpci_queue q[VPCI_MAX_QUEUES];
    struct vpci_vector vec[VPCI_MAX_VECTORS];
    struct vq vq[VPCI_MAX_QUEUES];
    char name[32];
    struct vlog_ratelimit log;  /* what the guest can make it say */
};

/* Sets up the PCI function for dev with its BAR at bar_addr.  -1 if
 * eventfds cannot be created or the device has too many queues. */
int vpci_init(struct vpci *v, struct virtio_dev *dev, const struct memmap *mem,
              const struct vpci_host *host, uint64_t bar_addr, const char *name);
/* Stops the device's queues (waits for their in-flight requests). */
void vpci_shutdown(struct vpci *v);
void vpci_destroy(struct vpci *v);

/* The BAR's io handler (exposed for unit tests and fuzzing). */
void vpci_bar_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

#endif

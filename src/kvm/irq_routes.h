/* The VM's GSI routing table (KVM_SET_GSI_ROUTING), irqfds and
 * ioeventfds: how device interrupts and guest kicks bypass the vCPU and
 * main threads.  KVM replaces the whole table on every update, so the
 * default IOAPIC/PIC routes are kept here next to the MSI routes. */
#ifndef VIREO_KVM_IRQ_ROUTES_H
#define VIREO_KVM_IRQ_ROUTES_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/log.h"

#define IRQ_ROUTES_MAX   1024
#define IRQ_ROUTES_FIRST_MSI_GSI 24   /* above the IOAPIC's pins */

struct irq_routes {
    int vm_fd;
    pthread_mutex_t lock;
    unsigned max_gsi;          /* KVM's limit */
    bool ioeventfd_any_len;
    unsigned count;
    struct kvm_irq_routing_entry e[IRQ_ROUTES_MAX];
    /* The guest drives every update (MSI-X programming, BAR moves), so
     * their failures are rate-limited. */
    struct vlog_ratelimit log;
};

/* Installs the default routes (GSI 0-23 to the IOAPIC, 0-15 to the PICs). */
int irq_routes_init(struct irq_routes *r, int kvm_fd, int vm_fd);
void irq_routes_destroy(struct irq_routes *r);

/* vpci_host callbacks (ctx = struct irq_routes *). */
int irq_routes_msi(void *ctx, int gsi, uint64_t addr, uint32_t data);
void irq_routes_msi_free(void *ctx, int gsi);
int irq_routes_irqfd(void *ctx, int fd, int gsi, bool assign);
int irq_routes_ioeventfd(void *ctx, int fd, uint64_t addr, bool assign);

#endif

#include "kvm/irq_routes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/log.h"

#define IOAPIC_PINS 24

static int commit(struct irq_routes *r)
{
    struct kvm_irq_routing *t = calloc(1, sizeof(*t) + r->count * sizeof(t->entries[0]));
    if (!t)
        return -1;
    t->nr = r->count;
    memcpy(t->entries, r->e, r->count * sizeof(r->e[0]));
    int ret = ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t);
    if (ret < 0)
        vlog_ratelimited(&r->log, "KVM_SET_GSI_ROUTING: %s", strerror(errno));
    free(t);
    return ret;
}

int irq_routes_init(struct irq_routes *r, int kvm_fd, int vm_fd)
{
    memset(r, 0, sizeof(*r));
    r->vm_fd = vm_fd;
    pthread_mutex_init(&r->lock, NULL);
    int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING);
    r->max_gsi = max > 0 && max < IRQ_ROUTES_MAX ? (unsigned)max : IRQ_ROUTES_MAX;
    r->ioeventfd_any_len = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
    /* What KVM sets up by itself with the in-kernel irqchip. */
    for (unsigned gsi = 0; gsi < IOAPIC_PINS; gsi++) {
        if (gsi < 16)
            r->e[r->count++] = (struct kvm_irq_routing_entry){
                .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, .pin = gsi % 8},
            };
        r->e[r->count++] = (struct kvm_irq_routing_entry){
            .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi},
        };
    }
    return commit(r);
}

void irq_routes_destroy(struct irq_routes *r)
{
    pthread_mutex_destroy(&r->lock);
}

static struct kvm_irq_routing_entry *find_msi(struct irq_routes *r, unsigned gsi)
{
    for (unsigned i = 0; i < r->count; i++)
        if (r->e[i].gsi == gsi && r->e[i].type == KVM_IRQ_ROUTING_MSI)
            return &r->e[i];
    return NULL;
}

int irq_routes_msi(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct irq_routes *r = ctx;
    pthread_mutex_lock(&r->lock);
    struct kvm_irq_routing_entry *e = gsi >= 0 ? find_msi(r, (unsigned)gsi) : NULL;
    if (!e) {
        unsigned g = IRQ_ROUTES_FIRST_MSI_GSI;
        while (g < r->max_gsi && find_msi(r, g))
            g++;
        if (g >= r->max_gsi || r->count == IRQ_ROUTES_MAX) {
            pthread_mutex_unlock(&r->lock);
            vlog_ratelimited(&r->log, "out of interrupt routes (%u)", r->max_gsi);
            return -1;
        }
        e = &r->e[r->count++];
        memset(e, 0, sizeof(*e));
        e->gsi = g;
        e->type = KVM_IRQ_ROUTING_MSI;
    }
    e->u.msi.address_lo = (uint32_t)addr;
    e->u.msi.address_hi = (uint32_t)(addr >> 32);
    e->u.msi.data = data;
    int ret = commit(r) < 0 ? -1 : (int)e->gsi;
    pthread_mutex_unlock(&r->lock);
    return ret;
}

void irq_routes_msi_free(void *ctx, int gsi)
{
    struct irq_routes *r = ctx;
    pthread_mutex_lock(&r->lock);
    struct kvm_irq_routing_entry *e = gsi >= 0 ? find_msi(r, (unsigned)gsi) : NULL;
    if (e) {
        *e = r->e[--r->count];
        commit(r);
    }
    pthread_mutex_unlock(&r->lock);
}

int irq_routes_irqfd(void *ctx, int fd, int gsi, bool assign)
{
    struct irq_routes *r = ctx;
    struct kvm_irqfd a = {.fd = (uint32_t)fd, .gsi = (uint32_t)gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
    if (ioctl(r->vm_fd, KVM_IRQFD, &a) < 0) {
        vlog_ratelimited(&r->log, "KVM_IRQFD (%s GSI %d): %s", assign ? "assign" : "deassign", gsi, strerror(errno));
        return -1;
    }
    return 0;
}

int irq_routes_ioeventfd(void *ctx, int fd, uint64_t addr, bool assign)
{
    struct irq_routes *r = ctx;
    /* Any-length matches whatever width the driver writes, and lets KVM
     * take its fast MMIO path. */
    struct kvm_ioeventfd a = {
        .addr = addr, .len = r->ioeventfd_any_len ? 0 : 2, .fd = fd,
        .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
    };
    if (ioctl(r->vm_fd, KVM_IOEVENTFD, &a) < 0) {
        vlog_ratelimited(&r->log, "KVM_IOEVENTFD (%s 0x%llx): %s", assign ? "assign" : "deassign",
                         (unsigned long long)addr, strerror(errno));
        return -1;
    }
    return 0;
}

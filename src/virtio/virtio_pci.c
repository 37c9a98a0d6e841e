#include "virtio/virtio_pci.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

/* BAR 0 layout (64-bit memory BAR, slots 0 and 1). */
#define BAR_COMMON   0x0000
#define BAR_ISR      0x1000
#define BAR_DEVICE   0x2000
#define BAR_DEVICE_LEN 0x1000
#define BAR_NOTIFY   0x3000
#define NOTIFY_MULT  4
#define BAR_MSIX     0x4000
#define BAR_PBA      0x6000

/* Capabilities in config space. */
#define CAP_MSIX     0x40
#define CAP_COMMON   0x50
#define CAP_NOTIFY   0x60
#define CAP_ISR      0x78
#define CAP_DEVICE   0x88
#define CAP_PCI_CFG  0x98

#define PCI_CAP_ID_MSIX   0x11
#define PCI_CAP_ID_VNDR   0x09
#define MSIX_CTRL_ENABLE  0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_VEC_MASKED   1

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5

#define ISR_QUEUE  1
#define ISR_CONFIG 2

struct __attribute__((packed)) virtio_pci_cap {
    uint8_t cap_vndr, cap_next, cap_len, cfg_type, bar, id, padding[2];
    uint32_t offset, length;
};

struct __attribute__((packed)) common_cfg {
    uint32_t device_feature_select, device_feature, driver_feature_select, driver_feature;
    uint16_t config_msix_vector, num_queues;
    uint8_t device_status, config_generation;
    uint16_t queue_select, queue_size, queue_msix_vector, queue_enable, queue_notify_off;
    uint64_t queue_desc, queue_driver, queue_device;
};

/* ---- Interrupts ---------------------------------------------------------- */

static uint16_t msix_ctrl(const struct vpci *v)
{
    uint16_t c;
    memcpy(&c, v->pci.cfg + CAP_MSIX + 2, 2);
    return c;
}

/* Attaches the vector's eventfd to KVM while the guest lets it fire;
 * detached, writes wait in the eventfd and KVM delivers them on the next
 * attach (which is what MSI-X pending bits mean). */
static void msix_update(struct vpci *v, unsigned i)
{
    struct vpci_vector *x = &v->vec[i];
    uint16_t c = msix_ctrl(v);
    bool on = (c & MSIX_CTRL_ENABLE) && !(c & MSIX_CTRL_MASKALL) && !(x->ctrl & MSIX_VEC_MASKED);
    if (on) {
        int gsi = v->host.msi_route(v->host.ctx, x->gsi, (uint64_t)x->addr_hi << 32 | x->addr_lo, x->data);
        if (gsi < 0)
            return;
        x->gsi = gsi;
        if (!x->attached && v->host.irqfd(v->host.ctx, x->fd, gsi, true) == 0)
            x->attached = true;
    } else if (x->attached) {
        v->host.irqfd(v->host.ctx, x->fd, x->gsi, false);
        x->attached = false;
    }
}

static void signal_vector(struct vpci *v, uint16_t vector)
{
    if (vector >= v->nvec)
        return;   /* no INTx: a driver without MSI-X gets no interrupts */
    uint64_t one = 1;
    (void)!write(v->vec[vector].fd, &one, sizeof(one));
}

static void dev_notify(void *transport, unsigned q)
{
    struct vpci *v = transport;
    atomic_fetch_or(&v->isr, ISR_QUEUE);
    signal_vector(v, atomic_load(&v->q[q].vector));
}

static int dev_queue_call_fd(void *transport, unsigned q)
{
    struct vpci *v = transport;
    uint16_t vector = atomic_load(&v->q[q].vector);
    return vector < v->nvec ? v->vec[vector].fd : -1;
}

static void dev_broken(void *transport, const char *why)
{
    struct vpci *v = transport;
    /* Once per breakage; a driver that resets and breaks it again in a loop
     * meets the rate limit. */
    if (!atomic_exchange(&v->needs_reset, true))
        vlog_ratelimited(&v->log, "%s: device needs reset: %s", v->name, why);
    atomic_fetch_or(&v->isr, ISR_CONFIG);
    signal_vector(v, atomic_load(&v->config_vector));
}

static void dev_config_changed(void *transport)
{
    struct vpci *v = transport;
    /* The driver rereads config space until the generation holds still
     * (4.1.4.3.1), so it never mixes old and new fields.  No lock: the
     * device may call this from a thread that a vCPU holding v->lock
     * waits for (queue_stop). */
    __atomic_fetch_add(&v->config_generation, 1, __ATOMIC_RELEASE);
    atomic_fetch_or(&v->isr, ISR_CONFIG);
    signal_vector(v, atomic_load(&v->config_vector));
}

/* ---- Common configuration ------------------------------------------------ */

static void common_image(struct vpci *v, struct common_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->device_feature_select = v->dfselect;
    if (v->dfselect < 2)
        c->device_feature = (uint32_t)(v->dev->host_features >> (32 * v->dfselect));
    c->driver_feature_select = v->gfselect;
    if (v->gfselect < 2)
        c->driver_feature = (uint32_t)(v->driver_features >> (32 * v->gfselect));
    c->config_msix_vector = atomic_load(&v->config_vector);
    c->num_queues = (uint16_t)v->dev->num_queues;
    c->device_status = v->status | (atomic_load(&v->needs_reset) ? VIRTIO_STATUS_NEEDS_RESET : 0);
    c->config_generation = __atomic_load_n(&v->config_generation, __ATOMIC_ACQUIRE);
    c->queue_select = v->queue_select;
    if (v->queue_select < v->dev->num_queues) {
        const struct vpci_queue *q = &v->q[v->queue_select];
        c->queue_size = q->size;
        c->queue_msix_vector = atomic_load(&q->vector);
        c->queue_enable = q->enabled;
        c->queue_notify_off = v->queue_select;
        c->queue_desc = q->desc;
        c->queue_driver = q->avail;
        c->queue_device = q->used;
    }
}

static void start_queue(struct vpci *v, unsigned i)
{
    struct vpci_queue *q = &v->q[i];
    if (q->started)
        return;
    bool event_idx = v->dev->features & BIT(VIRTIO_F_EVENT_IDX);
    if (q->size > v->dev->queue_max ||
        vq_map(&v->vq[i], v->mem, q->size, q->desc, q->avail, q->used, event_idx) < 0) {
        char why[64];
        snprintf(why, sizeof(why), "queue %u: bad size or rings outside guest memory", i);
        dev_broken(v, why);
        return;
    }
    /* A new queue starts at 0; the driver zeroed its rings. */
    vq_set_base(&v->vq[i], 0);
    if (v->dev->ops->queue_start(v->dev, i, &v->vq[i], q->kick_fd) == 0)
        q->started = true;
    else
        dev_broken(v, "cannot start a queue");
}

static void reset_locked(struct vpci *v)
{
    for (unsigned i = 0; i < v->dev->num_queues; i++) {
        struct vpci_queue *q = &v->q[i];
        if (q->started)
            v->dev->ops->queue_stop(v->dev, i);
        uint64_t stale;
        (void)!read(q->kick_fd, &stale, sizeof(stale));
        q->started = q->enabled = false;
        q->size = v->dev->queue_max;
        atomic_store(&q->vector, VIRTIO_MSI_NO_VECTOR);
        q->desc = q->avail = q->used = 0;
    }
    /* Interrupts the old driver never took must not reach the next one. */
    for (unsigned i = 0; i < v->nvec; i++) {
        uint64_t stale;
        (void)!read(v->vec[i].fd, &stale, sizeof(stale));
    }
    v->status = 0;
    v->dfselect = v->gfselect = 0;
    v->driver_features = 0;
    v->dev->features = 0;
    v->queue_select = 0;
    atomic_store(&v->config_vector, VIRTIO_MSI_NO_VECTOR);
    atomic_store(&v->needs_reset, false);
    atomic_store(&v->isr, 0);
}

static void set_status(struct vpci *v, uint8_t s)
{
    if (s == 0) {
        reset_locked(v);
        return;
    }
    uint8_t old = v->status;
    /* Status bits only accumulate until a reset (2.1.2); clearing one,
     * e.g. to renegotiate features under running queues, is ignored. */
    s &= (uint8_t)~VIRTIO_STATUS_NEEDS_RESET;
    if ((s & old) != old)
        return;
    if ((s & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
        uint64_t f = v->driver_features;
        /* Only what we offered, and always VERSION_1: we are modern-only. */
        if ((f & ~v->dev->host_features) || !(f & BIT(VIRTIO_F_VERSION_1)))
            s &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        else
            v->dev->features = f;
    }
    v->status = s;
    if ((s & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) && (s & VIRTIO_STATUS_FEATURES_OK))
        for (unsigned i = 0; i < v->dev->num_queues; i++)
            if (v->q[i].enabled)
                start_queue(v, i);
}

#define CHANGED(f) (memcmp(&o.f, &n.f, sizeof(o.f)) != 0)

static void common_write(struct vpci *v, uint64_t off, const uint8_t *data, unsigned size)
{
    struct common_cfg o, n;
    common_image(v, &o);
    n = o;
    memcpy((uint8_t *)&n + off, data, size);
    if (CHANGED(device_feature_select))
        v->dfselect = n.device_feature_select;
    if (CHANGED(driver_feature_select))
        v->gfselect = n.driver_feature_select;
    if (CHANGED(driver_feature) && v->gfselect < 2 && !(v->status & VIRTIO_STATUS_FEATURES_OK)) {
        unsigned sh = 32 * v->gfselect;
        v->driver_features = (v->driver_features & ~(0xFFFFFFFFULL << sh)) | ((uint64_t)n.driver_feature << sh);
    }
    if (CHANGED(config_msix_vector))
        atomic_store(&v->config_vector, n.config_msix_vector < v->nvec ? n.config_msix_vector : VIRTIO_MSI_NO_VECTOR);
    /* Rewriting the same status is not a change for us, except reset. */
    if (off <= offsetof(struct common_cfg, device_status) &&
        off + size > offsetof(struct common_cfg, device_status) &&
        (CHANGED(device_status) || n.device_status == 0))
        set_status(v, n.device_status);
    if (CHANGED(queue_select))
        v->queue_select = n.queue_select;
    if (v->queue_select >= v->dev->num_queues || v->queue_select != o.queue_select)
        return;
    struct vpci_queue *q = &v->q[v->queue_select];
    if (CHANGED(queue_msix_vector)) {
        atomic_store(&q->vector, n.queue_msix_vector < v->nvec ? n.queue_msix_vector : VIRTIO_MSI_NO_VECTOR);
        if (q->started && v->dev->ops->queue_call_changed)
            v->dev->ops->queue_call_changed(v->dev, v->queue_select, dev_queue_call_fd(v, v->queue_select));
    }
    /* The rest is fixed once the queue is enabled (4.1.4.3.2). */
    if (q->enabled)
        return;
    if (CHANGED(queue_size))
        q->size = n.queue_size;
    if (CHANGED(queue_desc))
        q->desc = n.queue_desc;
    if (CHANGED(queue_driver))
        q->avail = n.queue_driver;
    if (CHANGED(queue_device))
        q->used = n.queue_device;
    if (CHANGED(queue_enable) && n.queue_enable == 1) {
        q->enabled = true;
        if ((v->status & VIRTIO_STATUS_DRIVER_OK) && (v->status & VIRTIO_STATUS_FEATURES_OK))
            start_queue(v, v->queue_select);
    }
}

/* ---- The BAR --------------------------------------------------------------- */

static void msix_access(struct vpci *v, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
    /* Table entries are accessed as aligned dwords (or qwords). */
    if ((off & 3) || (size != 4 && size != 8)) {
        if (!is_write)
            memset(data, 0, size);
        return;
    }
    for (unsigned done = 0; done < size; done += 4, off += 4) {
        struct vpci_vector *x = &v->vec[off / 16];
        uint32_t *w[4] = {&x->addr_lo, &x->addr_hi, &x->data, &x->ctrl};
        uint32_t *word = w[(off % 16) / 4];
        if (!is_write) {
            memcpy(data + done, word, 4);
            continue;
        }
        uint32_t val;
        memcpy(&val, data + done, 4);
        if (word == &x->ctrl)
            val &= MSIX_VEC_MASKED;   /* the rest is reserved */
        if (word == &x->addr_lo)
            val &= ~3u;
        *word = val;
        msix_update(v, (unsigned)(off / 16));
    }
}

static void pba_read(struct vpci *v, uint64_t off, uint8_t *data, unsigned size)
{
    memset(data, 0, size);
    for (unsigned b = 0; b < size * 8; b++) {
        uint64_t vec = off * 8 + b;
        if (vec >= v->nvec || v->vec[vec].attached)
            continue;
        struct pollfd p = {.fd = v->vec[vec].fd, .events = POLLIN};
        if (poll(&p, 1, 0) == 1)
            data[b / 8] |= (uint8_t)(1u << (b % 8));
    }
}

void vpci_bar_io(void *opaque, uint64_t off, uint8_t *data, unsigned size, bool is_write)
{
    struct vpci *v = opaque;
    unsigned nq = v->dev->num_queues;
    if (off >= BAR_NOTIFY && off < BAR_NOTIFY + (uint64_t)NOTIFY_MULT * nq) {
        /* Only reached when the host has no ioeventfd on the address. */
        if (is_write) {
            uint64_t one = 1;
            (void)!write(v->q[(off - BAR_NOTIFY) / NOTIFY_MULT].kick_fd, &one, sizeof(one));
        } else {
            memset(data, 0, size);
        }
        return;
    }
    if (off == BAR_ISR) {
        if (!is_write) {
            memset(data, 0, size);
            data[0] = atomic_exchange(&v->isr, 0);   /* read clears */
        }
        return;
    }
    if (off >= BAR_PBA && off < BAR_PBA + 8ULL * ((v->nvec + 63) / 64)) {
        if (!is_write)
            pba_read(v, off - BAR_PBA, data, size);
        return;
    }
    pthread_mutex_lock(&v->lock);
    if (off + size <= sizeof(struct common_cfg)) {
        if (is_write) {
            common_write(v, off, data, size);
        } else {
            struct common_cfg c;
            common_image(v, &c);
            memcpy(data, (uint8_t *)&c + off, size);
        }
    } else if (off >= BAR_DEVICE && off - BAR_DEVICE + size <= v->dev->config_len) {
        if (is_write)
            v->dev->ops->config_write(v->dev, (uint32_t)(off - BAR_DEVICE), data, size);
        else
            v->dev->ops->config_read(v->dev, (uint32_t)(off - BAR_DEVICE), data, size);
    } else if (off >= BAR_MSIX && off + size <= BAR_MSIX + 16ULL * v->nvec) {
        msix_access(v, off - BAR_MSIX, data, size, is_write);
    } else if (!is_write) {
        memset(data, 0, size);
    }
    pthread_mutex_unlock(&v->lock);
}

/* ---- PCI config hooks -------------------------------------------------------- */

static void bar_moved(struct pci_device *dev, unsigned bar, uint64_t old, uint64_t now)
{
    struct vpci *v = dev->opaque;
    if (bar != 0)
        return;
    for (unsigned i = 0; i < v->dev->num_queues; i++) {
        uint64_t at = BAR_NOTIFY + (uint64_t)NOTIFY_MULT * i;
        if (old != PCI_BAR_UNMAPPED)
            v->host.ioeventfd(v->host.ctx, v->q[i].kick_fd, old + at, false);
        if (now != PCI_BAR_UNMAPPED)
            v->host.ioeventfd(v->host.ctx, v->q[i].kick_fd, now + at, true);
    }
}

/* The VIRTIO_PCI_CAP_PCI_CFG window: BAR access through config space. */
static bool pci_cfg_window(struct vpci *v, uint64_t *off, unsigned *len)
{
    struct virtio_pci_cap c;
    memcpy(&c, v->pci.cfg + CAP_PCI_CFG, sizeof(c));
    if (c.bar != 0 || (c.length != 1 && c.length != 2 && c.length != 4) || c.offset % c.length ||
        (uint64_t)c.offset + c.length > VPCI_BAR_SIZE)
        return false;
    *off = c.offset;
    *len = c.length;
    return true;
}

static void cfg_written(struct pci_device *dev, unsigned offset, unsigned size)
{
    struct vpci *v = dev->opaque;
    if (offset < CAP_MSIX + 4 && offset + size > CAP_MSIX + 2) {
        pthread_mutex_lock(&v->lock);
        for (unsigned i = 0; i < v->nvec; i++)
            msix_update(v, i);
        pthread_mutex_unlock(&v->lock);
    }
    uint64_t off;
    unsigned len;
    if (offset >= CAP_PCI_CFG + 16 && offset < CAP_PCI_CFG + 20 && pci_cfg_window(v, &off, &len))
        vpci_bar_io(v, off, v->pci.cfg + CAP_PCI_CFG + 16, len, true);
}

static void cfg_read(struct pci_device *dev, unsigned offset, unsigned size)
{
    struct vpci *v = dev->opaque;
    uint64_t off;
    unsigned len;
    if (offset < CAP_PCI_CFG + 20 && offset + size > CAP_PCI_CFG + 16 && pci_cfg_window(v, &off, &len))
        vpci_bar_io(v, off, v->pci.cfg + CAP_PCI_CFG + 16, len, false);
}

static void add_vcap(struct vpci *v, unsigned at, uint8_t type, uint32_t off, uint32_t len, unsigned cap_len)
{
    uint8_t buf[20] = {0};
    struct virtio_pci_cap c = {
        .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = (uint8_t)cap_len, .cfg_type = type, .bar = 0,
        .offset = off, .length = len,
    };
    memcpy(buf, &c, sizeof(c));
    if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
        uint32_t mult = NOTIFY_MULT;
        memcpy(buf + 16, &mult, 4);
    }
    pci_device_add_cap(&v->pci, at, buf, cap_len);
}

int vpci_init(struct vpci *v, struct virtio_dev *dev, const struct memmap *mem,
              const struct vpci_host *host, uint64_t bar_addr, const char *name)
{
    memset(v, 0, sizeof(*v));
    if (dev->num_queues == 0 || dev->num_queues > VPCI_MAX_QUEUES)
        return -1;
    v->dev = dev;
    v->mem = mem;
    v->host = *host;
    v->nvec = dev->num_queues + 1;
    snprintf(v->name, sizeof(v->name), "%s", name);
    pthread_mutex_init(&v->lock, NULL);
    for (unsigned i = 0; i < VPCI_MAX_QUEUES; i++)
        v->q[i].kick_fd = -1;
    for (unsigned i = 0; i < VPCI_MAX_VECTORS; i++) {
        v->vec[i].fd = -1;
        v->vec[i].gsi = -1;
    }
    for (unsigned i = 0; i < dev->num_queues; i++)
        if ((v->q[i].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
            return -1;
    for (unsigned i = 0; i < v->nvec; i++) {
        if ((v->vec[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
            return -1;
        v->vec[i].ctrl = MSIX_VEC_MASKED;
    }
    dev->transport = v;
    dev->notify = dev_notify;
    dev->broken = dev_broken;
    dev->config_changed = dev_config_changed;
    dev->queue_call_fd = dev_queue_call_fd;
    reset_locked(v);

    /* Modern virtio-pci IDs (4.1.2.1): 0x1040 + device type. */
    uint8_t cls = dev->device_id == VIRTIO_ID_NET ? 0x02 : dev->device_id == VIRTIO_ID_BLOCK ? 0x01 : 0xFF, sub = 0x00;
    pci_device_init(&v->pci, 0x1AF4, (uint16_t)(0x1040 + dev->device_id), cls, sub, 0x00);
    v->pci.cfg[0x08] = 1;   /* revision 1: modern */
    uint16_t ssvid = 0x1AF4, ssid = 0x1100;
    memcpy(v->pci.cfg + PCI_SUBSYSTEM_VENDOR, &ssvid, 2);
    memcpy(v->pci.cfg + PCI_SUBSYSTEM_VENDOR + 2, &ssid, 2);
    v->pci.opaque = v;
    v->pci.cfg_written = cfg_written;
    v->pci.cfg_read = cfg_read;
    v->pci.bar_moved = bar_moved;
    pci_device_set_bar(&v->pci, 0, VPCI_BAR_SIZE, true, bar_addr, vpci_bar_io, v);

    uint8_t msix[12] = {PCI_CAP_ID_MSIX, 0};
    uint16_t ctrl = (uint16_t)(v->nvec - 1);
    uint32_t table = BAR_MSIX, pba = BAR_PBA;   /* BIR 0 */
    memcpy(msix + 2, &ctrl, 2);
    memcpy(msix + 4, &table, 4);
    memcpy(msix + 8, &pba, 4);
    pci_device_add_cap(&v->pci, CAP_MSIX, msix, sizeof(msix));
    v->pci.wmask[CAP_MSIX + 3] = (MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL) >> 8;
    add_vcap(v, CAP_COMMON, VIRTIO_PCI_CAP_COMMON_CFG, BAR_COMMON, sizeof(struct common_cfg), 16);
    add_vcap(v, CAP_NOTIFY, VIRTIO_PCI_CAP_NOTIFY_CFG, BAR_NOTIFY, NOTIFY_MULT * dev->num_queues, 20);
    add_vcap(v, CAP_ISR, VIRTIO_PCI_CAP_ISR_CFG, BAR_ISR, 1, 16);
    add_vcap(v, CAP_DEVICE, VIRTIO_PCI_CAP_DEVICE_CFG, BAR_DEVICE, dev->config_len, 16);
    add_vcap(v, CAP_PCI_CFG, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, 20);
    /* pci_cfg_cap: bar, offset, length and data are the driver's to set. */
    v->pci.wmask[CAP_PCI_CFG + 4] = 0xFF;
    memset(v->pci.wmask + CAP_PCI_CFG + 8, 0xFF, 12);
    return 0;
}

void vpci_shutdown(struct vpci *v)
{
    if (!v->dev)
        return;
    pthread_mutex_lock(&v->lock);
    for (unsigned i = 0; i < v->dev->num_queues; i++) {
        if (v->q[i].started)
            v->dev->ops->queue_stop(v->dev, i);
        v->q[i].started = false;
    }
    pthread_mutex_unlock(&v->lock);
}

void vpci_destroy(struct vpci *v)
{
    if (!v->dev)
        return;
    for (unsigned i = 0; i < v->nvec; i++) {
        struct vpci_vector *x = &v->vec[i];
        if (x->attached)
            v->host.irqfd(v->host.ctx, x->fd, x->gsi, false);
        if (x->gsi >= 0)
            v->host.msi_route_free(v->host.ctx, x->gsi);
    }
    for (unsigned i = 0; i < VPCI_MAX_QUEUES; i++)
        if (v->q[i].kick_fd >= 0)
            close(v->q[i].kick_fd);
    for (unsigned i = 0; i < VPCI_MAX_VECTORS; i++)
        if (v->vec[i].fd >= 0)
            close(v->vec[i].fd);
    pthread_mutex_destroy(&v->lock);
    v->dev = NULL;
}

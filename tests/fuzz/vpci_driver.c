#include "vpci_driver.h"

#include <stdlib.h>
#include <string.h>

/* The transport's BAR layout and common configuration (virtio 4.1.4.3),
 * written out here as a driver knows them. */
#define R_GFSELECT   0x08
#define R_GFEATURE   0x0C
#define R_STATUS     0x14
#define R_QSELECT    0x16
#define R_QSIZE      0x18
#define R_QVECTOR    0x1A
#define R_QENABLE    0x1C
#define R_QDESC      0x20
#define R_QDRIVER    0x28
#define R_QDEVICE    0x30
#define R_CFGVECTOR  0x10
#define BAR_NOTIFY   0x3000
#define BAR_MSIX     0x4000

#define ST_ACK 1
#define ST_DRIVER 2
#define ST_DRIVER_OK 4
#define ST_FEATURES_OK 8

enum op {
    OP_BAR_WRITE,
    OP_BAR_READ,
    OP_CFG,
    OP_RAM,
    OP_NEGOTIATE,
    OP_SETUP_QUEUE,
    OP_POST,
    OP_POST2,
    OP_RUN,
    OP_RESET,
    OP_MSIX,
    OP_KICK,
    OP_COUNT
};

static int host_msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    (void)addr, (void)data;
    int *next = ctx;
    return gsi >= 0 ? gsi : (*next)++;
}

static void host_msi_route_free(void *ctx, int gsi)
{
    (void)ctx, (void)gsi;
}

static int host_irqfd(void *ctx, int fd, int gsi, bool assign)
{
    (void)ctx, (void)fd, (void)gsi, (void)assign;
    return 0;
}

static int host_ioeventfd(void *ctx, int fd, uint64_t addr, bool assign)
{
    (void)ctx, (void)fd, (void)addr, (void)assign;
    return 0;
}

static int next_gsi = 24;

void vdrv_init_ram(struct vdrv *d)
{
    memset(d, 0, sizeof(*d));
    if (posix_memalign((void **)&d->ram, 4096, VDRV_RAM_SIZE))
        abort();
    memset(d->ram, 0, VDRV_RAM_SIZE);
    memmap_add(&d->map, VDRV_RAM_GPA, VDRV_RAM_SIZE, d->ram);
}

void vdrv_init(struct vdrv *d, struct virtio_dev *dev, struct event_loop *loop, vdrv_post_fn post)
{
    vdrv_init_ram(d);
    vdrv_attach(d, dev, loop, post);
}

void vdrv_attach(struct vdrv *d, struct virtio_dev *dev, struct event_loop *loop, vdrv_post_fn post)
{
    d->loop = loop;
    d->dev = dev;
    d->post = post;
    d->next_buf = VDRV_BUF_BASE;
    struct vpci_host host = {.ctx = &next_gsi, .msi_route = host_msi_route, .msi_route_free = host_msi_route_free,
                             .irqfd = host_irqfd, .ioeventfd = host_ioeventfd};
    pci_bus_init(&d->bus, (struct machine_ctl){0});
    if (vpci_init(&d->v, dev, &d->map, &host, 0xC0000000ULL, "fuzz") < 0 ||
        pci_bus_register(&d->bus, VDRV_SLOT, &d->v.pci) < 0)
        abort();
}

void vdrv_destroy(struct vdrv *d)
{
    vpci_shutdown(&d->v);
    vpci_destroy(&d->v);
    pthread_mutex_destroy(&d->bus.lock);
    free(d->ram);
}

uint8_t *vdrv_ptr(struct vdrv *d, uint64_t gpa)
{
    return d->ram + (gpa - VDRV_RAM_GPA);
}

/* Queue q's rings: descriptors, then the avail and used rings, in a 4 KiB
 * page of its own. */
static uint64_t ring(unsigned q, unsigned part)
{
    static const uint64_t at[3] = {0x000, 0x100, 0x200};
    return VDRV_RAM_GPA + 0x1000ULL * q + at[part];
}

static void bar_write(struct vdrv *d, uint64_t off, uint64_t v, unsigned size)
{
    uint8_t b[8];
    memcpy(b, &v, 8);
    vpci_bar_io(&d->v, off, b, size, true);
}

unsigned vdrv_next_desc(struct vdrv *d, unsigned q)
{
    return d->next_desc[q]++ % VDRV_QSIZE;
}

void vdrv_set_desc(struct vdrv *d, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                   uint16_t next)
{
    struct virtq_desc desc = {.addr = addr, .len = len, .flags = flags, .next = next};
    memcpy(vdrv_ptr(d, ring(q, 0) + 16ULL * (i % VDRV_QSIZE)), &desc, sizeof(desc));
}

uint64_t vdrv_buf(struct vdrv *d, uint32_t len)
{
    if (len > VDRV_RAM_SIZE - VDRV_BUF_BASE)
        len = VDRV_RAM_SIZE - VDRV_BUF_BASE;
    if (d->next_buf + len > VDRV_RAM_SIZE)
        d->next_buf = VDRV_BUF_BASE;
    uint64_t a = VDRV_RAM_GPA + d->next_buf;
    d->next_buf = (d->next_buf + len + 15) & ~15u;
    return a;
}

static void negotiate(struct vdrv *d, const uint8_t *r)
{
    uint32_t mask_lo, mask_hi = r[5] & 1 ? 0xFFFFFFFFu : 1u;   /* VERSION_1 is bit 32 */
    memcpy(&mask_lo, r + 1, 4);
    uint64_t want = d->dev->host_features & ((uint64_t)mask_hi << 32 | mask_lo);
    bar_write(d, R_STATUS, ST_ACK | ST_DRIVER, 1);
    for (unsigned sel = 0; sel < 2; sel++) {
        bar_write(d, R_GFSELECT, sel, 4);
        bar_write(d, R_GFEATURE, (uint32_t)(want >> (32 * sel)), 4);
    }
    bar_write(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK, 1);
    if (r[5] & 2)
        bar_write(d, R_STATUS, ST_ACK | ST_DRIVER | ST_FEATURES_OK | ST_DRIVER_OK, 1);
}

static void setup_queue(struct vdrv *d, const uint8_t *r)
{
    unsigned q = r[1] % VDRV_MAX_Q;
    bar_write(d, R_QSELECT, q, 2);
    bar_write(d, R_QSIZE, r[3] & 0x80 ? r[3] & 0x7F : VDRV_QSIZE, 2);
    bar_write(d, R_QVECTOR, r[2] % 8, 2);
    bar_write(d, R_QDESC, ring(q, 0), 8);
    bar_write(d, R_QDRIVER, ring(q, 1), 8);
    bar_write(d, R_QDEVICE, ring(q, 2), 8);
    memset(vdrv_ptr(d, ring(q, 0)), 0, 0x1000);
    d->avail_idx[q] = 0;
    d->next_desc[q] = 0;
    bar_write(d, R_QENABLE, 1, 2);
}

static void kick(struct vdrv *d, unsigned q)
{
    bar_write(d, BAR_NOTIFY + 4ULL * q, q, 2);
}

static void post(struct vdrv *d, const uint8_t *r)
{
    unsigned q = r[1] % VDRV_MAX_Q;
    int head = d->post(d, q, r);
    if (head < 0)
        return;
    uint16_t h = (uint16_t)head;
    memcpy(vdrv_ptr(d, ring(q, 1) + 4 + 2ULL * (d->avail_idx[q] % VDRV_QSIZE)), &h, 2);
    d->avail_idx[q]++;
    __atomic_store_n((uint16_t *)vdrv_ptr(d, ring(q, 1) + 2), d->avail_idx[q], __ATOMIC_RELEASE);
    if (!(r[7] & 0x80))
        kick(d, q);
}

static void msix(struct vdrv *d, const uint8_t *r)
{
    /* Memory decoding on, MSI-X enabled (or not), the vector table filled. */
    uint8_t cmd[2] = {PCI_COMMAND_MEMORY, 0};
    pci_ecam_io(&d->bus, (VDRV_SLOT << 15) | PCI_COMMAND, cmd, 2, true);
    uint8_t ctl[2] = {0, r[1] & 0xC0};
    pci_ecam_io(&d->bus, (VDRV_SLOT << 15) | (0x40 + 2), ctl, 2, true);
    unsigned vec = r[2] % 8;
    bar_write(d, BAR_MSIX + 16ULL * vec, 0xFEE00000u, 4);
    bar_write(d, BAR_MSIX + 16ULL * vec + 8, r[3], 4);
    bar_write(d, BAR_MSIX + 16ULL * vec + 12, r[4] & 1, 4);
    bar_write(d, R_CFGVECTOR, r[5] % 8, 2);
}

void vdrv_play(struct vdrv *d, const uint8_t *data, size_t size)
{
    static const uint64_t regions[8] = {0x0000, 0x0000, 0x1000, 0x2000, 0x3000, 0x4000, 0x6000, 0x0000};
    for (size_t i = 0; i + 8 <= size; i += 8) {
        const uint8_t *r = data + i;
        unsigned size_b = 1u << (r[3] & 3);
        uint64_t v;
        memcpy(&v, r + 4, 4);
        v |= v << 32;
        switch (r[0] % OP_COUNT) {
        case OP_BAR_WRITE:
        case OP_BAR_READ: {
            uint64_t off = (r[1] & 7) == 7 ? (uint64_t)(r[1] >> 3 | r[2] << 5) % VPCI_BAR_SIZE
                                           : regions[r[1] & 7] + (r[2] & 0x7F);
            uint8_t b[8];
            memcpy(b, &v, 8);
            vpci_bar_io(&d->v, off, b, size_b, r[0] % OP_COUNT == OP_BAR_WRITE);
            break;
        }
        case OP_CFG: {
            uint8_t b[8];
            memcpy(b, &v, 8);
            uint64_t reg = (uint64_t)(r[1] | (r[2] & 0xF) << 8);
            pci_ecam_io(&d->bus, (VDRV_SLOT << 15) | reg, b, size_b > 4 ? 4 : size_b, r[3] & 4);
            break;
        }
        case OP_RAM:
            memcpy(d->ram + ((size_t)(r[1] | r[2] << 8) % (VDRV_RAM_SIZE - 4)), r + 4, 4);
            break;
        case OP_NEGOTIATE:
            negotiate(d, r);
            break;
        case OP_SETUP_QUEUE:
            setup_queue(d, r);
            break;
        case OP_POST:
        case OP_POST2:
            post(d, r);
            break;
        case OP_RUN:
            for (unsigned k = 0; k <= (r[1] & 3u); k++)
                event_loop_run_once(d->loop, 0);
            break;
        case OP_RESET:
            bar_write(d, R_STATUS, 0, 1);
            break;
        case OP_MSIX:
            msix(d, r);
            break;
        case OP_KICK:
            kick(d, r[1] % VDRV_MAX_Q);
            break;
        }
    }
    for (int k = 0; k < 4; k++)
        event_loop_run_once(d->loop, 0);
}

/* The virtio 1.x modern PCI transport, driven the way a guest driver would:
 * config space through ECAM, the BAR through the PCI window or the BAR's
 * handler.  The device model and the machine (MSI routes, irqfds,
 * ioeventfds) are stubs that record what the transport asks of them. */
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "mem/memmap.h"
#include "util/log.h"
#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"
#include "stub_dev.h"

#define SLOT      3
#define WIN_BASE  0xC0000000ULL
#define BAR_ADDR  0xC0010000ULL
#define BAR_ADDR2 0xC0100000ULL
#define NQ        STUB_NQ
#define NVEC      (NQ + 1)
#define QMAX      STUB_QMAX
#define CFG_LEN   STUB_CFG_LEN
#define RAM_GPA   0x100000ULL
#define RAM_SIZE  0x10000ULL
#define FIRST_GSI 24

#define F_DEV         STUB_F_DEV
#define HOST_FEATURES STUB_HOST_FEATURES

/* virtio_pci_common_cfg offsets from the spec (4.1.4.3), written out here
 * rather than taken from the implementation so the layout is checked. */
#define CC_DFSELECT   0x00
#define CC_DF         0x04
#define CC_GFSELECT   0x08
#define CC_GF         0x0C
#define CC_MSIX_CFG   0x10
#define CC_NUMQ       0x12
#define CC_STATUS     0x14
#define CC_CFGGEN     0x15
#define CC_QSEL       0x16
#define CC_QSIZE      0x18
#define CC_QMSIX      0x1A
#define CC_QENABLE    0x1C
#define CC_QNOFF      0x1E
#define CC_QDESC      0x20
#define CC_QDRIVER    0x28
#define CC_QDEVICE    0x30
#define CC_LEN        0x38

#define R_ISR      0x1000
#define R_DEVICE   0x2000
#define R_NOTIFY   0x3000
#define NOTIFY_MUL 4
#define R_MSIX     0x4000
#define R_PBA      0x6000

#define CAP_MSIX_ID 0x11
#define CAP_VNDR_ID 0x09
#define MSIX_ENABLE  0x8000
#define MSIX_MASKALL 0x4000

#define S_ACK  VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV  VIRTIO_STATUS_DRIVER
#define S_FOK  VIRTIO_STATUS_FEATURES_OK
#define S_DOK  VIRTIO_STATUS_DRIVER_OK

/* ---- Stub host ------------------------------------------------------------ */

enum call_kind { CALL_ROUTE, CALL_IRQFD, CALL_IOEVENTFD };

struct host_call {
    enum call_kind kind;
    int fd, gsi;
    uint64_t addr;
    uint32_t data;
    bool assign;
};

#define LOG_MAX 64

struct stub_host {
    int next_gsi;
    unsigned n;                /* calls made; only the first LOG_MAX are kept */
    struct host_call log[LOG_MAX];
    unsigned routes, irqfd_on, irqfd_off, ioev_on, ioev_off;
};

static void host_record(struct stub_host *h, struct host_call c)
{
    if (h->n < LOG_MAX)
        h->log[h->n] = c;
    h->n++;
}

static int host_msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct stub_host *h = ctx;
    if (gsi < 0)
        gsi = h->next_gsi++;
    h->routes++;
    host_record(h, (struct host_call){CALL_ROUTE, -1, gsi, addr, data, true});
    return gsi;
}

static void host_msi_route_free(void *ctx, int gsi)
{
    (void)ctx;
    (void)gsi;
}

static int host_irqfd(void *ctx, int fd, int gsi, bool assign)
{
    struct stub_host *h = ctx;
    if (assign)
        h->irqfd_on++;
    else
        h->irqfd_off++;
    host_record(h, (struct host_call){CALL_IRQFD, fd, gsi, 0, 0, assign});
    return 0;
}

static int host_ioeventfd(void *ctx, int fd, uint64_t addr, bool assign)
{
    struct stub_host *h = ctx;
    if (assign)
        h->ioev_on++;
    else
        h->ioev_off++;
    host_record(h, (struct host_call){CALL_IOEVENTFD, fd, -1, addr, 0, assign});
    return 0;
}

static void host_clear(struct stub_host *h)
{
    int next = h->next_gsi;
    memset(h, 0, sizeof(*h));
    h->next_gsi = next;
}

/* ---- Fixture ------------------------------------------------------------ */

struct fx {
    struct stub_dev s;
    struct stub_host h;
    struct memmap mem;
    uint8_t *ram;
    struct pci_bus bus;
    struct pci_window win;
    struct vpci v;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    /* Page-aligned like real guest RAM, so ring alignment checks see the
     * guest's alignment and not malloc's. */
    assert_int_equal(posix_memalign((void **)&f->ram, 4096, RAM_SIZE), 0);
    memset(f->ram, 0, RAM_SIZE);
    assert_int_equal(memmap_add(&f->mem, RAM_GPA, RAM_SIZE, f->ram), 0);

    stub_dev_init(&f->s);
    /* Queues may start only after FEATURES_OK stuck, and this modern-only
     * transport lets it stick only with VERSION_1. */
    f->s.start_needs = BIT(VIRTIO_F_VERSION_1);
    f->h.next_gsi = FIRST_GSI;
    struct vpci_host host = {
        .ctx = &f->h,
        .msi_route = host_msi_route,
        .msi_route_free = host_msi_route_free,
        .irqfd = host_irqfd,
        .ioeventfd = host_ioeventfd,
    };
    pci_bus_init(&f->bus, (struct machine_ctl){0});
    f->win = (struct pci_window){&f->bus, WIN_BASE};
    assert_int_equal(vpci_init(&f->v, &f->s.d, &f->mem, &host, BAR_ADDR, "test-vpci"), 0);
    assert_int_equal(pci_bus_register(&f->bus, SLOT, &f->v.pci), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    vpci_shutdown(&f->v);
    unsigned running = stub_dev_running(&f->s);
    struct stub_dev s = f->s;
    vpci_destroy(&f->v);
    pthread_mutex_destroy(&f->bus.lock);
    free(f->ram);
    free(f);
    /* Checked after freeing so a failure here leaks nothing under ASan. */
    assert_int_equal(running, 0);
    stub_dev_check(&s);
    return 0;
}

/* ---- Guest-side accessors ------------------------------------------------- */

static uint32_t cfg_rd(struct fx *f, unsigned reg, unsigned size)
{
    uint8_t b[4] = {0};
    pci_ecam_io(&f->bus, (uint64_t)SLOT << 15 | reg, b, size, false);
    uint32_t v = 0;
    memcpy(&v, b, size);
    return v;
}

static void cfg_wr(struct fx *f, unsigned reg, unsigned size, uint32_t val)
{
    uint8_t b[4];
    memcpy(b, &val, 4);
    pci_ecam_io(&f->bus, (uint64_t)SLOT << 15 | reg, b, size, true);
}

static uint64_t bar_rd(struct fx *f, uint64_t off, unsigned size)
{
    uint8_t b[8] = {0};
    vpci_bar_io(&f->v, off, b, size, false);
    uint64_t v = 0;
    memcpy(&v, b, size);
    return v;
}

static void bar_wr(struct fx *f, uint64_t off, unsigned size, uint64_t val)
{
    uint8_t b[8];
    memcpy(b, &val, 8);
    vpci_bar_io(&f->v, off, b, size, true);
}

/* Through the bus, at a guest-physical address, as an MMIO exit would. */
static uint64_t mmio_rd(struct fx *f, uint64_t gpa, unsigned size)
{
    uint8_t b[8] = {0};
    pci_bar_io(&f->win, gpa - WIN_BASE, b, size, false);
    uint64_t v = 0;
    memcpy(&v, b, size);
    return v;
}

static void mmio_wr(struct fx *f, uint64_t gpa, unsigned size, uint64_t val)
{
    uint8_t b[8];
    memcpy(b, &val, 8);
    pci_bar_io(&f->win, gpa - WIN_BASE, b, size, true);
}

static uint8_t status(struct fx *f) { return (uint8_t)bar_rd(f, CC_STATUS, 1); }
static void set_status(struct fx *f, uint8_t s) { bar_wr(f, CC_STATUS, 1, s); }

/* Linux writes 64-bit common-cfg fields as two dwords, low first. */
static void wr64(struct fx *f, uint64_t off, uint64_t val)
{
    bar_wr(f, off, 4, (uint32_t)val);
    bar_wr(f, off + 4, 4, (uint32_t)(val >> 32));
}

static uint8_t negotiate(struct fx *f, uint64_t features)
{
    set_status(f, 0);
    set_status(f, S_ACK);
    set_status(f, S_ACK | S_DRV);
    bar_wr(f, CC_GFSELECT, 4, 0);
    bar_wr(f, CC_GF, 4, (uint32_t)features);
    bar_wr(f, CC_GFSELECT, 4, 1);
    bar_wr(f, CC_GF, 4, (uint32_t)(features >> 32));
    set_status(f, S_ACK | S_DRV | S_FOK);
    return status(f);
}

/* Rings for queue q of size n, laid out one page each inside guest RAM. */
static uint64_t ring_gpa(unsigned q, unsigned which) { return RAM_GPA + 0x4000ULL * q + 0x1000ULL * which; }

static void setup_queue(struct fx *f, unsigned q, uint16_t n, uint64_t desc, uint64_t avail, uint64_t used)
{
    bar_wr(f, CC_QSEL, 2, q);
    bar_wr(f, CC_QSIZE, 2, n);
    wr64(f, CC_QDESC, desc);
    wr64(f, CC_QDRIVER, avail);
    wr64(f, CC_QDEVICE, used);
    bar_wr(f, CC_QENABLE, 2, 1);
}

static void setup_queue_in_ram(struct fx *f, unsigned q, uint16_t n)
{
    setup_queue(f, q, n, ring_gpa(q, 0), ring_gpa(q, 1), ring_gpa(q, 2));
}

static bool fd_readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static uint64_t drain(int fd)
{
    uint64_t n = 0;
    if (read(fd, &n, sizeof(n)) != sizeof(n))
        return 0;
    return n;
}

static unsigned queue_of(struct fx *f, int kick_fd)
{
    for (unsigned q = 0; q < NQ; q++)
        if (f->v.q[q].kick_fd == kick_fd)
            return q;
    fail_msg("fd %d is no queue's kick eventfd", kick_fd);
    return 0;
}

#define MSIX_ENTRY(i, word) (R_MSIX + 16ULL * (i) + 4ULL * (word))

/* ---- Config space ----------------------------------------------------------- */

struct vcap {
    unsigned at;
    uint8_t len, type, bar;
    uint32_t offset, length, mult;
};

static void config_space(void **state)
{
    struct fx *f = *state;
    assert_int_equal(cfg_rd(f, 0x00, 2), 0x1AF4);
    assert_int_equal(cfg_rd(f, 0x02, 2), 0x1040 + VIRTIO_ID_BLOCK);
    assert_int_equal(cfg_rd(f, 0x08, 1), 1);               /* revision 1: modern */
    assert_int_equal(cfg_rd(f, 0x0B, 1), 0x01);            /* mass storage */
    assert_int_equal(cfg_rd(f, 0x2C, 2), 0x1AF4);
    assert_true(cfg_rd(f, 0x06, 2) & PCI_STATUS_CAP_LIST);
    /* IDs are read-only. */
    cfg_wr(f, 0x00, 4, 0x12345678);
    assert_int_equal(cfg_rd(f, 0x00, 4), (0x1040u + VIRTIO_ID_BLOCK) << 16 | 0x1AF4);

    struct vcap caps[8];
    unsigned ncaps = 0, msix_at = 0, steps = 0;
    for (unsigned p = cfg_rd(f, PCI_CAP_PTR, 1); p; p = cfg_rd(f, p + 1, 1)) {
        /* Pointers must stay in the standard header's cap area, and the
         * list must end (a loop would hang a guest's walk). */
        assert_true(p >= 0x40 && p <= 0xFC && (p & 3) == 0);
        assert_true(++steps < 48);
        unsigned id = cfg_rd(f, p, 1);
        if (id == CAP_MSIX_ID) {
            msix_at = p;
            continue;
        }
        assert_int_equal(id, CAP_VNDR_ID);
        assert_true(ncaps < 8);
        struct vcap *c = &caps[ncaps++];
        c->at = p;
        c->len = (uint8_t)cfg_rd(f, p + 2, 1);
        c->type = (uint8_t)cfg_rd(f, p + 3, 1);
        c->bar = (uint8_t)cfg_rd(f, p + 4, 1);
        c->offset = cfg_rd(f, p + 8, 4);
        c->length = cfg_rd(f, p + 12, 4);
        c->mult = c->len >= 20 ? cfg_rd(f, p + 16, 4) : 0;
    }
    assert_int_not_equal(msix_at, 0);
    /* Table size N-1 in bits 10:0, one vector per queue plus config. */
    assert_int_equal(cfg_rd(f, msix_at + 2, 2), NVEC - 1);
    assert_int_equal(cfg_rd(f, msix_at + 4, 4), R_MSIX | 0);   /* BIR 0 */
    assert_int_equal(cfg_rd(f, msix_at + 8, 4), R_PBA | 0);

    static const struct {
        uint8_t type, len;
        uint32_t offset, length;
    } want[] = {
        {1, 16, 0, CC_LEN},
        {2, 20, R_NOTIFY, NOTIFY_MUL * NQ},
        {3, 16, R_ISR, 1},
        {4, 16, R_DEVICE, CFG_LEN},
        {5, 20, 0, 0},
    };
    assert_int_equal(ncaps, 5);
    for (unsigned w = 0; w < 5; w++) {
        const struct vcap *c = NULL;
        for (unsigned i = 0; i < ncaps; i++)
            if (caps[i].type == want[w].type)
                c = &caps[i];
        if (!c)
            fail_msg("no vendor capability of cfg_type %u", want[w].type);
        assert_int_equal(c->len, want[w].len);
        assert_int_equal(c->bar, 0);
        if (want[w].type == 5)
            continue;   /* offset/length are the driver's scratch there */
        assert_int_equal(c->offset, want[w].offset);
        assert_int_equal(c->length, want[w].length);
        if (want[w].type == 2)
            assert_int_equal(c->mult, NOTIFY_MUL);
    }
    /* Every structure lies inside BAR0. */
    for (unsigned i = 0; i < ncaps; i++)
        assert_true((uint64_t)caps[i].offset + caps[i].length <= VPCI_BAR_SIZE);
    /* Capabilities are read-only, except the pci_cfg window's fields. */
    for (unsigned i = 0; i < ncaps; i++) {
        if (caps[i].type == 5)
            continue;
        cfg_wr(f, caps[i].at + 8, 4, 0xDEAD0000);
        assert_int_equal(cfg_rd(f, caps[i].at + 8, 4), caps[i].offset);
    }
}

static void bar_sizing_and_decode(void **state)
{
    struct fx *f = *state;
    /* 64-bit memory BAR: type bits 10b in 2:1, not prefetchable. */
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)BAR_ADDR | 0x4);
    assert_int_equal(cfg_rd(f, PCI_BAR0 + 4, 4), (uint32_t)(BAR_ADDR >> 32));
    for (unsigned i = 2; i < PCI_NUM_BARS; i++)
        assert_int_equal(cfg_rd(f, PCI_BAR0 + 4 * i, 4), 0);

    /* Sizing, as firmware does it with decode off. */
    cfg_wr(f, PCI_BAR0, 4, 0xFFFFFFFF);
    cfg_wr(f, PCI_BAR0 + 4, 4, 0xFFFFFFFF);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)~(VPCI_BAR_SIZE - 1) | 0x4);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), 0xFFFF8004);
    assert_int_equal(cfg_rd(f, PCI_BAR0 + 4, 4), 0xFFFFFFFF);
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_ADDR);
    cfg_wr(f, PCI_BAR0 + 4, 4, 0);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)BAR_ADDR | 0x4);
    /* Low bits below the size are not writable. */
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_ADDR | 0x7FF0);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)BAR_ADDR | 0x4);
    /* Unimplemented BARs size to 0. */
    cfg_wr(f, PCI_BAR0 + 8, 4, 0xFFFFFFFF);
    assert_int_equal(cfg_rd(f, PCI_BAR0 + 8, 4), 0);

    /* Memory space off: the BAR is not there. */
    assert_int_equal(cfg_rd(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY, 0);
    assert_int_equal(mmio_rd(f, BAR_ADDR + CC_NUMQ, 2), 0xFFFF);
    assert_int_equal(mmio_rd(f, BAR_ADDR + CC_DF, 4), 0xFFFFFFFF);
    assert_int_equal(f->h.ioev_on + f->h.ioev_off, 0);
    /* ... and writes go nowhere. */
    mmio_wr(f, BAR_ADDR + CC_STATUS, 1, S_ACK);
    assert_int_equal(status(f), 0);

    host_clear(&f->h);
    cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    assert_int_equal(mmio_rd(f, BAR_ADDR + CC_NUMQ, 2), NQ);
    assert_int_equal(mmio_rd(f, BAR_ADDR + CC_DF, 4), (uint32_t)HOST_FEATURES);
    /* Kicks go straight to the queues' eventfds from now on. */
    assert_int_equal(f->h.ioev_on, NQ);
    assert_int_equal(f->h.ioev_off, 0);
    for (unsigned i = 0; i < NQ; i++) {
        assert_int_equal(f->h.log[i].kind, CALL_IOEVENTFD);
        assert_true(f->h.log[i].assign);
        assert_int_equal(f->h.log[i].addr, BAR_ADDR + R_NOTIFY + NOTIFY_MUL * queue_of(f, f->h.log[i].fd));
    }
    /* Just past the BAR, and a dword straddling its end, hit nothing. */
    assert_int_equal(mmio_rd(f, BAR_ADDR + VPCI_BAR_SIZE, 4), 0xFFFFFFFF);
    assert_int_equal(mmio_rd(f, BAR_ADDR + VPCI_BAR_SIZE - 2, 4), 0xFFFFFFFF);

    /* Without an ioeventfd behind it, a notify write still kicks. */
    mmio_wr(f, BAR_ADDR + R_NOTIFY + NOTIFY_MUL * 1, 2, 1);
    assert_false(fd_readable(f->v.q[0].kick_fd));
    assert_int_equal(drain(f->v.q[1].kick_fd), 1);

    /* The guest moves the BAR: old ioeventfds out, new ones in. */
    host_clear(&f->h);
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_ADDR2);
    assert_int_equal(cfg_rd(f, PCI_BAR0, 4), (uint32_t)BAR_ADDR2 | 0x4);
    assert_int_equal(f->h.ioev_off, NQ);
    assert_int_equal(f->h.ioev_on, NQ);
    for (unsigned q = 0; q < NQ; q++) {
        bool saw_off = false, saw_on = false;
        for (unsigned i = 0; i < f->h.n && i < LOG_MAX; i++) {
            const struct host_call *c = &f->h.log[i];
            assert_int_equal(c->kind, CALL_IOEVENTFD);
            if (c->fd != f->v.q[q].kick_fd)
                continue;
            if (!c->assign) {
                assert_int_equal(c->addr, BAR_ADDR + R_NOTIFY + NOTIFY_MUL * q);
                assert_false(saw_on);   /* the old one goes before the new one comes */
                saw_off = true;
            } else {
                assert_int_equal(c->addr, BAR_ADDR2 + R_NOTIFY + NOTIFY_MUL * q);
                saw_on = true;
            }
        }
        assert_true(saw_off && saw_on);
    }
    assert_int_equal(mmio_rd(f, BAR_ADDR + CC_NUMQ, 2), 0xFFFF);
    assert_int_equal(mmio_rd(f, BAR_ADDR2 + CC_NUMQ, 2), NQ);

    /* Rewriting the same address is not a move. */
    host_clear(&f->h);
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_ADDR2);
    assert_int_equal(f->h.n, 0);

    /* Sizing with decode on (high half first): it stops decoding while
     * the BAR holds all ones, and comes back when restored. */
    host_clear(&f->h);
    cfg_wr(f, PCI_BAR0 + 4, 4, 0xFFFFFFFF);
    assert_int_equal(f->h.ioev_off, NQ);
    assert_int_equal(f->h.ioev_on, 0);
    cfg_wr(f, PCI_BAR0, 4, 0xFFFFFFFF);
    assert_int_equal(f->h.ioev_on, 0);
    cfg_wr(f, PCI_BAR0, 4, (uint32_t)BAR_ADDR2);
    cfg_wr(f, PCI_BAR0 + 4, 4, 0);
    assert_int_equal(f->h.ioev_on, NQ);
    assert_int_equal(mmio_rd(f, BAR_ADDR2 + CC_NUMQ, 2), NQ);

    /* Memory space off again: everything is withdrawn. */
    host_clear(&f->h);
    cfg_wr(f, PCI_COMMAND, 2, 0);
    assert_int_equal(f->h.ioev_off, NQ);
    assert_int_equal(f->h.ioev_on, 0);
    for (unsigned i = 0; i < NQ; i++) {
        assert_false(f->h.log[i].assign);
        assert_int_equal(f->h.log[i].addr, BAR_ADDR2 + R_NOTIFY + NOTIFY_MUL * queue_of(f, f->h.log[i].fd));
    }
    assert_int_equal(mmio_rd(f, BAR_ADDR2 + CC_NUMQ, 2), 0xFFFF);
}

/* ---- Feature negotiation -------------------------------------------------- */

static void features(void **state)
{
    struct fx *f = *state;
    bar_wr(f, CC_DFSELECT, 4, 0);
    assert_int_equal(bar_rd(f, CC_DF, 4), (uint32_t)HOST_FEATURES);
    bar_wr(f, CC_DFSELECT, 4, 1);
    assert_int_equal(bar_rd(f, CC_DFSELECT, 4), 1);
    assert_int_equal(bar_rd(f, CC_DF, 4), (uint32_t)(HOST_FEATURES >> 32));
    bar_wr(f, CC_DFSELECT, 4, 2);
    assert_int_equal(bar_rd(f, CC_DF, 4), 0);
    /* device_feature is read-only. */
    bar_wr(f, CC_DFSELECT, 4, 0);
    bar_wr(f, CC_DF, 4, 0xFFFFFFFF);
    assert_int_equal(bar_rd(f, CC_DF, 4), (uint32_t)HOST_FEATURES);

    /* A bit we did not offer. */
    assert_int_equal(negotiate(f, HOST_FEATURES | BIT(3)), S_ACK | S_DRV);
    assert_int_equal(f->s.d.features, 0);
    /* One in the high word we did not offer either. */
    assert_int_equal(negotiate(f, HOST_FEATURES | BIT(33)), S_ACK | S_DRV);
    /* Legacy drivers (no VERSION_1) are refused: modern-only device. */
    assert_int_equal(negotiate(f, BIT(F_DEV)), S_ACK | S_DRV);
    assert_int_equal(negotiate(f, 0), S_ACK | S_DRV);
    assert_int_equal(f->s.d.features, 0);
    /* A second try without reset, now valid, is accepted. */
    bar_wr(f, CC_GFSELECT, 4, 0);
    bar_wr(f, CC_GF, 4, 0);
    bar_wr(f, CC_GFSELECT, 4, 1);
    bar_wr(f, CC_GF, 4, 1);
    set_status(f, S_ACK | S_DRV | S_FOK);
    assert_int_equal(status(f), S_ACK | S_DRV | S_FOK);
    assert_int_equal(f->s.d.features, BIT(VIRTIO_F_VERSION_1));

    uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(F_DEV);
    assert_int_equal(negotiate(f, want), S_ACK | S_DRV | S_FOK);
    assert_int_equal(f->s.d.features, want);
    bar_wr(f, CC_GFSELECT, 4, 0);
    assert_int_equal(bar_rd(f, CC_GF, 4), (uint32_t)want);
    bar_wr(f, CC_GFSELECT, 4, 1);
    assert_int_equal(bar_rd(f, CC_GF, 4), (uint32_t)(want >> 32));
    /* Frozen once FEATURES_OK is set. */
    bar_wr(f, CC_GFSELECT, 4, 0);
    bar_wr(f, CC_GF, 4, (uint32_t)HOST_FEATURES);
    assert_int_equal(bar_rd(f, CC_GF, 4), (uint32_t)want);
    assert_int_equal(f->s.d.features, want);

    /* Reset forgets everything. */
    set_status(f, 0);
    assert_int_equal(status(f), 0);
    assert_int_equal(f->s.d.features, 0);
    assert_int_equal(bar_rd(f, CC_GF, 4), 0);
    assert_int_equal(bar_rd(f, CC_DFSELECT, 4), 0);
}

/* ---- Queues ---------------------------------------------------------------- */

static void queue_registers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bar_rd(f, CC_NUMQ, 2), NQ);
    bar_wr(f, CC_NUMQ, 2, 7);
    assert_int_equal(bar_rd(f, CC_NUMQ, 2), NQ);
    for (unsigned q = 0; q < NQ; q++) {
        bar_wr(f, CC_QSEL, 2, q);
        assert_int_equal(bar_rd(f, CC_QSEL, 2), q);
        assert_int_equal(bar_rd(f, CC_QSIZE, 2), QMAX);
        assert_int_equal(bar_rd(f, CC_QNOFF, 2), q);
        assert_int_equal(bar_rd(f, CC_QENABLE, 2), 0);
        assert_int_equal(bar_rd(f, CC_QMSIX, 2), VIRTIO_MSI_NO_VECTOR);
        assert_int_equal(bar_rd(f, CC_QDESC, 8), 0);
    }
    /* A queue that does not exist reads as size 0 and takes no writes. */
    bar_wr(f, CC_QSEL, 2, NQ);
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), 0);
    bar_wr(f, CC_QSIZE, 2, 8);
    bar_wr(f, CC_QENABLE, 2, 1);
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), 0);
    assert_int_equal(bar_rd(f, CC_QENABLE, 2), 0);
    bar_wr(f, CC_QSEL, 2, 0xFFFF);
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), 0);

    /* Addresses read back, written as two halves or in one qword. */
    bar_wr(f, CC_QSEL, 2, 1);
    bar_wr(f, CC_QSIZE, 2, 64);
    wr64(f, CC_QDESC, 0x123456789AB000ULL);
    bar_wr(f, CC_QDRIVER, 8, 0x1000);
    wr64(f, CC_QDEVICE, 0x2000);
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), 64);
    assert_int_equal(bar_rd(f, CC_QDESC, 8), 0x123456789AB000ULL);
    assert_int_equal(bar_rd(f, CC_QDESC + 4, 4), 0x123456);
    assert_int_equal(bar_rd(f, CC_QDRIVER, 8), 0x1000);
    assert_int_equal(bar_rd(f, CC_QDEVICE, 8), 0x2000);
    /* Queue 0 kept its own. */
    bar_wr(f, CC_QSEL, 2, 0);
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), QMAX);
    assert_int_equal(bar_rd(f, CC_QDESC, 8), 0);
}

static void queue_start_and_reset(void **state)
{
    struct fx *f = *state;
    uint64_t feat = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX);
    assert_int_equal(negotiate(f, feat), S_ACK | S_DRV | S_FOK);
    setup_queue_in_ram(f, 0, 16);
    assert_int_equal(bar_rd(f, CC_QENABLE, 2), 1);
    /* Not before DRIVER_OK. */
    assert_int_equal(f->s.start_calls, 0);

    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.start_calls, 1);
    assert_int_equal(f->s.starts[0], 1);
    assert_int_equal(f->s.starts[1], 0);
    const struct vq *vq = f->s.vq[0];
    assert_int_equal(vq->size, 16);
    assert_ptr_equal(vq->desc, f->ram + (ring_gpa(0, 0) - RAM_GPA));
    assert_ptr_equal(vq->avail, f->ram + (ring_gpa(0, 1) - RAM_GPA));
    assert_ptr_equal(vq->used, f->ram + (ring_gpa(0, 2) - RAM_GPA));
    assert_true(vq->event_idx);
    assert_int_equal(vq->last_avail, 0);
    assert_false(vq->broken);
    assert_int_equal(f->s.kick_fd[0], f->v.q[0].kick_fd);
    assert_int_equal(f->s.features_at_start, feat);

    /* Rewriting DRIVER_OK does not start anything twice. */
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.start_calls, 1);

    /* An enabled queue's configuration is fixed (4.1.4.3.2). */
    bar_wr(f, CC_QSEL, 2, 0);
    bar_wr(f, CC_QSIZE, 2, 32);
    wr64(f, CC_QDESC, ring_gpa(1, 0));
    assert_int_equal(bar_rd(f, CC_QSIZE, 2), 16);
    assert_int_equal(bar_rd(f, CC_QDESC, 8), ring_gpa(0, 0));
    /* Disabling by writing 0 is not how virtio 1.x stops a queue. */
    bar_wr(f, CC_QENABLE, 2, 0);
    assert_int_equal(bar_rd(f, CC_QENABLE, 2), 1);

    /* A queue enabled after DRIVER_OK starts right away. */
    setup_queue_in_ram(f, 1, 8);
    assert_int_equal(f->s.start_calls, 2);
    assert_int_equal(f->s.starts[1], 1);
    assert_int_equal(f->s.vq[1]->size, 8);

    /* The device made progress before the reset; see the restart below. */
    f->v.vq[0].last_avail = 5;
    set_status(f, 0);
    assert_int_equal(f->s.stops[0], 1);
    assert_int_equal(f->s.stops[1], 1);
    assert_int_equal(status(f), 0);
    assert_int_equal(f->s.d.features, 0);
    for (unsigned q = 0; q < NQ; q++) {
        bar_wr(f, CC_QSEL, 2, q);
        assert_int_equal(bar_rd(f, CC_QENABLE, 2), 0);
        assert_int_equal(bar_rd(f, CC_QSIZE, 2), QMAX);
        assert_int_equal(bar_rd(f, CC_QDESC, 8), 0);
        assert_int_equal(bar_rd(f, CC_QDRIVER, 8), 0);
        assert_int_equal(bar_rd(f, CC_QDEVICE, 8), 0);
    }
    /* A second reset has nothing left to stop. */
    set_status(f, 0);
    assert_int_equal(f->s.stops[0], 1);
    assert_int_equal(f->s.stops[1], 1);

    /* And the device comes up again after reset, from index 0. */
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    setup_queue_in_ram(f, 0, 16);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.starts[0], 2);
    assert_int_equal(f->s.vq[0]->last_avail, 0);
    assert_false(f->s.vq[0]->event_idx);
}

static void driver_ok_needs_features_ok(void **state)
{
    struct fx *f = *state;
    /* Features refused, DRIVER_OK anyway: nothing may start. */
    assert_int_equal(negotiate(f, BIT(F_DEV)), S_ACK | S_DRV);
    setup_queue_in_ram(f, 0, 16);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(status(f) & S_FOK, 0);
    assert_int_equal(f->s.start_calls, 0);
    set_status(f, 0);
}

/* The same rule as above when the queue is enabled after DRIVER_OK: a
 * driver whose features were refused gets no queue, whatever the order of
 * its writes. */
static void late_enable_needs_features_ok(void **state)
{
    struct fx *f = *state;
    assert_int_equal(negotiate(f, BIT(F_DEV)), S_ACK | S_DRV);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(status(f), S_ACK | S_DRV | S_DOK);
    setup_queue_in_ram(f, 0, 16);
    assert_int_equal(f->s.start_calls, 0);
    set_status(f, 0);

    /* Never even tried FEATURES_OK. */
    set_status(f, S_ACK);
    set_status(f, S_ACK | S_DRV);
    set_status(f, S_ACK | S_DRV | S_DOK);
    setup_queue_in_ram(f, 1, 16);
    assert_int_equal(f->s.start_calls, 0);
    set_status(f, 0);
}

/* queue_size is the maximum at reset; the driver may only shrink it. */
static void queue_size_above_max(void **state)
{
    struct fx *f = *state;
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    /* Within VQ_MAX_SIZE, so only the device's own limit stands in the way. */
    setup_queue(f, 0, QMAX * 2, RAM_GPA, RAM_GPA + 0x8000, RAM_GPA + 0x9000);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.start_calls, 0);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    set_status(f, 0);

    /* The maximum itself is fine. */
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    setup_queue(f, 0, QMAX, RAM_GPA, RAM_GPA + 0x8000, RAM_GPA + 0x9000);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.starts[0], 1);
    assert_int_equal(f->s.vq[0]->size, QMAX);
    set_status(f, 0);
}

static bool refuse_all(const struct vq *vq)
{
    (void)vq;
    return true;
}

static void bad_rings_need_reset(void **state)
{
    struct fx *f = *state;
    static const struct {
        uint16_t size;
        uint64_t desc, avail, used;
    } bad[] = {
        {16, 0x40000000, RAM_GPA + 0x1000, RAM_GPA + 0x2000},              /* outside RAM */
        {16, RAM_GPA, 0xFFFFFFFFFFFFF000ULL, RAM_GPA + 0x2000},            /* far outside */
        {16, RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + RAM_SIZE - 8},           /* runs off the end */
        {16, RAM_GPA + 8, RAM_GPA + 0x1000, RAM_GPA + 0x2000},             /* misaligned desc */
        {16, RAM_GPA, RAM_GPA + 0x1001, RAM_GPA + 0x2000},                 /* misaligned avail */
        {16, RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + 0x2002},                 /* misaligned used */
        {15, RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + 0x2000},                 /* not a power of 2 */
        {0, RAM_GPA, RAM_GPA + 0x1000, RAM_GPA + 0x2000},
        {2048, RAM_GPA, RAM_GPA + 0x8000, RAM_GPA + 0x9000},               /* above VQ_MAX_SIZE */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
        setup_queue(f, 0, bad[i].size, bad[i].desc, bad[i].avail, bad[i].used);
        (void)bar_rd(f, R_ISR, 1);
        set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
        if (!(status(f) & VIRTIO_STATUS_NEEDS_RESET))
            fail_msg("case %u: no DEVICE_NEEDS_RESET", i);
        assert_int_equal(status(f), S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_STATUS_NEEDS_RESET);
        assert_int_equal(f->s.start_calls, 0);
        /* The driver hears of it as a configuration change. */
        assert_int_equal(bar_rd(f, R_ISR, 1), 2);
        /* The driver's own status writes do not clear it ... */
        set_status(f, S_ACK | S_DRV | S_FOK | S_DOK | VIRTIO_STATUS_NEEDS_RESET);
        assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
        /* ... only reset does. */
        set_status(f, 0);
        assert_int_equal(status(f), 0);
    }
    assert_int_equal(f->s.stops[0], 0);

    /* A device that cannot start a queue needs reset too. */
    f->s.refuse_start = refuse_all;
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    setup_queue_in_ram(f, 0, 16);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.start_calls, 1);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    set_status(f, 0);
    assert_int_equal(f->s.stops[0], 0);   /* it never started */
    f->s.refuse_start = NULL;
}

static double seconds_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A driver that breaks the device and resets it, 20,000 times: each time
 * the device needs reset again, but the host's log gets a bounded number
 * of lines (it got one per reset: 20,000 lines in 0.1 s), the first of
 * which says what happened. */
static void broken_resets_do_not_flood_the_log(void **state)
{
    struct fx *f = *state;
    FILE *cap = tmpfile();
    assert_non_null(cap);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    assert_true(saved >= 0);
    assert_true(dup2(fileno(cap), STDERR_FILENO) >= 0);
    double start = seconds_now();
    unsigned not_broken = 0;
    for (unsigned i = 0; i < 20000; i++) {
        negotiate(f, BIT(VIRTIO_F_VERSION_1));
        setup_queue(f, 0, 16, 0x40000000, RAM_GPA + 0x1000, RAM_GPA + 0x2000);   /* outside RAM */
        set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
        not_broken += !(status(f) & VIRTIO_STATUS_NEEDS_RESET);
        set_status(f, 0);
    }
    double elapsed = seconds_now() - start;
    fflush(stderr);
    assert_true(dup2(saved, STDERR_FILENO) >= 0);
    close(saved);
    assert_int_equal(not_broken, 0);
    rewind(cap);
    char line[1024], first[1024] = "";
    unsigned lines = 0;
    while (fgets(line, sizeof(line), cap))
        if (lines++ == 0)
            snprintf(first, sizeof(first), "%s", line);
    fclose(cap);
    /* A burst per interval begun (the whole run is usually well inside one). */
    unsigned windows = 1 + (unsigned)(elapsed * 1000 / VLOG_RATELIMIT_INTERVAL_MS);
    if (lines == 0 || lines > windows * VLOG_RATELIMIT_BURST)
        fail_msg("%u log lines for 20000 resets in %.2f s (at most %u allowed)", lines, elapsed,
                 windows * VLOG_RATELIMIT_BURST);
    if (!strstr(first, "test-vpci: device needs reset: queue 0: bad size or rings outside guest memory"))
        fail_msg("first line: %s", first);
}

/* ---- Vectors and interrupts ------------------------------------------------- */

static void msix_vector_registers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), VIRTIO_MSI_NO_VECTOR);
    bar_wr(f, CC_MSIX_CFG, 2, 0);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), 0);
    bar_wr(f, CC_MSIX_CFG, 2, NVEC - 1);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), NVEC - 1);
    /* The driver learns it asked too much by reading NO_VECTOR back. */
    bar_wr(f, CC_MSIX_CFG, 2, NVEC);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), VIRTIO_MSI_NO_VECTOR);
    bar_wr(f, CC_MSIX_CFG, 2, 1);
    bar_wr(f, CC_MSIX_CFG, 2, 0x7FFF);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), VIRTIO_MSI_NO_VECTOR);
    bar_wr(f, CC_MSIX_CFG, 2, 1);
    bar_wr(f, CC_MSIX_CFG, 2, VIRTIO_MSI_NO_VECTOR);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), VIRTIO_MSI_NO_VECTOR);

    for (unsigned q = 0; q < NQ; q++) {
        bar_wr(f, CC_QSEL, 2, q);
        bar_wr(f, CC_QMSIX, 2, q + 1);
    }
    for (unsigned q = 0; q < NQ; q++) {
        bar_wr(f, CC_QSEL, 2, q);
        assert_int_equal(bar_rd(f, CC_QMSIX, 2), q + 1);
    }
    bar_wr(f, CC_QSEL, 2, 0);
    bar_wr(f, CC_QMSIX, 2, NVEC);
    assert_int_equal(bar_rd(f, CC_QMSIX, 2), VIRTIO_MSI_NO_VECTOR);
    bar_wr(f, CC_QMSIX, 2, 0xFFFE);
    assert_int_equal(bar_rd(f, CC_QMSIX, 2), VIRTIO_MSI_NO_VECTOR);
    bar_wr(f, CC_QSEL, 2, 1);
    assert_int_equal(bar_rd(f, CC_QMSIX, 2), 2);
    /* Vectors can change on an enabled, running queue. */
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    setup_queue_in_ram(f, 1, 16);
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    bar_wr(f, CC_QSEL, 2, 1);
    bar_wr(f, CC_QMSIX, 2, 0);
    assert_int_equal(bar_rd(f, CC_QMSIX, 2), 0);

    /* Reset returns every vector to NO_VECTOR. */
    set_status(f, 0);
    assert_int_equal(bar_rd(f, CC_MSIX_CFG, 2), VIRTIO_MSI_NO_VECTOR);
    for (unsigned q = 0; q < NQ; q++) {
        bar_wr(f, CC_QSEL, 2, q);
        assert_int_equal(bar_rd(f, CC_QMSIX, 2), VIRTIO_MSI_NO_VECTOR);
    }
}

static unsigned msix_cap(struct fx *f)
{
    for (unsigned p = cfg_rd(f, PCI_CAP_PTR, 1); p; p = cfg_rd(f, p + 1, 1))
        if (cfg_rd(f, p, 1) == CAP_MSIX_ID)
            return p;
    fail_msg("no MSI-X capability");
    return 0;
}

static void msix_table(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < NVEC; i++) {
        /* Born masked (PCI spec). */
        assert_int_equal(bar_rd(f, MSIX_ENTRY(i, 3), 4), 1);
        assert_int_equal(bar_rd(f, MSIX_ENTRY(i, 0), 4), 0);
    }
    bar_wr(f, MSIX_ENTRY(1, 0), 4, 0xFEE01000);
    bar_wr(f, MSIX_ENTRY(1, 1), 4, 0x1);
    bar_wr(f, MSIX_ENTRY(1, 2), 4, 0x4041);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 0), 4), 0xFEE01000);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 1), 4), 0x1);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 2), 4), 0x4041);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 0), 8), 0x1FEE01000ULL);
    /* Message address is dword aligned; reserved control bits read 0. */
    bar_wr(f, MSIX_ENTRY(2, 0), 4, 0xFEE00003);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(2, 0), 4), 0xFEE00000);
    bar_wr(f, MSIX_ENTRY(2, 3), 4, 0xFFFFFFFF);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(2, 3), 4), 1);
    /* A qword write lands in both dwords. */
    bar_wr(f, MSIX_ENTRY(0, 0), 8, 0x00000002FEE02000ULL);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(0, 0), 4), 0xFEE02000);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(0, 1), 4), 2);
    /* Byte/word accesses are not defined for the table: ignored, read 0. */
    bar_wr(f, MSIX_ENTRY(1, 2), 2, 0xFFFF);
    bar_wr(f, MSIX_ENTRY(1, 2) + 1, 1, 0xFF);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 2), 4), 0x4041);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 2), 2), 0);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(1, 2) + 2, 4), 0);   /* misaligned dword */
    /* Past the last entry there is nothing. */
    bar_wr(f, MSIX_ENTRY(NVEC, 0), 4, 0x12345678);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(NVEC, 0), 4), 0);
    assert_int_equal(bar_rd(f, MSIX_ENTRY(NVEC - 1, 3), 8), 0);   /* straddles the end */
    /* MSI-X disabled: table writes ask nothing of the host. */
    assert_int_equal(f->h.n, 0);
}

static void msix_interrupts(void **state)
{
    struct fx *f = *state;
    unsigned cap = msix_cap(f);
    int fd1 = f->v.vec[1].fd;
    bar_wr(f, MSIX_ENTRY(1, 0), 4, 0xFEE01000);
    bar_wr(f, MSIX_ENTRY(1, 1), 4, 0);
    bar_wr(f, MSIX_ENTRY(1, 2), 4, 0x4041);
    bar_wr(f, CC_QSEL, 2, 0);
    bar_wr(f, CC_QMSIX, 2, 1);

    /* Enabled but every entry masked: no routes yet. */
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE);
    assert_int_equal(cfg_rd(f, cap + 2, 2), MSIX_ENABLE | (NVEC - 1));
    assert_int_equal(f->h.n, 0);

    /* Unmasking routes the vector, then attaches its eventfd. */
    bar_wr(f, MSIX_ENTRY(1, 3), 4, 0);
    assert_int_equal(f->h.routes, 1);
    assert_int_equal(f->h.irqfd_on, 1);
    assert_int_equal(f->h.log[0].kind, CALL_ROUTE);
    assert_int_equal(f->h.log[0].gsi, FIRST_GSI);
    assert_int_equal(f->h.log[0].addr, 0xFEE01000);
    assert_int_equal(f->h.log[0].data, 0x4041);
    assert_int_equal(f->h.log[1].kind, CALL_IRQFD);
    assert_true(f->h.log[1].assign);
    assert_int_equal(f->h.log[1].fd, fd1);
    assert_int_equal(f->h.log[1].gsi, FIRST_GSI);

    /* Queue interrupt with the vector attached: KVM's to deliver, not pending. */
    f->s.d.notify(f->s.d.transport, 0);
    assert_int_equal(drain(fd1), 1);
    assert_int_equal(bar_rd(f, R_PBA, 8), 0);
    assert_int_equal(bar_rd(f, R_ISR, 1), 1);
    assert_int_equal(bar_rd(f, R_ISR, 1), 0);   /* read clears */

    /* Reprogramming an attached vector updates its route in place. */
    host_clear(&f->h);
    bar_wr(f, MSIX_ENTRY(1, 2), 4, 0x4042);
    assert_int_equal(f->h.routes, 1);
    assert_int_equal(f->h.log[0].gsi, FIRST_GSI);
    assert_int_equal(f->h.log[0].data, 0x4042);
    assert_int_equal(f->h.irqfd_on + f->h.irqfd_off, 0);

    /* Masking the entry detaches; interrupts then wait as pending. */
    host_clear(&f->h);
    bar_wr(f, MSIX_ENTRY(1, 3), 4, 1);
    assert_int_equal(f->h.irqfd_off, 1);
    assert_int_equal(f->h.log[0].fd, fd1);
    assert_int_equal(f->h.log[0].gsi, FIRST_GSI);
    assert_false(f->h.log[0].assign);
    assert_int_equal(bar_rd(f, R_PBA, 8), 0);
    f->s.d.notify(f->s.d.transport, 0);
    assert_int_equal(bar_rd(f, R_PBA, 8), 1u << 1);
    assert_int_equal(bar_rd(f, R_PBA, 1), 1u << 1);
    assert_int_equal(bar_rd(f, R_ISR, 1), 1);
    /* Masking again is not another detach. */
    bar_wr(f, MSIX_ENTRY(1, 3), 4, 1);
    assert_int_equal(f->h.irqfd_off, 1);

    /* Unmasking reattaches on the same GSI; the pending write is then
     * KVM's to deliver, so the bit clears. */
    host_clear(&f->h);
    bar_wr(f, MSIX_ENTRY(1, 3), 4, 0);
    assert_int_equal(f->h.irqfd_on, 1);
    assert_int_equal(f->h.log[0].kind, CALL_ROUTE);
    assert_int_equal(f->h.log[0].gsi, FIRST_GSI);
    assert_int_equal(bar_rd(f, R_PBA, 8), 0);
    assert_int_equal(drain(fd1), 1);

    /* Function mask detaches every attached vector and keeps them so. */
    host_clear(&f->h);
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE | MSIX_MASKALL);
    assert_int_equal(f->h.irqfd_off, 1);
    assert_int_equal(f->h.log[f->h.n - 1].fd, fd1);
    bar_wr(f, MSIX_ENTRY(1, 2), 4, 0x4043);
    assert_int_equal(f->h.irqfd_on, 0);
    f->s.d.notify(f->s.d.transport, 0);
    assert_int_equal(bar_rd(f, R_PBA, 8), 1u << 1);
    host_clear(&f->h);
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE);
    assert_int_equal(f->h.irqfd_on, 1);
    assert_int_equal(f->h.log[f->h.n - 1].fd, fd1);
    assert_int_equal(drain(fd1), 1);

    /* Disabling MSI-X detaches too. */
    host_clear(&f->h);
    cfg_wr(f, cap + 2, 2, 0);
    assert_int_equal(f->h.irqfd_off, 1);
    assert_int_equal(cfg_rd(f, cap + 2, 2), NVEC - 1);   /* table size is read-only */

    /* A second vector gets its own GSI. */
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE);
    host_clear(&f->h);
    bar_wr(f, MSIX_ENTRY(0, 3), 4, 0);
    assert_int_equal(f->h.log[0].kind, CALL_ROUTE);
    assert_int_equal(f->h.log[0].gsi, FIRST_GSI + 1);
    assert_int_equal(f->h.log[1].fd, f->v.vec[0].fd);

    /* The config vector: device breakage is a config interrupt. */
    bar_wr(f, MSIX_ENTRY(0, 3), 4, 1);
    bar_wr(f, CC_MSIX_CFG, 2, 0);
    (void)bar_rd(f, R_ISR, 1);
    f->s.d.broken(f->s.d.transport, "test");
    assert_int_equal(bar_rd(f, R_PBA, 8) & 1, 1);
    assert_int_equal(bar_rd(f, R_ISR, 1), 2);
    assert_true(status(f) & VIRTIO_STATUS_NEEDS_RESET);
    set_status(f, 0);
}

static void isr_without_msix(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bar_rd(f, R_ISR, 1), 0);
    /* No vector: the ISR bit is all the driver gets, and no eventfd fires. */
    f->s.d.notify(f->s.d.transport, 1);
    for (unsigned i = 0; i < NVEC; i++)
        assert_false(fd_readable(f->v.vec[i].fd));
    assert_int_equal(bar_rd(f, R_ISR, 4), 1);
    assert_int_equal(bar_rd(f, R_ISR, 1), 0);
    /* Writes do not clear or set it. */
    f->s.d.notify(f->s.d.transport, 0);
    bar_wr(f, R_ISR, 1, 0);
    bar_wr(f, R_ISR, 1, 0xFF);
    assert_int_equal(bar_rd(f, R_ISR, 1), 1);
    /* Reset clears it. */
    f->s.d.notify(f->s.d.transport, 0);
    set_status(f, 0);
    assert_int_equal(bar_rd(f, R_ISR, 1), 0);
}

/* ---- Notify and device config ------------------------------------------------ */

static void notify_kicks(void **state)
{
    struct fx *f = *state;
    for (unsigned q = 0; q < NQ; q++)
        assert_false(fd_readable(f->v.q[q].kick_fd));
    bar_wr(f, R_NOTIFY + NOTIFY_MUL * 1, 2, 1);
    assert_false(fd_readable(f->v.q[0].kick_fd));
    assert_true(fd_readable(f->v.q[1].kick_fd));
    assert_int_equal(drain(f->v.q[1].kick_fd), 1);
    bar_wr(f, R_NOTIFY + NOTIFY_MUL * 0, 2, 0);
    bar_wr(f, R_NOTIFY + NOTIFY_MUL * 0, 4, 0);
    assert_int_equal(drain(f->v.q[0].kick_fd), 2);
    assert_false(fd_readable(f->v.q[1].kick_fd));
    /* Past the last queue's slot: nothing. */
    bar_wr(f, R_NOTIFY + NOTIFY_MUL * NQ, 2, NQ);
    for (unsigned q = 0; q < NQ; q++)
        assert_false(fd_readable(f->v.q[q].kick_fd));
    assert_int_equal(bar_rd(f, R_NOTIFY, 2), 0);

    /* A kick left over from before a reset is not carried into the next
     * run of the queue. */
    bar_wr(f, R_NOTIFY, 2, 0);
    set_status(f, 0);
    assert_false(fd_readable(f->v.q[0].kick_fd));
}

static void device_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(bar_rd(f, R_DEVICE, 1), 0xA0);
    assert_int_equal(bar_rd(f, R_DEVICE + 2, 2), 0xA3A2);
    assert_int_equal(bar_rd(f, R_DEVICE + 8, 8), 0xAFAEADACABAAA9A8ULL);
    bar_wr(f, R_DEVICE + 4, 4, 0x11223344);
    assert_int_equal(f->s.config[4], 0x44);
    assert_int_equal(f->s.config[7], 0x11);
    /* Beyond config_len (or straddling it) never reaches the device. */
    assert_int_equal(bar_rd(f, R_DEVICE + CFG_LEN, 4), 0);
    assert_int_equal(bar_rd(f, R_DEVICE + CFG_LEN - 4, 8), 0);
    bar_wr(f, R_DEVICE + CFG_LEN - 2, 4, 0xFFFFFFFF);
    assert_int_equal(f->s.config[CFG_LEN - 2], 0xA0 + CFG_LEN - 2);
    /* config_generation is the device's, not the driver's. */
    uint64_t gen = bar_rd(f, CC_CFGGEN, 1);
    bar_wr(f, CC_CFGGEN, 1, gen + 1);
    assert_int_equal(bar_rd(f, CC_CFGGEN, 1), gen);
}

/* VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space, for firmware
 * that cannot map the BAR. */
static void pci_cfg_window(void **state)
{
    struct fx *f = *state;
    unsigned at = 0;
    for (unsigned p = cfg_rd(f, PCI_CAP_PTR, 1); p; p = cfg_rd(f, p + 1, 1))
        if (cfg_rd(f, p, 1) == CAP_VNDR_ID && cfg_rd(f, p + 3, 1) == 5)
            at = p;
    assert_int_not_equal(at, 0);

    cfg_wr(f, at + 4, 1, 0);
    cfg_wr(f, at + 8, 4, CC_NUMQ);
    cfg_wr(f, at + 12, 4, 2);
    assert_int_equal(cfg_rd(f, at + 16, 2), NQ);
    cfg_wr(f, at + 8, 4, CC_STATUS);
    cfg_wr(f, at + 12, 4, 1);
    cfg_wr(f, at + 16, 1, S_ACK);
    assert_int_equal(status(f), S_ACK);
    assert_int_equal(cfg_rd(f, at + 16, 1), S_ACK);
    cfg_wr(f, at + 8, 4, R_NOTIFY + NOTIFY_MUL);
    cfg_wr(f, at + 12, 4, 2);
    cfg_wr(f, at + 16, 2, 1);
    assert_int_equal(drain(f->v.q[1].kick_fd), 1);

    /* Windows the spec does not allow, including ones whose end wraps a
     * 32-bit sum: no access, no crash. */
    static const struct {
        uint8_t bar;
        uint32_t offset, length;
    } bogus[] = {
        {0, CC_NUMQ, 3}, {0, CC_NUMQ + 1, 2}, {1, CC_NUMQ, 2}, {0, 0x8000, 4}, {0, 0x7FFE, 4},
        {0, 0xFFFFFFFC, 4}, {0, 0xFFFFFFFF, 1}, {0xFF, 0, 4}, {0, 0, 0}, {0, 0, 8},
    };
    for (unsigned i = 0; i < sizeof(bogus) / sizeof(bogus[0]); i++) {
        cfg_wr(f, at + 4, 1, bogus[i].bar);
        cfg_wr(f, at + 8, 4, bogus[i].offset);
        cfg_wr(f, at + 12, 4, bogus[i].length);
        cfg_wr(f, at + 16, 4, 0);
        (void)cfg_rd(f, at + 16, 4);
    }
    assert_int_equal(status(f), S_ACK);
    set_status(f, 0);
}

/* ---- Hostile guests ------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

#define SWEEP_END 0x7000

/* Every size at every offset, reads checked for writing only their own
 * bytes (ASan cannot see an overrun that stays inside the buffer). */
static void sweep_bar(struct fx *f)
{
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (uint64_t off = 0; off < SWEEP_END; off++) {
        for (unsigned k = 0; k < 4; k++) {
            unsigned size = sizes[k];
            uint8_t buf[16];
            memset(buf, 0x5A, sizeof(buf));
            vpci_bar_io(&f->v, off, buf, size, false);
            for (unsigned i = size; i < sizeof(buf); i++)
                if (buf[i] != 0x5A)
                    fail_msg("read of %u at %#llx wrote byte %u", size, (unsigned long long)off, i);
            uint64_t val = rnd();
            memcpy(buf, &val, 8);
            vpci_bar_io(&f->v, off, buf, size, true);
            if ((rnd() & 63) == 0)
                f->s.d.notify(f->s.d.transport, (unsigned)(rnd() % NQ));
        }
    }
}

static void end_with_reset(struct fx *f)
{
    set_status(f, 0);
    assert_int_equal(status(f), 0);
    for (unsigned q = 0; q < NQ; q++) {
        assert_int_equal(f->s.starts[q], f->s.stops[q]);
        bar_wr(f, CC_QSEL, 2, q);
        assert_int_equal(bar_rd(f, CC_QENABLE, 2), 0);
        drain(f->v.q[q].kick_fd);
    }
    for (unsigned i = 0; i < NVEC; i++)
        drain(f->v.vec[i].fd);
    stub_dev_check(&f->s);
}

static void hostile_bar_from_reset(void **state)
{
    struct fx *f = *state;
    set_status(f, 0);
    sweep_bar(f);
    end_with_reset(f);
}

static void hostile_bar_live(void **state)
{
    struct fx *f = *state;
    /* A running device with MSI-X on reaches the start/stop and
     * route/irqfd paths that a sweep from reset rarely does. */
    unsigned cap = msix_cap(f);
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE);
    for (unsigned i = 0; i < NVEC; i++) {
        bar_wr(f, MSIX_ENTRY(i, 0), 4, 0xFEE00000);
        bar_wr(f, MSIX_ENTRY(i, 3), 4, 0);
    }
    assert_int_equal(negotiate(f, BIT(VIRTIO_F_VERSION_1)), S_ACK | S_DRV | S_FOK);
    for (unsigned q = 0; q < NQ; q++) {
        setup_queue_in_ram(f, q, 16);
        bar_wr(f, CC_QMSIX, 2, q + 1);
    }
    set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
    assert_int_equal(f->s.starts[0] + f->s.starts[1], NQ);
    sweep_bar(f);
    end_with_reset(f);
}

/* Biased toward the registers with state behind them, with valid driver
 * bring-ups mixed in so random writes land on running queues and attached
 * vectors; the transport's bookkeeping must match the device's after
 * every access. */
static void hostile_bar_random(void **state)
{
    struct fx *f = *state;
    static const unsigned sizes[] = {1, 2, 4, 8};
    static const uint64_t small[] = {0, 1, 2, 3, 0xFFFF, S_ACK | S_DRV | S_FOK | S_DOK, 16, 0x7FFF};
    unsigned cap = msix_cap(f);
    cfg_wr(f, cap + 2, 2, MSIX_ENABLE);
    for (unsigned iter = 0; iter < 200000; iter++) {
        uint64_t r = rnd(), off;
        switch (r % 16) {
        case 0: case 1: case 2: case 3: case 4: case 5: case 6:
            off = rnd() % (CC_LEN + 8);
            break;
        case 7: case 8:
            off = R_MSIX + rnd() % (16 * NVEC + 8);
            break;
        case 9:
            off = R_NOTIFY + rnd() % (NOTIFY_MUL * NQ + 8);
            break;
        case 10:
            off = (rnd() & 1 ? R_ISR : R_PBA) + rnd() % 16;
            break;
        case 11:
            off = R_DEVICE + rnd() % (CFG_LEN + 8);
            break;
        case 12:
            if (negotiate(f, BIT(VIRTIO_F_VERSION_1) | (rnd() & BIT(VIRTIO_F_EVENT_IDX))) & S_FOK) {
                unsigned q = (unsigned)(rnd() % NQ);
                setup_queue_in_ram(f, q, (uint16_t)(8u << (rnd() % 4)));
                bar_wr(f, CC_QMSIX, 2, rnd() % (NVEC + 1));
                set_status(f, S_ACK | S_DRV | S_FOK | S_DOK);
            }
            continue;
        case 13:
            f->s.d.notify(f->s.d.transport, (unsigned)(rnd() % NQ));
            continue;
        default:
            off = rnd() % VPCI_BAR_SIZE;
            break;
        }
        unsigned size = sizes[rnd() % 4];
        uint8_t buf[16];
        memset(buf, 0x5A, sizeof(buf));
        if (rnd() & 1) {
            vpci_bar_io(&f->v, off, buf, size, false);
            for (unsigned i = size; i < sizeof(buf); i++)
                assert_int_equal(buf[i], 0x5A);
        } else {
            uint64_t val = rnd() & 1 ? rnd() : small[rnd() % 8];
            memcpy(buf, &val, 8);
            vpci_bar_io(&f->v, off, buf, size, true);
        }
        for (unsigned q = 0; q < NQ; q++)
            if (f->s.starts[q] - f->s.stops[q] != (unsigned)f->v.q[q].started)
                fail_msg("iteration %u: queue %u started %u stopped %u times, transport says %d", iter, q,
                         f->s.starts[q], f->s.stops[q], f->v.q[q].started);
        if (f->s.breaches)
            fail_msg("iteration %u: %s", iter, f->s.first_breach);
        if ((iter & 1023) == 0)
            for (unsigned i = 0; i < NVEC; i++)
                drain(f->v.vec[i].fd);
    }
    end_with_reset(f);
}

static void hostile_config_space(void **state)
{
    struct fx *f = *state;
    static const unsigned sizes[] = {1, 2, 4, 8};
    cfg_wr(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned reg = 0; reg < PCI_CFG_SIZE; reg++) {
            for (unsigned k = 0; k < 4; k++) {
                uint8_t buf[16];
                memset(buf, 0x5A, sizeof(buf));
                pci_ecam_io(&f->bus, (uint64_t)SLOT << 15 | reg, buf, sizes[k], false);
                for (unsigned i = sizes[k]; i < sizeof(buf); i++)
                    assert_int_equal(buf[i], 0x5A);
                uint64_t val = rnd();
                memcpy(buf, &val, 8);
                pci_ecam_io(&f->bus, (uint64_t)SLOT << 15 | reg, buf, sizes[k], true);
                /* Keep the BAR window in play, wherever the guest put it. */
                if ((rnd() & 15) == 0)
                    (void)mmio_rd(f, WIN_BASE + (rnd() & 0xFFFFF), 4);
            }
        }
    }
    /* Whatever happened, the identity is intact. */
    assert_int_equal(cfg_rd(f, 0, 4), (0x1040u + VIRTIO_ID_BLOCK) << 16 | 0x1AF4);
    assert_int_equal(cfg_rd(f, PCI_CAP_PTR, 1), 0x40);
    end_with_reset(f);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(config_space),
        T(bar_sizing_and_decode),
        T(features),
        T(queue_registers),
        T(queue_start_and_reset),
        T(driver_ok_needs_features_ok),
        T(late_enable_needs_features_ok),
        T(queue_size_above_max),
        T(bad_rings_need_reset),
        T(broken_resets_do_not_flood_the_log),
        T(msix_vector_registers),
        T(msix_table),
        T(msix_interrupts),
        T(isr_without_msix),
        T(notify_kicks),
        T(device_config),
        T(pci_cfg_window),
        T(hostile_bar_from_reset),
        T(hostile_bar_live),
        T(hostile_bar_random),
        T(hostile_config_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "devices/pci.h"

#include <string.h>

#define CFG_ADDR_ENABLE  0x80000000u
#define RESET_CONTROL_RST_CPU 0x04

void pci_bus_init(struct pci_bus *bus, struct machine_ctl machine)
{
    memset(bus, 0, sizeof(*bus));
    pthread_mutex_init(&bus->lock, NULL);
    bus->machine = machine;
}

int pci_bus_register(struct pci_bus *bus, unsigned slot, struct pci_device *dev)
{
    if (slot >= PCI_SLOTS || bus->slots[slot])
        return -1;
    bus->slots[slot] = dev;
    return 0;
}

void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
                     uint8_t class_code, uint8_t subclass, uint8_t prog_if)
{
    memset(dev, 0, sizeof(*dev));
    dev->cfg[0x00] = (uint8_t)vendor;
    dev->cfg[0x01] = (uint8_t)(vendor >> 8);
    dev->cfg[0x02] = (uint8_t)device;
    dev->cfg[0x03] = (uint8_t)(device >> 8);
    dev->cfg[0x09] = prog_if;
    dev->cfg[0x0A] = subclass;
    dev->cfg[0x0B] = class_code;
    /* Command register: I/O, memory, bus master and INTx disable. */
    dev->wmask[0x04] = 0x07;
    dev->wmask[0x05] = 0x04;
    dev->wmask[0x0C] = 0xFF; /* cache line size */
    dev->wmask[0x3C] = 0xFF; /* interrupt line: scratch for the OS */
}

static uint64_t bar_value(const struct pci_device *dev, unsigned i)
{
    uint32_t lo, hi = 0;
    memcpy(&lo, dev->cfg + PCI_BAR0 + 4 * i, 4);
    if (dev->bars[i].mem64)
        memcpy(&hi, dev->cfg + PCI_BAR0 + 4 * (i + 1), 4);
    return ((uint64_t)hi << 32 | lo) & ~0xFULL;
}

/* Recomputes where each BAR decodes after a command or BAR write. */
static void update_bars(struct pci_device *dev)
{
    uint16_t cmd;
    memcpy(&cmd, dev->cfg + PCI_COMMAND, 2);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (!b->size)
            continue;
        uint64_t a = bar_value(dev, i), now = PCI_BAR_UNMAPPED;
        /* Mid-sizing (all ones) or unassigned (0) BARs do not decode. */
        if ((cmd & PCI_COMMAND_MEMORY) && a != 0 && a + b->size > a && a + b->size <= (1ULL << 52))
            now = a;
        if (now != b->addr) {
            uint64_t old = b->addr;
            b->addr = now;
            if (dev->bar_moved)
                dev->bar_moved(dev, i, old, now);
        }
    }
}

void pci_device_set_bar(struct pci_device *dev, unsigned i, uint64_t size, bool mem64, uint64_t addr,
                        io_handler_fn fn, void *opaque)
{
    dev->bars[i] = (struct pci_bar){size, mem64, fn, opaque, PCI_BAR_UNMAPPED};
    uint64_t mask = ~(size - 1);
    uint32_t lo = (uint32_t)(addr & mask) | (mem64 ? 0x4 : 0x0), wlo = (uint32_t)mask & ~0xFu;
    memcpy(dev->cfg + PCI_BAR0 + 4 * i, &lo, 4);
    memcpy(dev->wmask + PCI_BAR0 + 4 * i, &wlo, 4);
    if (mem64) {
        uint32_t hi = (uint32_t)(addr >> 32), whi = (uint32_t)(mask >> 32);
        memcpy(dev->cfg + PCI_BAR0 + 4 * (i + 1), &hi, 4);
        memcpy(dev->wmask + PCI_BAR0 + 4 * (i + 1), &whi, 4);
    }
}

uint8_t *pci_device_add_cap(struct pci_device *dev, unsigned at, const void *cap, unsigned len)
{
    memcpy(dev->cfg + at, cap, len);
    dev->cfg[at + 1] = 0;
    /* Chain it at the end of the list. */
    uint8_t *link = &dev->cfg[PCI_CAP_PTR];
    while (*link)
        link = &dev->cfg[*link + 1];
    *link = (uint8_t)at;
    dev->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    return dev->cfg + at;
}

void pci_bar_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct pci_window *w = opaque;
    struct pci_bus *bus = w->bus;
    uint64_t gpa = w->base + offset;
    io_handler_fn fn = NULL;
    void *fn_opaque = NULL;
    uint64_t off = 0;
    pthread_mutex_lock(&bus->lock);
    for (unsigned s = 0; s < PCI_SLOTS && !fn; s++) {
        struct pci_device *dev = bus->slots[s];
        for (unsigned i = 0; dev && i < PCI_NUM_BARS; i++) {
            struct pci_bar *b = &dev->bars[i];
            if (b->size && b->addr != PCI_BAR_UNMAPPED && gpa >= b->addr && gpa - b->addr < b->size &&
                size <= b->size - (gpa - b->addr)) {
                fn = b->fn;
                fn_opaque = b->opaque;
                off = gpa - b->addr;
                break;
            }
        }
    }
    pthread_mutex_unlock(&bus->lock);
    /* Outside the bus lock: device handlers take their own locks and may
     * wait for their I/O threads. */
    if (fn)
        fn(fn_opaque, off, data, size, is_write);
    else if (!is_write)
        memset(data, 0xFF, size);
}

/* Config access for one function; offset+size stays within the config
 * space because callers pass aligned offsets below PCI_CFG_SIZE. */
static void cfg_access_locked(struct pci_bus *bus, unsigned bus_nr, unsigned slot, unsigned fn,
                              unsigned offset, uint8_t *data, unsigned size, bool is_write)
{
    struct pci_device *dev = (bus_nr == 0 && fn == 0 && slot < PCI_SLOTS) ? bus->slots[slot] : NULL;
    if (!dev || offset + size > PCI_CFG_SIZE) {
        if (!is_write)
            memset(data, 0xFF, size);
        return;
    }
    if (!is_write) {
        if (dev->cfg_read)
            dev->cfg_read(dev, offset, size);
        memcpy(data, dev->cfg + offset, size);
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        uint8_t m = dev->wmask[offset + i];
        dev->cfg[offset + i] = (uint8_t)((dev->cfg[offset + i] & ~m) | (data[i] & m));
    }
    if (offset < PCI_BAR0 + 4 * PCI_NUM_BARS && offset + size > PCI_COMMAND)
        update_bars(dev);
    if (dev->cfg_written)
        dev->cfg_written(dev, offset, size);
}

void pci_cfg_port_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct pci_bus *bus = opaque;
    if (offset == 1 && size == 1) {
        if (!is_write)
            data[0] = 0;
        else if (data[0] & RESET_CONTROL_RST_CPU)
            machine_event(&bus->machine, MACHINE_RESET, "reset control register (0xCF9)");
        return;
    }
    pthread_mutex_lock(&bus->lock);
    if (offset == 0 && size == 4) {
        if (is_write)
            memcpy(&bus->config_address, data, 4);
        else
            memcpy(data, &bus->config_address, 4);
    } else if (offset >= 4) {
        uint32_t a = bus->config_address;
        unsigned reg = (a & 0xFC) + (unsigned)(offset - 4);
        if (!(a & CFG_ADDR_ENABLE) || reg + size > 256 || (reg & (size - 1))) {
            if (!is_write)
                memset(data, 0xFF, size);
        } else {
            cfg_access_locked(bus, (a >> 16) & 0xFF, (a >> 11) & 0x1F, (a >> 8) & 7,
                              reg, data, size, is_write);
        }
    } else if (!is_write) {
        memset(data, 0xFF, size);
    }
    pthread_mutex_unlock(&bus->lock);
}

void pci_ecam_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct pci_bus *bus = opaque;
    unsigned reg = (unsigned)(offset & 0xFFF);
    /* Unaligned or 8-byte config accesses are not defined by PCIe. */
    if (size > 4 || (reg & (size - 1))) {
        if (!is_write)
            memset(data, 0xFF, size);
        return;
    }
    pthread_mutex_lock(&bus->lock);
    cfg_access_locked(bus, (unsigned)(offset >> 20) & 0xFF, (unsigned)(offset >> 15) & 0x1F,
                      (unsigned)(offset >> 12) & 7, reg, data, size, is_write);
    pthread_mutex_unlock(&bus->lock);
}

void pci_host_bridge_init(struct pci_device *dev)
{
    /* Intel's ID for a generic host bridge, as other VMMs use too; class
     * 06/00 is all Linux looks at. */
    pci_device_init(dev, 0x8086, 0x0D57, 0x06, 0x00, 0x00);
}

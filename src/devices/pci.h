/* PCI bus 0: configuration space through the legacy 0xCF8/0xCFC mechanism
 * and through ECAM (MMCONFIG), and the device table behind both.  Device
 * models (virtio-pci, ...) fill a struct pci_device and register it. */
#ifndef VIREO_DEVICES_PCI_H
#define VIREO_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#include "devices/io_bus.h"

#define PCI_SLOTS       32
#define PCI_CFG_SIZE    4096   /* PCIe extended config space */
#define PCI_NUM_BARS    6
#define PCI_BAR_UNMAPPED UINT64_MAX

#define PCI_COMMAND         0x04
#define PCI_COMMAND_MEMORY  0x02
#define PCI_STATUS          0x06
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_BAR0            0x10
#define PCI_SUBSYSTEM_VENDOR 0x2C
#define PCI_CAP_PTR         0x34
#define PCI_INTERRUPT_PIN   0x3D

/* A memory BAR the device model serves; the guest may move it. */
struct pci_bar {
    uint64_t size;             /* power of two; 0 = not present */
    bool mem64;                /* takes this slot and the next */
    io_handler_fn fn;          /* offset is relative to the BAR */
    void *opaque;
    uint64_t addr;             /* decoded address, or PCI_BAR_UNMAPPED */
};

struct pci_device {
    uint8_t cfg[PCI_CFG_SIZE];
    /* Bits the guest may change; everything else is read-only, which is
     * also what makes BAR sizing (write ~0, read back) work. */
    uint8_t wmask[PCI_CFG_SIZE];
    struct pci_bar bars[PCI_NUM_BARS];
    /* Optional: told after each config write, and before each read. */
    void (*cfg_written)(struct pci_device *dev, unsigned offset, unsigned size);
    void (*cfg_read)(struct pci_device *dev, unsigned offset, unsigned size);
    /* Optional: a BAR started or stopped decoding, or moved (old/new may be
     * PCI_BAR_UNMAPPED).  Called with the bus lock held. */
    void (*bar_moved)(struct pci_device *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr);
    void *opaque;
};

struct pci_bus {
    pthread_mutex_t lock;
    uint32_t config_address;           /* last value written to 0xCF8 */
    struct pci_device *slots[PCI_SLOTS];  /* function 0 only */
    struct machine_ctl machine;        /* for the reset control at 0xCF9 */
};

void pci_bus_init(struct pci_bus *bus, struct machine_ctl machine);
/* Returns -1 if the slot is taken or out of range. */
int pci_bus_register(struct pci_bus *bus, unsigned slot, struct pci_device *dev);

/* Header helpers for device models. */
void pci_device_init(struct pci_device *dev, uint16_t vendor, uint16_t device,
                     uint8_t class_code, uint8_t subclass, uint8_t prog_if);

/* io_bus handler for ports 0xCF8..0xCFF; a byte write to 0xCF9 is the
 * reset control register (bit 2 resets the machine), as on PC chipsets. */
void pci_cfg_port_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
/* io_bus handler for the ECAM window. */
void pci_ecam_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* Declares memory BAR i at a firmware-assigned address (the guest may
 * move it; it decodes once the guest enables memory space). */
void pci_device_set_bar(struct pci_device *dev, unsigned i, uint64_t size, bool mem64, uint64_t addr,
                        io_handler_fn fn, void *opaque);
/* Appends a capability of len bytes (id in byte 0, next pointer filled in)
 * at offset at; returns a pointer to it in dev->cfg. */
uint8_t *pci_device_add_cap(struct pci_device *dev, unsigned at, const void *cap, unsigned len);

/* io_bus handler for the BAR windows (registered at absolute address 0
 * semantics: offset = guest-physical address minus the window's base,
 * which the handler adds back). */
struct pci_window {
    struct pci_bus *bus;
    uint64_t base;
};
void pci_bar_io(void *window, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* The 00:00.0 host bridge. */
void pci_host_bridge_init(struct pci_device *dev);

#endif

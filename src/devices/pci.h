/* PCI bus 0: configuration space through the legacy 0xCF8/0xCFC mechanism
 * and through ECAM (MMCONFIG), and the device table behind both.  Device
 * models (virtio-pci, ...) fill a struct pci_device and register it. */
#ifndef VIREO_DEVICES_PCI_H
#define VIREO_DEVICES_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define PCI_SLOTS       32
#define PCI_CFG_SIZE    4096   /* PCIe extended config space */

struct pci_device {
    uint8_t cfg[PCI_CFG_SIZE];
    /* Bits the guest may change; everything else is read-only, which is
     * also what makes BAR sizing (write ~0, read back) work. */
    uint8_t wmask[PCI_CFG_SIZE];
    /* Optional: told after each config write (e.g. BAR moves). */
    void (*cfg_written)(struct pci_device *dev, unsigned offset, unsigned size);
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

/* The 00:00.0 host bridge. */
void pci_host_bridge_init(struct pci_device *dev);

#endif

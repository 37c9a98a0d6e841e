#include "vm/vm_disks.h"

#include <stdio.h>

#include "util/log.h"
#include "x86/layout.h"

int vm_disks_create(struct vm *vm, const struct vm_params *cfg)
{
    struct vpci_host host = {
        .ctx = &vm->routes, .msi_route = irq_routes_msi, .msi_route_free = irq_routes_msi_free,
        .irqfd = irq_routes_irqfd, .ioeventfd = irq_routes_ioeventfd,
    };
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        struct vm_blk *d = &vm->disks[i];
        char err[512], name[16], desc[512];
        d->blk = vblk_new(&cfg->disks[i], &vm->loop, err, sizeof(err));
        if (!d->blk) {
            vlog_err("%s", err);
            return -1;
        }
        vm->ndisks = i + 1;
        snprintf(name, sizeof(name), "disk %u", i);
        /* Firmware-style placement: each BAR naturally aligned in the
         * 32-bit window; the guest keeps or moves it. */
        uint64_t bar = LAYOUT_PCI_MMIO32_BASE + (uint64_t)i * VPCI_BAR_SIZE;
        if (vpci_init(&d->pci, vblk_dev(d->blk), &vm->memmap, &host, bar, name) < 0 ||
            pci_bus_register(&vm->pci, VM_PCI_SLOT_FIRST_DISK + i, &d->pci.pci) < 0) {
            vlog_err("disk %s: cannot set up its PCI function", cfg->disks[i].path);
            return -1;
        }
        vblk_describe(d->blk, desc, sizeof(desc));
        vlog_info("disk %u: %s", i, desc);
    }
    return 0;
}

void vm_disks_shutdown(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ndisks; i++)
        vpci_shutdown(&vm->disks[i].pci);
}

void vm_disks_destroy(struct vm *vm)
{
    vm_disks_shutdown(vm);
    for (unsigned i = 0; i < vm->ndisks; i++) {
        vblk_free(vm->disks[i].blk);
        vpci_destroy(&vm->disks[i].pci);
        vm->disks[i].blk = NULL;
    }
    vm->ndisks = 0;
}

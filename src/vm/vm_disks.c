#include "vm/vm_disks.h"

#include <stdio.h>
#include <string.h>

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
        struct disk_opts o = cfg->disks[i];
        o.image = vm->res->disks[i];   /* opened once, kept across restarts */
        if (disk_open(&d->disk, &o, &vm->loop, err, sizeof(err)) < 0) {
            vlog_err("%s", err);
            return -1;
        }
        d->open = true;
        vm->ndisks = i + 1;
        snprintf(name, sizeof(name), "disk %u", i);
        /* Firmware-style placement: each BAR naturally aligned in the
         * 32-bit window; the guest keeps or moves it. */
        uint64_t bar = LAYOUT_PCI_MMIO32_BASE + (uint64_t)i * VPCI_BAR_SIZE;
        if (vpci_init(&d->pci, vblk_dev(d->disk.blk), &vm->memmap, &host, bar, name) < 0 ||
            pci_bus_register(&vm->pci, VM_PCI_SLOT_FIRST_DISK + i, &d->pci.pci) < 0) {
            vlog_err("disk %s: cannot set up its PCI function", cfg->disks[i].path);
            return -1;
        }
        disk_describe(&d->disk, desc, sizeof(desc));
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
        if (vm->disks[i].open)
            disk_close(&vm->disks[i].disk);
        vm->disks[i].open = false;
        vpci_destroy(&vm->disks[i].pci);
    }
    vm->ndisks = 0;
}

int vm_disks_flush(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->ndisks; i++) {
        struct bdev *bs = vm->disks[i].disk.bs;
        if (!vm->disks[i].open || !bs || bs->ro)
            continue;
        int r = bdev_sync(bs);
        if (r < 0) {
            snprintf(err, errlen, "disk %u (%s): flush failed: %s", i, bs->path, strerror(-r));
            return -1;
        }
    }
    return 0;
}

#include "vm/vm_balloon.h"

#include <stdio.h>

#include "util/log.h"
#include "vm/vm.h"
#include "x86/layout.h"

/* Its BAR after the disks' and the interfaces' in the 32-bit window. */
#define BALLOON_BAR (LAYOUT_PCI_MMIO32_BASE + (uint64_t)(VM_MAX_DISKS + VM_MAX_NETS) * VPCI_BAR_SIZE)

int vm_balloon_create(struct vm *vm, const struct vm_params *cfg)
{
    if (!cfg->balloon)
        return 0;
    struct vpci_host host = {
        .ctx = &vm->routes, .msi_route = irq_routes_msi, .msi_route_free = irq_routes_msi_free,
        .irqfd = irq_routes_irqfd, .ioeventfd = irq_routes_ioeventfd,
    };
    /* No DEFLATE_ON_OOM, as QEMU's default: with it, Linux keeps counting
     * ballooned pages in MemTotal, so `free` in the guest would not show
     * what `vireo mem-set` gave it, as it does under xl. */
    struct vballoon_opts o = {.name = "balloon", .stats = true, .deflate_on_oom = false, .reporting = true};
    char err[256];
    vm->balloon = vballoon_new(&o, &vm->memmap, &vm->loop, err, sizeof(err));
    if (!vm->balloon) {
        vlog_err("%s", err);
        return -1;
    }
    if (vpci_init(&vm->balloon_pci, vballoon_dev(vm->balloon), &vm->memmap, &host, BALLOON_BAR, "balloon") < 0 ||
        pci_bus_register(&vm->pci, VM_PCI_SLOT_BALLOON, &vm->balloon_pci.pci) < 0) {
        vlog_err("balloon: cannot set up its PCI function");
        return -1;
    }
    vm->balloon_pci_ok = true;
    vlog_info("balloon: statistics, free-page reporting");
    return 0;
}

void vm_balloon_shutdown(struct vm *vm)
{
    if (vm->balloon_pci_ok)
        vpci_shutdown(&vm->balloon_pci);
}

void vm_balloon_destroy(struct vm *vm)
{
    vm_balloon_shutdown(vm);
    if (vm->balloon_pci_ok)
        vpci_destroy(&vm->balloon_pci);
    vm->balloon_pci_ok = false;
    vballoon_free(vm->balloon);
    vm->balloon = NULL;
}

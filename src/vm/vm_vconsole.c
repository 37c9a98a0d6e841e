#include "vm/vm_vconsole.h"

#include <string.h>

#include "util/log.h"
#include "vm/vm.h"
#include "x86/layout.h"

/* Its BAR after the balloon's in the 32-bit window. */
#define VCONSOLE_BAR (LAYOUT_PCI_MMIO32_BASE + (uint64_t)(VM_MAX_DISKS + VM_MAX_NETS + 1) * VPCI_BAR_SIZE)

/* The console= words of the kernel's own arguments (those after "--" are
 * init's): whether one names hvcN, and whether the last one, Linux's
 * /dev/console, does. */
static void console_words(const char *cmdline, bool *any_hvc, bool *last_hvc)
{
    *any_hvc = *last_hvc = false;
    const char *end = cmdline ? strstr(cmdline, " -- ") : NULL;
    for (const char *s = cmdline; s && (s = strstr(s, "console=")) && (!end || s < end); s++) {
        if (s != cmdline && s[-1] != ' ' && s[-1] != '\t')
            continue;
        *last_hvc = !strncmp(s + 8, "hvc", 3);
        *any_hvc |= *last_hvc;
    }
}

bool vm_cmdline_wants_hvc(const char *cmdline)
{
    bool any, last;
    console_words(cmdline, &any, &last);
    return any;
}

int vm_vconsole_create(struct vm *vm, const struct vm_params *cfg, const char *cmdline)
{
    bool any, last;
    console_words(cmdline, &any, &last);
    if (!any)
        return 0;
    vm->vcons_input = last;
    struct vpci_host host = {
        .ctx = &vm->routes, .msi_route = irq_routes_msi, .msi_route_free = irq_routes_msi_free,
        .irqfd = irq_routes_irqfd, .ioeventfd = irq_routes_ioeventfd,
    };
    char err[256];
    int out = vm->res->console_fd >= 0 ? vm->res->console_fd : cfg->serial_fd;
    vm->vcons = vcons_new("console", out, &vm->loop, err, sizeof(err));
    if (!vm->vcons) {
        vlog_err("%s", err);
        return -1;
    }
    if (vpci_init(&vm->vcons_pci, vcons_dev(vm->vcons), &vm->memmap, &host, VCONSOLE_BAR, "console") < 0) {
        vlog_err("console: cannot set up its PCI function");
        return -1;
    }
    vm->vcons_pci_ok = true;   /* from here vm_vconsole_destroy undoes vpci_init */
    if (pci_bus_register(&vm->pci, VM_PCI_SLOT_VCONSOLE, &vm->vcons_pci.pci) < 0) {
        vlog_err("console: cannot put its PCI function on the bus");
        return -1;
    }
    return 0;
}

void vm_vconsole_shutdown(struct vm *vm)
{
    if (vm->vcons_pci_ok)
        vpci_shutdown(&vm->vcons_pci);
}

void vm_vconsole_destroy(struct vm *vm)
{
    vm_vconsole_shutdown(vm);
    if (vm->vcons_pci_ok)
        vpci_destroy(&vm->vcons_pci);
    vm->vcons_pci_ok = false;
    vcons_free(vm->vcons);
    vm->vcons = NULL;
}

size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len)
{
    /* To hvc0 only while its driver listens: a guest without the driver,
     * or still in an initramfs that lacks it, gets its input on the UART. */
    if (vm->vcons && vm->vcons_input && vcons_rx_ready(vm->vcons))
        return vcons_rx_push(vm->vcons, buf, len);
    return serial_rx_push(&vm->serial, buf, len);
}

/* The VM's virtio console (virtio/console): Xen's PV console for guests
 * whose kernel command line names one (console=hvc0, as an xl.cfg's
 * `extra` often does).  A virtio-pci function on bus 0, slot 25, served
 * on the VM's own loop; its output goes where the UART's does, and console
 * input goes to it instead of the UART when the last console= word (Linux's
 * /dev/console) names it and its driver has started its receive queue
 * (vm_console_input). */
#ifndef VIREO_VM_VM_VCONSOLE_H
#define VIREO_VM_VM_VCONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VM_PCI_SLOT_VCONSOLE 25

struct vm;
struct vm_params;

/* Whether a kernel command line asks for a virtio console: a console=hvcN
 * word (the last console= is Linux's /dev/console, but any hvc one needs
 * the device). */
bool vm_cmdline_wants_hvc(const char *cmdline);
/* Creates the device when cmdline wants it; prints why and returns -1. */
int vm_vconsole_create(struct vm *vm, const struct vm_params *cfg, const char *cmdline);
void vm_vconsole_shutdown(struct vm *vm);
void vm_vconsole_destroy(struct vm *vm);
/* Console input for the guest: to the virtio console when the VM has one,
 * else to the UART.  Returns how much was taken. */
size_t vm_console_input(struct vm *vm, const uint8_t *buf, size_t len);

#endif

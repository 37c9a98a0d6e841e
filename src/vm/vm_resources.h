/* What a VM needs privileges or paths to open, opened once for the life of
 * the process that drives it, before it gives up root and enters its jail
 * (vm_confine.h): /dev/kvm, the kernel and initrd, the disk images (the
 * boot loader reads its disk through the VM's own), the TAP devices (created, enslaved to their
 * bridge).  Every vm_create takes them from here, so an in-place restart
 * (on_reboot = "restart") needs neither root nor a path: a VM is built
 * from descriptors the process already holds.
 *
 * A restart therefore boots the kernel and initrd files opened at
 * `vireo create`, also if they were replaced on the host since (a kernel
 * the guest installs in its own disk is read again: bootloader = "pygrub"). */
#ifndef VIREO_VM_VM_RESOURCES_H
#define VIREO_VM_VM_RESOURCES_H

#include <stdbool.h>
#include <stdint.h>

#include "block/bdev.h"
#include "net/tap.h"
#include "net/tap_stats.h"
#include "vm/kernel_cache.h"
#include "vm/vm_limits.h"
#include "x86/elf_kernel.h"

struct vm_params;

struct vm_resources {
    int kvm_fd;
    int kernel_fd, initrd_fd;      /* -1: none (booting from a disk; no initrd) */
    uint64_t kernel_size, initrd_size;
    /* The ELF vmlinux to boot through PVH (vm_kernel.h): the --kernel file
     * itself (kernel_is_elf) or its bzImage's payload, decompressed or
     * from the cache; parsed once, here.  fd -1: boot the bzImage. */
    struct cached_kernel vmlinux;
    struct elf_kernel vmlinux_elf;
    bool kernel_is_elf;
    unsigned ndisks, nnets;
    struct bdev *disks[VM_MAX_DISKS];
    struct tap taps[VM_MAX_NETS];
    /* vhost-net per NIC and queue pair (-1: NIC i's frames go through this
     * process), owned by this process; its VHOST_GET_FEATURES. */
    int vhost_fds[VM_MAX_NETS][TAP_MAX_QUEUES];
    uint64_t vhost_features[VM_MAX_NETS];
    /* With vhost-net, NIC i's frame counters are its TAP's (fds -1: not
     * to be had, the counters read zero). */
    struct tap_stats tap_stats[VM_MAX_NETS];
    /* The console (vm_params.serial_fd) once more, non-blocking, for the
     * virtio console, which writes from the VM's main loop: a description
     * of its own, so the UART's writes (from vCPU threads) stay blocking.
     * -1: serial_fd itself (a regular file, already non-blocking, or none). */
    int console_fd;
};

/* Opens everything p names, in the order their errors are reported: the
 * kernel and initrd (checked as bzImage and initrd, before /dev/kvm),
 * /dev/kvm, the disks, the network interfaces.  Prints the reason and
 * returns -1 (nothing left open). */
int vm_resources_open(struct vm_resources *r, const struct vm_params *p);
/* Closes them (a created TAP disappears, written images are flushed). */
void vm_resources_close(struct vm_resources *r);

#endif

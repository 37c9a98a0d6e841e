/* The VM's virtio-blk disks: each a device model (virtio/blk) behind a
 * virtio-pci function on bus 0, slots 1 and up, in --disk order. */
#ifndef VIREO_VM_VM_DISKS_H
#define VIREO_VM_VM_DISKS_H

#include "vm/vm.h"

#define VM_PCI_SLOT_FIRST_DISK 1

/* Opens the images and wires the devices; prints why and returns -1. */
int vm_disks_create(struct vm *vm, const struct vm_params *cfg);
/* Stops the queues, waiting for requests in flight: before guest memory
 * goes away. */
void vm_disks_shutdown(struct vm *vm);
void vm_disks_destroy(struct vm *vm);
/* Makes what the guest wrote stable: bdev_sync of every writable disk
 * (data, and a format's metadata), on the calling thread.  Requests still
 * in flight are not waited for: their guest has not seen them complete.
 * -1 with the disk and the reason in err. */
int vm_disks_flush(struct vm *vm, char *err, size_t errlen);

#endif

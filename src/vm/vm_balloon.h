/* The VM's memory balloon: a virtio-balloon device model (virtio/balloon)
 * behind a virtio-pci function on bus 0, slot 24, served on the VM's own
 * loop.  Off unless asked for (`vireo run --balloon`, or maxmem in a
 * toolstack config, whose VM process sets its target through
 * vballoon_set_target: toolstack/vm_mem_commands.c). */
#ifndef VIREO_VM_VM_BALLOON_H
#define VIREO_VM_VM_BALLOON_H

#define VM_PCI_SLOT_BALLOON 24

struct vm;
struct vm_params;

/* Creates the device if cfg asks for it; prints why and returns -1. */
int vm_balloon_create(struct vm *vm, const struct vm_params *cfg);
/* Stops its queues: before guest memory goes away. */
void vm_balloon_shutdown(struct vm *vm);
void vm_balloon_destroy(struct vm *vm);

#endif

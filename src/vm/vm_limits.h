/* What one VM can hold.  Every layer that accepts a VM's description
 * (`vireo run`'s command line, the toolstack's xl.cfg) checks against
 * these, and struct vm_params and struct vm are sized by them, so a
 * description that passes its parser fits the VM's arrays. */
#ifndef VIREO_VM_VM_LIMITS_H
#define VIREO_VM_VM_LIMITS_H

#include "x86/layout.h"

#define VM_MAX_VCPUS MAX_VCPUS          /* APIC ids in the MADT */
#define VM_MAX_DISKS 8                  /* virtio-blk functions, PCI slots 1-8 */
#define VM_MAX_NETS  4                  /* virtio-net functions, PCI slots 16-19 */
#define VM_MIN_RAM   (4ULL << 20)       /* below it no kernel, initrd and tables fit */
#define VM_MAX_RAM   MAX_RAM

#endif

/* Which way a --kernel file boots (vm_params.boot_protocol): an ELF
 * vmlinux through PVH; a bzImage through PVH from its payload decompressed
 * on the host (vm/kernel_cache.h) when that payload is gzip, xz or zstd and
 * has the PVH entry, else through the 64-bit boot protocol. */
#ifndef VIREO_VM_VM_KERNEL_H
#define VIREO_VM_VM_KERNEL_H

#include "vm/vm.h"
#include "vm/vm_resources.h"

/* Sets r->vmlinux (and r->kernel_is_elf) from r->kernel_fd.  Prints the
 * reason and returns -1 when p forces a protocol the kernel cannot boot
 * with. */
int vm_kernel_prepare(struct vm_resources *r, const struct vm_params *p);

#endif

/* Guest RAM: one host mapping, seen by the guest as [0, low) and
 * [4 GiB, 4 GiB + high) around the PCI hole.  Every host access to guest
 * memory goes through guest_mem_ptr(), which checks the whole range. */
#ifndef VIREO_VM_GUEST_MEM_H
#define VIREO_VM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "x86/e820.h"

struct guest_mem {
    uint8_t *host;           /* low part first, then high part */
    uint64_t size;
    struct ram_layout layout;
};

/* Maps size bytes of anonymous memory; -1 with errno on failure. */
int guest_mem_alloc(struct guest_mem *m, uint64_t size);
void guest_mem_free(struct guest_mem *m);

/* Host pointer for [gpa, gpa+len), or NULL unless it is all RAM within one
 * region. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

#endif

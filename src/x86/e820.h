/* The guest's physical memory map, as the e820 table in boot_params. */
#ifndef VIREO_X86_E820_H
#define VIREO_X86_E820_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/memmap.h"

#define E820_TYPE_RAM      1
#define E820_TYPE_RESERVED 2

struct e820_region {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

#define E820_MAX_REGIONS 8

/* RAM below the PCI hole, and above 4 GiB for what does not fit below. */
struct ram_layout {
    uint64_t low_size;   /* [0, low_size) */
    uint64_t high_size;  /* [4 GiB, 4 GiB + high_size) */
};

struct ram_layout ram_layout_for(uint64_t ram_size);

/* Allocates guest RAM into an empty m as the layout places it, from 2 MiB
 * hugetlb pages when hugepages is set; -1 with errno. */
int ram_layout_map(const struct ram_layout *ram, struct memmap *m, bool hugepages);

/* Where the 64-bit PCI window starts for this much RAM. */
uint64_t layout_pci_mmio64_base(const struct ram_layout *ram);

/* Fills out[] (at least E820_MAX_REGIONS) in ascending address order and
 * returns the count. */
size_t e820_build(const struct ram_layout *ram, struct e820_region *out);

#endif

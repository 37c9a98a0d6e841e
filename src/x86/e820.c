#include "x86/e820.h"

#include "x86/layout.h"

struct ram_layout ram_layout_for(uint64_t ram_size)
{
    struct ram_layout l;
    l.low_size = ram_size < LAYOUT_PCI_HOLE_START ? ram_size : LAYOUT_PCI_HOLE_START;
    l.high_size = ram_size - l.low_size;
    return l;
}

int ram_layout_map(const struct ram_layout *ram, struct memmap *m, bool hugepages)
{
    struct memmap_range r[2] = {
        {0, ram->low_size},
        {LAYOUT_HIGH_RAM_START, ram->high_size},
    };
    return hugepages ? memmap_alloc_hugetlb(m, r, ram->high_size ? 2 : 1) : memmap_alloc(m, r, ram->high_size ? 2 : 1);
}

uint64_t layout_pci_mmio64_base(const struct ram_layout *ram)
{
    uint64_t end = LAYOUT_HIGH_RAM_START + ram->high_size;
    return (end + LAYOUT_PCI_MMIO64_ALIGN - 1) & ~(LAYOUT_PCI_MMIO64_ALIGN - 1);
}

size_t e820_build(const struct ram_layout *ram, struct e820_region *out)
{
    size_t n = 0;
    /* The EBDA slot and the VGA/BIOS area stay out of the RAM list: the
     * ACPI tables live at 0xE0000 and the kernel must not reuse them. */
    out[n++] = (struct e820_region){0, LAYOUT_EBDA_START, E820_TYPE_RAM};
    out[n++] = (struct e820_region){LAYOUT_EBDA_START, 0x100000 - LAYOUT_EBDA_START, E820_TYPE_RESERVED};
    out[n++] = (struct e820_region){LAYOUT_HIGHMEM_START, ram->low_size - LAYOUT_HIGHMEM_START, E820_TYPE_RAM};
    /* Linux only trusts MMCONFIG that the firmware reserved. */
    out[n++] = (struct e820_region){LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, E820_TYPE_RESERVED};
    if (ram->high_size)
        out[n++] = (struct e820_region){LAYOUT_HIGH_RAM_START, ram->high_size, E820_TYPE_RAM};
    return n;
}

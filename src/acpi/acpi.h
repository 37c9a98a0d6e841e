/* ACPI tables for a Vireo VM: RSDP, XSDT, FADT, FACS, DSDT, MADT, MCFG. */
#ifndef VIREO_ACPI_H
#define VIREO_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct acpi_config {
    uint32_t ncpus;            /* APIC ids 0..ncpus-1, 1..MAX_VCPUS */
    uint64_t mmio64_base;      /* 64-bit PCI window, LAYOUT_PCI_MMIO64_SIZE long; 0: none */
};

/* Lays every table out in buf, which the guest sees at guest-physical
 * address buf_gpa.  Returns the number of bytes used, or 0 when buf_len is
 * too small, ncpus is out of range or buf_gpa is not 16-byte aligned.  The RSDP is the first structure, at buf_gpa. */
size_t acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t buf_len,
                  uint64_t buf_gpa);

#endif

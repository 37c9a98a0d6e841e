/* Puts an ELF kernel, its initrd and command line into guest memory for
 * the PVH boot ABI (Xen's docs/misc/pvh.pandoc): segments at their
 * physical addresses, and a struct hvm_start_info (version 1, with the
 * e820 map) whose address the vCPU gets in EBX at the 32-bit entry.  The
 * guest sees the same RAM map, ACPI tables and command line as through
 * linux_boot.h. */
#ifndef VIREO_X86_PVH_H
#define VIREO_X86_PVH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/memmap.h"
#include "x86/e820.h"
#include "x86/elf_kernel.h"
#include "x86/linux_boot.h"

#define PVH_START_INFO_MAGIC 0x336ec578u
#define PVH_START_INFO_VERSION 1
/* Sizes of the ABI's structures (hvm_start_info v1, hvm_modlist_entry,
 * hvm_memmap_table_entry). */
#define PVH_START_INFO_SIZE 56
#define PVH_MODLIST_ENTRY_SIZE 32
#define PVH_MEMMAP_ENTRY_SIZE 24
/* x86 Linux's COMMAND_LINE_SIZE, less the NUL: the limit a plain vmlinux
 * has no header to state. */
#define PVH_CMDLINE_MAX_DEFAULT 2047

struct pvh_boot_cfg {
    const struct elf_kernel *k;
    struct boot_blob image;    /* the whole ELF file k was parsed from */
    bool has_initrd;
    struct boot_blob initrd;
    const char *cmdline;
    uint32_t cmdline_max;      /* bytes, without the NUL */
    uint64_t acpi_rsdp;
    /* Guest RAM was mapped just now and reads zero: the image's holes and
     * the bss are left untouched rather than written (a vmlinux is half
     * zero pages; writing them cost 2.4 CPU-ms of each start). */
    bool ram_fresh;
};

/* Memory the guest needs at the very least for this kernel and initrd. */
uint64_t pvh_boot_min_ram(const struct elf_kernel *k, uint64_t initrd_len);

/* As linux_boot_check: pure, run before anything is created. */
int pvh_boot_check(const struct pvh_boot_cfg *cfg, uint64_t low_size, uint64_t *initrd_addr, char *err,
                   size_t errlen);

/* Fills the start_info page at start_info_gpa (modlist and memmap follow
 * it in the same page) in buf, a host copy of that page: separate from
 * pvh_boot_load so the unit tests read back exactly what the guest gets. */
void pvh_start_info_build(uint8_t *page, uint64_t start_info_gpa, const struct ram_layout *ram,
                          uint64_t cmdline_gpa, uint64_t rsdp, bool has_initrd, uint64_t initrd_addr,
                          uint64_t initrd_len);

/* Into guest RAM; out->pvh is set, out->boot_params is the start_info
 * address (EBX), out->entry the 32-bit entry.  -1 with a reason. */
int pvh_boot_load(const struct memmap *m, const struct ram_layout *ram, const struct pvh_boot_cfg *cfg,
                  struct linux_boot_info *out, char *err, size_t errlen);

#endif

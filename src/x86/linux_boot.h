/* Puts a Linux bzImage, its initrd and command line into guest memory the
 * way the 64-bit boot protocol wants them, with the boot_params ("zero
 * page"), an identity map of the low 4 GiB and a flat GDT. */
#ifndef VIREO_X86_LINUX_BOOT_H
#define VIREO_X86_LINUX_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mem/memmap.h"
#include "x86/bzimage.h"
#include "x86/e820.h"

/* Bytes for guest memory: from data when it is set, else read from fd at
 * offset (straight into guest RAM: no bounce copy of a 10+ MiB kernel). */
struct boot_blob {
    const uint8_t *data;
    int fd;
    uint64_t offset;
    uint64_t len;
    /* fd may have holes (the kernel cache's vmlinux) and the destination
     * reads zero (fresh guest RAM): only the file's data is read, and the
     * guest's pages under its holes stay untouched */
    bool sparse;
};

struct linux_boot_cfg {
    const struct bzimage *bz;
    struct boot_blob kernel;   /* the protected-mode part */
    bool has_initrd;
    struct boot_blob initrd;
    const char *cmdline;
    uint64_t acpi_rsdp;        /* 0: let the kernel scan for it */
};

struct linux_boot_info {
    bool pvh;                  /* PVH's 32-bit entry (x86/pvh.h), not the 64-bit one */
    uint64_t entry;            /* 64-bit entry point: load address + 0x200; PVH: the note's */
    uint64_t boot_params;      /* goes into RSI; PVH: the start_info, into EBX */
    uint64_t cr3;
    uint64_t initrd_addr;
    uint64_t kernel_end;       /* highest address the kernel may need */
};

/* Copies b to guest-physical gpa; -1 with a reason naming what. */
int boot_blob_copy(const struct memmap *m, uint64_t gpa, const struct boot_blob *b, const char *what, char *err,
                   size_t errlen);

/* The GDT at LAYOUT_GDT_ADDR with a 32-bit code segment (PVH's entry). */
void linux_boot_write_gdt32(const struct memmap *m);

/* Memory the guest needs at the very least for this kernel and initrd. */
uint64_t linux_boot_min_ram(const struct bzimage *bz, uint64_t initrd_len);

/* Checks that the command line, kernel and initrd fit a VM with low_size
 * bytes of RAM below the PCI hole, and says where the initrd would go.
 * Pure: callers run it before creating anything.  -1 with a reason. */
int linux_boot_check(const struct linux_boot_cfg *cfg, uint64_t low_size,
                     uint64_t *initrd_addr, char *err, size_t errlen);

/* Into guest RAM m laid out as ram.  Returns -1 with a one-line reason in
 * err when it does not fit. */
int linux_boot_load(const struct memmap *m, const struct ram_layout *ram, const struct linux_boot_cfg *cfg,
                    struct linux_boot_info *out, char *err, size_t errlen);

#endif

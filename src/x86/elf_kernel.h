/* An uncompressed Linux kernel as an ELF64 file (vmlinux, or the payload a
 * bzImage carries compressed): where its PT_LOAD segments go in guest
 * physical memory, and the PVH entry point its Xen ELF note names.  The
 * file is user input: every offset and size is checked against the file
 * and against each other before anything is copied. */
#ifndef VIREO_X86_ELF_KERNEL_H
#define VIREO_X86_ELF_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Linux has 4-5 PT_LOAD segments; more is not a kernel we know. */
#define ELF_KERNEL_MAX_SEGMENTS 16
#define ELF_KERNEL_MAX_PHDRS 64

/* XEN_ELFNOTE_PHYS32_ENTRY of Xen's public/elfnote.h: the 32-bit entry of
 * the PVH boot ABI, as a physical address. */
#define ELF_NOTE_XEN_NAME "Xen"
#define ELF_NOTE_XEN_PHYS32_ENTRY 18

struct elf_segment {
    uint64_t paddr;
    uint64_t offset;   /* in the file */
    uint64_t filesz;
    uint64_t memsz;    /* >= filesz; the rest is zeroed (bss) */
};

struct elf_kernel {
    unsigned nseg;
    struct elf_segment seg[ELF_KERNEL_MAX_SEGMENTS];
    uint64_t start;     /* lowest segment address */
    uint64_t end;       /* end of the highest segment's memory, page aligned */
    bool has_pvh;
    uint32_t pvh_entry; /* valid when has_pvh */
};

/* Whether the first len bytes start like an ELF file (magic only). */
bool elf_kernel_is_elf(const uint8_t *p, size_t len);

/* Validates the whole file img[0..len) and fills *k.  Refuses anything but
 * a little-endian x86-64 executable whose segments lie in the file, do
 * not overlap, start at or above 1 MiB (below are the loader's own
 * structures and the BIOS area) and end below 4 GiB (the PVH entry runs
 * in 32-bit mode).  -1 with a one-line reason. */
int elf_kernel_parse(const uint8_t *img, uint64_t len, struct elf_kernel *k, char *err, size_t errlen);

#endif

/* A synthetic ELF vmlinux: two PT_LOAD segments (the second with a bss
 * tail) and a PT_NOTE with Xen's PHYS32_ENTRY, laid out as below.
 * Shared by the ELF parser, PVH loader and kernel cache tests. */
#ifndef VIREO_TESTS_FAKE_ELF_H
#define VIREO_TESTS_FAKE_ELF_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_ELF_LEN      0x3000
#define FAKE_ELF_PHOFF    64
#define FAKE_ELF_NOTE_OFF 0x200   /* Xen's note, 24 bytes (entry as 8 bytes) */
#define FAKE_ELF_SEG0_OFF 0x1000  /* 0x1000 file bytes at 16 MiB */
#define FAKE_ELF_SEG1_OFF 0x2000  /* 0x1000 file bytes, 0x3000 in memory, at 16 MiB + 0x4000 */
#define FAKE_ELF_SEG0_PA  0x1000000ULL
#define FAKE_ELF_SEG1_PA  0x1004000ULL
#define FAKE_ELF_SEG1_MEM 0x3000ULL
#define FAKE_ELF_ENTRY    0x1000040ULL

/* Fills img[0..FAKE_ELF_LEN); segment bytes are (uint8_t)(offset * 3 + 1). */
void fake_elf(uint8_t *img);
/* Offset of program header i's first byte. */
size_t fake_elf_phdr(unsigned i);

#endif

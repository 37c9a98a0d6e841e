#include "fake_elf.h"

#include <elf.h>
#include <string.h>

size_t fake_elf_phdr(unsigned i) { return FAKE_ELF_PHOFF + i * sizeof(Elf64_Phdr); }

void fake_elf(uint8_t *img)
{
    memset(img, 0, FAKE_ELF_LEN);
    for (size_t i = FAKE_ELF_SEG0_OFF; i < FAKE_ELF_LEN; i++)
        img[i] = (uint8_t)(i * 3 + 1);
    Elf64_Ehdr eh = {
        .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT, .e_entry = 0xffffffff81000000ULL,
        .e_phoff = FAKE_ELF_PHOFF, .e_ehsize = sizeof(Elf64_Ehdr), .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 3,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(img, &eh, sizeof(eh));
    Elf64_Phdr ph[3] = {
        {.p_type = PT_LOAD, .p_offset = FAKE_ELF_SEG0_OFF, .p_vaddr = 0xffffffff81000000ULL,
         .p_paddr = FAKE_ELF_SEG0_PA, .p_filesz = 0x1000, .p_memsz = 0x1000},
        {.p_type = PT_NOTE, .p_offset = FAKE_ELF_NOTE_OFF, .p_filesz = 24},
        {.p_type = PT_LOAD, .p_offset = FAKE_ELF_SEG1_OFF, .p_vaddr = 0xffffffff81004000ULL,
         .p_paddr = FAKE_ELF_SEG1_PA, .p_filesz = 0x1000, .p_memsz = FAKE_ELF_SEG1_MEM},
    };
    memcpy(img + FAKE_ELF_PHOFF, ph, sizeof(ph));
    uint8_t *n = img + FAKE_ELF_NOTE_OFF;
    uint32_t hdr[3] = {4, 8, 18};
    memcpy(n, hdr, sizeof(hdr));
    memcpy(n + 12, "Xen", 4);
    uint64_t entry = FAKE_ELF_ENTRY;
    memcpy(n + 16, &entry, 8);
}

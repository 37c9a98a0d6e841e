#include "x86/elf_kernel.h"

#include <elf.h>
#include <string.h>

#include "util/err.h"
#include "x86/layout.h"

#define PAGE_SIZE 4096ULL
#define LIMIT_4G (4 * GiB)

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

bool elf_kernel_is_elf(const uint8_t *p, size_t len)
{
    return len >= SELFMAG && memcmp(p, ELFMAG, SELFMAG) == 0;
}

/* [off, off + n) inside a file of len bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t n, uint64_t len)
{
    return off <= len && n <= len - off;
}

static uint64_t align4(uint64_t v) { return (v + 3) & ~3ULL; }

/* Walks one PT_NOTE segment's notes for Xen's PHYS32_ENTRY. */
static int scan_notes(const uint8_t *p, uint64_t n, struct elf_kernel *k, char *err, size_t errlen)
{
    uint64_t at = 0;
    while (n - at >= 12) {
        uint32_t namesz = rd32(p + at), descsz = rd32(p + at + 4), type = rd32(p + at + 8);
        uint64_t name_at = at + 12;
        uint64_t desc_at = name_at + align4(namesz);
        if (!in_file(name_at, align4(namesz), n) || !in_file(desc_at, descsz, n))
            return err_fail(err, errlen, "corrupt ELF kernel: a note (type %u) runs past its PT_NOTE segment", type);
        if (namesz == sizeof(ELF_NOTE_XEN_NAME) && !memcmp(p + name_at, ELF_NOTE_XEN_NAME, namesz) &&
            type == ELF_NOTE_XEN_PHYS32_ENTRY) {
            uint64_t entry;
            if (descsz == 4)
                entry = rd32(p + desc_at);
            else if (descsz == 8)
                entry = rd64(p + desc_at);
            else
                return err_fail(err, errlen, "corrupt ELF kernel: Xen PHYS32_ENTRY note has %u bytes, expected 4 or 8",
                                descsz);
            if (entry >= LIMIT_4G)
                return err_fail(err, errlen, "corrupt ELF kernel: PVH entry 0x%llx is not a 32-bit address",
                                (unsigned long long)entry);
            k->has_pvh = true;
            k->pvh_entry = (uint32_t)entry;
        }
        uint64_t next = desc_at + align4(descsz);
        if (next > n)
            break;   /* the last note's padding may be cut by the segment's end */
        at = next;
    }
    return 0;
}

static int add_load(const uint8_t *ph, uint64_t len, unsigned idx, struct elf_kernel *k, char *err, size_t errlen)
{
    struct elf_segment s = {
        .offset = rd64(ph + offsetof(Elf64_Phdr, p_offset)),
        .paddr = rd64(ph + offsetof(Elf64_Phdr, p_paddr)),
        .filesz = rd64(ph + offsetof(Elf64_Phdr, p_filesz)),
        .memsz = rd64(ph + offsetof(Elf64_Phdr, p_memsz)),
    };
    if (!s.memsz)
        return 0;
    if (k->nseg == ELF_KERNEL_MAX_SEGMENTS)
        return err_fail(err, errlen, "ELF kernel has more than %d PT_LOAD segments", ELF_KERNEL_MAX_SEGMENTS);
    if (!in_file(s.offset, s.filesz, len))
        return err_fail(err, errlen, "truncated ELF kernel: segment %u needs file bytes [0x%llx, +0x%llx), the file "
                        "has 0x%llx", idx, (unsigned long long)s.offset, (unsigned long long)s.filesz,
                        (unsigned long long)len);
    if (s.filesz > s.memsz)
        return err_fail(err, errlen, "corrupt ELF kernel: segment %u has more file bytes (0x%llx) than memory (0x%llx)",
                        idx, (unsigned long long)s.filesz, (unsigned long long)s.memsz);
    if (s.paddr < LAYOUT_HIGHMEM_START || s.paddr >= LIMIT_4G || s.memsz > LIMIT_4G - s.paddr)
        return err_fail(err, errlen, "ELF kernel segment %u at physical [0x%llx, +0x%llx) is outside [1 MiB, 4 GiB): "
                        "not a kernel for the PVH entry", idx, (unsigned long long)s.paddr,
                        (unsigned long long)s.memsz);
    for (unsigned i = 0; i < k->nseg; i++) {
        const struct elf_segment *o = &k->seg[i];
        if (s.paddr < o->paddr + o->memsz && o->paddr < s.paddr + s.memsz)
            return err_fail(err, errlen, "corrupt ELF kernel: segment %u at 0x%llx overlaps an earlier one at 0x%llx",
                            idx, (unsigned long long)s.paddr, (unsigned long long)o->paddr);
    }
    k->seg[k->nseg++] = s;
    return 0;
}

int elf_kernel_parse(const uint8_t *img, uint64_t len, struct elf_kernel *k, char *err, size_t errlen)
{
    memset(k, 0, sizeof(*k));
    if (len < sizeof(Elf64_Ehdr) || !elf_kernel_is_elf(img, (size_t)len))
        return err_fail(err, errlen, "not an ELF file (%llu bytes)", (unsigned long long)len);
    if (img[EI_CLASS] != ELFCLASS64 || img[EI_DATA] != ELFDATA2LSB || img[EI_VERSION] != EV_CURRENT)
        return err_fail(err, errlen, "ELF kernel is not 64-bit little-endian (class %u, data %u)", img[EI_CLASS],
                        img[EI_DATA]);
    uint16_t type = rd16(img + offsetof(Elf64_Ehdr, e_type));
    uint16_t machine = rd16(img + offsetof(Elf64_Ehdr, e_machine));
    if (machine != EM_X86_64)
        return err_fail(err, errlen, "ELF kernel is for machine %u, not x86-64 (%u)", machine, EM_X86_64);
    if (type != ET_EXEC)
        return err_fail(err, errlen, "ELF file is of type %u, not an executable (a vmlinux is ET_EXEC)", type);
    uint64_t phoff = rd64(img + offsetof(Elf64_Ehdr, e_phoff));
    uint16_t phentsize = rd16(img + offsetof(Elf64_Ehdr, e_phentsize));
    uint16_t phnum = rd16(img + offsetof(Elf64_Ehdr, e_phnum));
    if (phentsize != sizeof(Elf64_Phdr))
        return err_fail(err, errlen, "corrupt ELF kernel: program header size %u, expected %zu", phentsize,
                        sizeof(Elf64_Phdr));
    if (phnum == 0 || phnum > ELF_KERNEL_MAX_PHDRS)
        return err_fail(err, errlen, "ELF kernel has %u program headers, expected 1 to %d", phnum,
                        ELF_KERNEL_MAX_PHDRS);
    if (!in_file(phoff, (uint64_t)phnum * phentsize, len))
        return err_fail(err, errlen, "truncated ELF kernel: program headers at 0x%llx run past the file's end",
                        (unsigned long long)phoff);

    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = img + phoff + (uint64_t)i * phentsize;
        uint32_t ptype = rd32(ph + offsetof(Elf64_Phdr, p_type));
        if (ptype == PT_LOAD) {
            if (add_load(ph, len, i, k, err, errlen) < 0)
                return -1;
        } else if (ptype == PT_NOTE) {
            uint64_t off = rd64(ph + offsetof(Elf64_Phdr, p_offset));
            uint64_t n = rd64(ph + offsetof(Elf64_Phdr, p_filesz));
            if (!in_file(off, n, len))
                return err_fail(err, errlen, "truncated ELF kernel: PT_NOTE segment %u runs past the file's end", i);
            if (scan_notes(img + off, n, k, err, errlen) < 0)
                return -1;
        }
    }
    if (!k->nseg)
        return err_fail(err, errlen, "ELF kernel has no PT_LOAD segment");
    k->start = k->seg[0].paddr;
    for (unsigned i = 0; i < k->nseg; i++) {
        const struct elf_segment *s = &k->seg[i];
        if (s->paddr < k->start)
            k->start = s->paddr;
        if (s->paddr + s->memsz > k->end)
            k->end = s->paddr + s->memsz;
    }
    k->end = (k->end + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (k->has_pvh) {
        /* The entry must be code the loader copies from the file, or the
         * vCPU would start in zeroes or outside the kernel. */
        bool inside = false;
        for (unsigned i = 0; i < k->nseg; i++)
            inside |= k->pvh_entry >= k->seg[i].paddr && k->pvh_entry - k->seg[i].paddr < k->seg[i].filesz;
        if (!inside)
            return err_fail(err, errlen, "corrupt ELF kernel: PVH entry 0x%x is not inside a loaded segment",
                            k->pvh_entry);
    }
    return 0;
}

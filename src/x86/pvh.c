#include "x86/pvh.h"

#include <string.h>

#include "util/err.h"
#include "x86/layout.h"

#define PAGE_SIZE 4096ULL

/* Offsets in struct hvm_start_info. */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_FLAGS          8
#define SI_NR_MODULES     12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_RSDP_PADDR     32
#define SI_MEMMAP_PADDR   40
#define SI_MEMMAP_ENTRIES 48

_Static_assert(PVH_START_INFO_SIZE + PVH_MODLIST_ENTRY_SIZE + E820_MAX_REGIONS * PVH_MEMMAP_ENTRY_SIZE <= PAGE_SIZE,
               "start_info, one module and the memory map share a page");

static void w32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void w64(uint8_t *p, uint64_t v)
{
    w32(p, (uint32_t)v);
    w32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

uint64_t pvh_boot_min_ram(const struct elf_kernel *k, uint64_t initrd_len)
{
    return k->end + align_up(initrd_len, PAGE_SIZE);
}

int pvh_boot_check(const struct pvh_boot_cfg *cfg, uint64_t low_size, uint64_t *initrd_addr, char *err,
                   size_t errlen)
{
    const struct elf_kernel *k = cfg->k;
    size_t cmdline_len = strlen(cfg->cmdline);
    if (cmdline_len > cfg->cmdline_max || cmdline_len >= LAYOUT_CMDLINE_MAX)
        return err_fail(err, errlen, "kernel command line is %zu bytes; this kernel accepts at most %u", cmdline_len,
                        cfg->cmdline_max);
    if (!k->has_pvh)
        return err_fail(err, errlen, "the ELF kernel has no PVH entry (no Xen PHYS32_ENTRY note: a kernel built "
                        "without CONFIG_PVH)");
    uint64_t initrd_len = cfg->has_initrd ? cfg->initrd.len : 0;
    if (cfg->has_initrd && !initrd_len)
        return err_fail(err, errlen, "the initrd is empty (0 bytes); expected an initramfs (a cpio archive, "
                        "possibly compressed)");
    uint64_t need = pvh_boot_min_ram(k, initrd_len);
    if (low_size < need)
        return err_fail(err, errlen, "memory too small for kernel%s: it needs at least %llu MiB below the "
                        "PCI hole, the VM has %llu MiB", cfg->has_initrd ? "+initrd" : "",
                        (unsigned long long)((need + MiB - 1) / MiB), (unsigned long long)(low_size / MiB));
    /* As the bzImage path: the initrd at the top of low RAM. */
    *initrd_addr = cfg->has_initrd ? (low_size - initrd_len) & ~(PAGE_SIZE - 1) : 0;
    return 0;
}

void pvh_start_info_build(uint8_t *page, uint64_t gpa, const struct ram_layout *ram, uint64_t cmdline_gpa,
                          uint64_t rsdp, bool has_initrd, uint64_t initrd_addr, uint64_t initrd_len)
{
    memset(page, 0, PAGE_SIZE);
    uint64_t modlist = gpa + PVH_START_INFO_SIZE;
    uint64_t memmap = modlist + PVH_MODLIST_ENTRY_SIZE;
    w32(page + SI_MAGIC, PVH_START_INFO_MAGIC);
    w32(page + SI_VERSION, PVH_START_INFO_VERSION);
    w32(page + SI_FLAGS, 0);
    w64(page + SI_CMDLINE_PADDR, cmdline_gpa);
    w64(page + SI_RSDP_PADDR, rsdp);
    if (has_initrd) {
        w32(page + SI_NR_MODULES, 1);
        w64(page + SI_MODLIST_PADDR, modlist);
        uint8_t *mod = page + PVH_START_INFO_SIZE;
        w64(mod, initrd_addr);
        w64(mod + 8, initrd_len);
        /* cmdline_paddr 0: the initrd has no command line of its own. */
    }
    struct e820_region regions[E820_MAX_REGIONS];
    size_t n = e820_build(ram, regions);
    uint8_t *e = page + PVH_START_INFO_SIZE + PVH_MODLIST_ENTRY_SIZE;
    for (size_t i = 0; i < n; i++, e += PVH_MEMMAP_ENTRY_SIZE) {
        /* The ABI's memory map types are e820's numbers. */
        w64(e, regions[i].addr);
        w64(e + 8, regions[i].size);
        w32(e + 16, regions[i].type);
    }
    w64(page + SI_MEMMAP_PADDR, memmap);
    w32(page + SI_MEMMAP_ENTRIES, (uint32_t)n);
}

int pvh_boot_load(const struct memmap *m, const struct ram_layout *ram, const struct pvh_boot_cfg *cfg,
                  struct linux_boot_info *out, char *err, size_t errlen)
{
    const struct elf_kernel *k = cfg->k;
    uint64_t initrd_addr;
    if (pvh_boot_check(cfg, ram->low_size, &initrd_addr, err, errlen) < 0)
        return -1;
    if (cfg->has_initrd && boot_blob_copy(m, initrd_addr, &cfg->initrd, "initrd", err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < k->nseg; i++) {
        const struct elf_segment *s = &k->seg[i];
        uint8_t *dst = memmap_ptr(m, s->paddr, s->memsz);
        if (!dst)
            return err_fail(err, errlen, "internal error: kernel segment at 0x%llx does not fit in guest RAM",
                            (unsigned long long)s->paddr);
        const struct boot_blob *img = &cfg->image;
        struct boot_blob seg = {
            .data = img->data ? img->data + s->offset : NULL, .fd = img->fd, .offset = img->offset + s->offset,
            .len = s->filesz, .sparse = cfg->ram_fresh,
        };
        if (boot_blob_copy(m, s->paddr, &seg, "kernel", err, errlen) < 0)
            return -1;
        if (!cfg->ram_fresh)
            memset(dst + s->filesz, 0, s->memsz - s->filesz);
    }

    size_t cmdline_len = strlen(cfg->cmdline);
    memcpy(memmap_ptr(m, LAYOUT_CMDLINE, cmdline_len + 1), cfg->cmdline, cmdline_len + 1);
    pvh_start_info_build(memmap_ptr(m, LAYOUT_PVH_START_INFO, PAGE_SIZE), LAYOUT_PVH_START_INFO, ram,
                         LAYOUT_CMDLINE, cfg->acpi_rsdp, cfg->has_initrd, initrd_addr,
                         cfg->has_initrd ? cfg->initrd.len : 0);
    linux_boot_write_gdt32(m);

    memset(out, 0, sizeof(*out));
    out->pvh = true;
    out->entry = k->pvh_entry;
    out->boot_params = LAYOUT_PVH_START_INFO;
    out->initrd_addr = initrd_addr;
    out->kernel_end = k->end;
    return 0;
}

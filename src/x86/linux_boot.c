#include "x86/linux_boot.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/err.h"
#include "util/file.h"
#include "x86/e820.h"
#include "x86/layout.h"

#define PAGE_SIZE          4096ULL
#define KERNEL_LOAD_ADDR   LAYOUT_HIGHMEM_START
#define ENTRY_64_OFFSET    0x200
#define LOADER_TYPE_UNDEF  0xFF    /* "boot loader not in the registry" */
#define HEAP_END_PTR       0xFE00
#define VID_MODE_NORMAL    0xFFFF

/* GDT entries the 64-bit entry expects: __BOOT_CS = 0x10, __BOOT_DS = 0x18. */
static const uint64_t boot_gdt[] = {
    0,
    0,
    0x00AF9B000000FFFFULL, /* 64-bit code, present, DPL 0 */
    0x00CF93000000FFFFULL, /* flat 4 GiB data, read/write */
};
/* The PVH entry runs in 32-bit protected mode: the same selectors, a
 * 32-bit code segment. */
static const uint64_t boot_gdt32[] = {
    0,
    0,
    0x00CF9B000000FFFFULL, /* flat 4 GiB 32-bit code */
    0x00CF93000000FFFFULL, /* flat 4 GiB data, read/write */
};

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* A relocatable kernel loaded below its preferred address decompresses to
 * the preferred address; init_size bytes from there are its whole footprint. */
static uint64_t kernel_end(const struct bzimage *bz)
{
    uint64_t run_base = bz->pref_address;
    if (bz->relocatable && bz->kernel_alignment &&
        !(bz->kernel_alignment & (bz->kernel_alignment - 1))) {
        uint64_t aligned = align_up(KERNEL_LOAD_ADDR, bz->kernel_alignment);
        if (aligned > run_base)
            run_base = aligned;
    }
    uint64_t end = run_base + bz->init_size;
    uint64_t image_end = KERNEL_LOAD_ADDR + bz->kernel_len;
    return align_up(end > image_end ? end : image_end, PAGE_SIZE);
}

static uint64_t initrd_len_of(const struct linux_boot_cfg *cfg)
{
    return cfg->has_initrd ? cfg->initrd.len : 0;
}

uint64_t linux_boot_min_ram(const struct bzimage *bz, uint64_t initrd_len)
{
    return kernel_end(bz) + align_up(initrd_len, PAGE_SIZE);
}

int boot_blob_copy(const struct memmap *m, uint64_t gpa, const struct boot_blob *b,
                     const char *what, char *err, size_t errlen)
{
    void *dst = memmap_ptr(m, gpa, b->len);
    if (!dst)
        return err_fail(err, errlen, "internal error: %s does not fit in guest RAM at 0x%llx", what,
                    (unsigned long long)gpa);
    if (b->data) {
        memcpy(dst, b->data, b->len);
        return 0;
    }
    if ((b->sparse ? read_sparse_at(b->fd, dst, b->len, b->offset) : read_full_at(b->fd, dst, b->len, b->offset)) < 0)
        return err_fail(err, errlen, "reading the %s: %s", what, strerror(errno));
    return 0;
}

static void write_page_tables(const struct memmap *m)
{
    uint64_t *pml4 = memmap_ptr(m, LAYOUT_PML4, PAGE_SIZE);
    uint64_t *pdpt = memmap_ptr(m, LAYOUT_PDPT, PAGE_SIZE);
    uint64_t *pd = memmap_ptr(m, LAYOUT_PD, 4 * PAGE_SIZE);
    memset(pml4, 0, PAGE_SIZE);
    memset(pdpt, 0, PAGE_SIZE);
    /* Present | writable; 2 MiB pages (PS) in the page directories. */
    pml4[0] = LAYOUT_PDPT | 0x3;
    for (uint64_t i = 0; i < 4; i++)
        pdpt[i] = (LAYOUT_PD + i * PAGE_SIZE) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        pd[i] = (i << 21) | 0x83;
}

void linux_boot_write_gdt32(const struct memmap *m)
{
    memcpy(memmap_ptr(m, LAYOUT_GDT_ADDR, sizeof(boot_gdt32)), boot_gdt32, sizeof(boot_gdt32));
}

int linux_boot_check(const struct linux_boot_cfg *cfg, uint64_t low_size,
                     uint64_t *initrd_addr, char *err, size_t errlen)
{
    const struct bzimage *bz = cfg->bz;
    size_t cmdline_len = strlen(cfg->cmdline);
    if (cmdline_len > bz->cmdline_size || cmdline_len >= LAYOUT_CMDLINE_MAX)
        return err_fail(err, errlen, "kernel command line is %zu bytes; this kernel accepts at most %u",
                    cmdline_len, bz->cmdline_size);

    uint64_t initrd_len = initrd_len_of(cfg);
    /* Linux would boot without a root file system and panic much later;
     * an empty file is a mistake to name now. */
    if (cfg->has_initrd && !initrd_len)
        return err_fail(err, errlen, "the initrd is empty (0 bytes); expected an initramfs (a cpio archive, "
                        "possibly compressed)");
    uint64_t need = linux_boot_min_ram(bz, initrd_len);
    if (low_size < need)
        return err_fail(err, errlen, "memory too small for kernel%s: it needs at least %llu MiB below the "
                    "PCI hole, the VM has %llu MiB", cfg->has_initrd ? "+initrd" : "",
                    (unsigned long long)((need + MiB - 1) / MiB), (unsigned long long)(low_size / MiB));

    *initrd_addr = 0;
    if (cfg->has_initrd) {
        /* As high as allowed, like other loaders: the kernel's own
         * decompression and early allocations work from the bottom up.
         * RAM itself is never the limit here (checked just above), only
         * the kernel's initrd_addr_max. */
        uint64_t top = (uint64_t)bz->initrd_addr_max + 1;
        if (top > low_size)
            top = low_size;
        if (top < initrd_len || ((top - initrd_len) & ~(PAGE_SIZE - 1)) < kernel_end(bz))
            return err_fail(err, errlen, "initrd (%llu bytes) does not fit between the kernel's end "
                        "(%llu MiB) and the kernel's initrd_addr_max (0x%x)", (unsigned long long)initrd_len,
                        (unsigned long long)(kernel_end(bz) / MiB), bz->initrd_addr_max);
        *initrd_addr = (top - initrd_len) & ~(PAGE_SIZE - 1);
    }
    return 0;
}

int linux_boot_load(const struct memmap *m, const struct ram_layout *ram, const struct linux_boot_cfg *cfg,
                    struct linux_boot_info *out, char *err, size_t errlen)
{
    const struct bzimage *bz = cfg->bz;
    size_t cmdline_len = strlen(cfg->cmdline);
    uint64_t initrd_len = initrd_len_of(cfg);
    uint64_t initrd_addr;
    if (linux_boot_check(cfg, ram->low_size, &initrd_addr, err, errlen) < 0)
        return -1;
    if (cfg->has_initrd && boot_blob_copy(m, initrd_addr, &cfg->initrd, "initrd", err, errlen) < 0)
        return -1;
    if (boot_blob_copy(m, KERNEL_LOAD_ADDR, &cfg->kernel, "kernel", err, errlen) < 0)
        return -1;

    char *cmdline = memmap_ptr(m, LAYOUT_CMDLINE, cmdline_len + 1);
    memcpy(cmdline, cfg->cmdline, cmdline_len + 1);

    struct boot_params bp;
    memset(&bp, 0, sizeof(bp));
    size_t hdr_len = bz->header_len;
    if (hdr_len > sizeof(bp.hdr))
        hdr_len = sizeof(bp.hdr);
    memcpy(&bp.hdr, bz->head + offsetof(struct boot_params, hdr), hdr_len);
    bp.hdr.type_of_loader = LOADER_TYPE_UNDEF;
    bp.hdr.loadflags |= CAN_USE_HEAP;
    bp.hdr.heap_end_ptr = HEAP_END_PTR;
    bp.hdr.vid_mode = VID_MODE_NORMAL;
    bp.hdr.code32_start = KERNEL_LOAD_ADDR;
    bp.hdr.cmd_line_ptr = LAYOUT_CMDLINE;
    bp.hdr.ramdisk_image = (uint32_t)initrd_addr;
    bp.hdr.ramdisk_size = (uint32_t)initrd_len;
    bp.acpi_rsdp_addr = cfg->acpi_rsdp;

    struct e820_region regions[E820_MAX_REGIONS];
    size_t n = e820_build(ram, regions);
    for (size_t i = 0; i < n; i++) {
        bp.e820_table[i].addr = regions[i].addr;
        bp.e820_table[i].size = regions[i].size;
        bp.e820_table[i].type = regions[i].type;
    }
    bp.e820_entries = (uint8_t)n;
    memcpy(memmap_ptr(m, LAYOUT_BOOT_PARAMS, sizeof(bp)), &bp, sizeof(bp));

    memcpy(memmap_ptr(m, LAYOUT_GDT_ADDR, sizeof(boot_gdt)), boot_gdt, sizeof(boot_gdt));
    write_page_tables(m);
    out->pvh = false;

    out->entry = KERNEL_LOAD_ADDR + ENTRY_64_OFFSET;
    out->boot_params = LAYOUT_BOOT_PARAMS;
    out->cr3 = LAYOUT_PML4;
    out->initrd_addr = initrd_addr;
    out->kernel_end = kernel_end(bz);
    return 0;
}

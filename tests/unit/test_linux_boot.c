/* Loading a (synthetic) bzImage, initrd and command line into guest RAM:
 * boot_params, initrd placement, page tables, and the refusals. */
#include <asm/bootparam.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fake_bzimage.h"
#include "mem/memmap.h"
#include "x86/bzimage.h"
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux_boot.h"

#define KERNEL_FILE_LEN (FAKE_SETUP_LEN + 300 * 1024)
#define INIT_SIZE       (20 * 1024 * 1024)

struct fixture {
    uint8_t image[KERNEL_FILE_LEN];
    uint8_t initrd[100 * 1024 + 5];
    struct bzimage bz;
    struct memmap mem;
    struct ram_layout ram;
    struct linux_boot_cfg cfg;
};

static struct fixture *setup(uint64_t ram, uint32_t initrd_addr_max)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fake_bzimage(f->image, sizeof(f->image), INIT_SIZE, initrd_addr_max);
    char err[256];
    assert_int_equal(bzimage_parse(f->image, sizeof(f->image), sizeof(f->image), &f->bz, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(f->initrd); i++)
        f->initrd[i] = (uint8_t)(i ^ 0x5A);
    f->ram = ram_layout_for(ram);
    assert_int_equal(ram_layout_map(&f->ram, &f->mem, false), 0);
    f->cfg = (struct linux_boot_cfg){
        .bz = &f->bz,
        .kernel = {.data = f->image + f->bz.kernel_offset, .fd = -1, .len = f->bz.kernel_len},
        .has_initrd = true,
        .initrd = {.data = f->initrd, .fd = -1, .len = sizeof(f->initrd)},
        .cmdline = "console=ttyS0 quiet",
        .acpi_rsdp = LAYOUT_ACPI_START,
    };
    return f;
}

static void teardown(struct fixture *f)
{
    memmap_free(&f->mem);
    free(f);
}

static void empty_initrd_refused(void **state)
{
    (void)state;
    struct fixture *f = setup(128 * MiB, 0x7FFFFFFF);
    f->cfg.initrd.len = 0;
    struct linux_boot_info info;
    char err[256];
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    assert_string_equal(err, "the initrd is empty (0 bytes); expected an initramfs (a cpio archive, possibly "
                             "compressed)");
    teardown(f);
}

static void loads_everything(void **state)
{
    (void)state;
    struct fixture *f = setup(128 * MiB, 0x7FFFFFFF);
    struct linux_boot_info info;
    char err[256];
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), 0);

    assert_int_equal(info.entry, 0x100000 + 0x200);
    assert_int_equal(info.boot_params, LAYOUT_BOOT_PARAMS);
    assert_memory_equal(memmap_ptr(&f->mem, 0x100000, f->bz.kernel_len), f->image + FAKE_SETUP_LEN,
                        f->bz.kernel_len);

    const struct boot_params *bp = memmap_ptr(&f->mem, LAYOUT_BOOT_PARAMS, sizeof(*bp));
    assert_int_equal(bp->hdr.header, 0x53726448); /* "HdrS" copied from the image */
    assert_int_equal(bp->hdr.version, 0x020F);
    assert_int_equal(bp->hdr.type_of_loader, 0xFF);
    assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
    assert_true(bp->hdr.loadflags & LOADED_HIGH);
    assert_int_equal(bp->hdr.cmd_line_ptr, LAYOUT_CMDLINE);
    assert_string_equal(memmap_ptr(&f->mem, LAYOUT_CMDLINE, 1), "console=ttyS0 quiet");
    assert_int_equal(bp->acpi_rsdp_addr, LAYOUT_ACPI_START);
    assert_int_equal(bp->e820_entries, 4);
    assert_int_equal(bp->e820_table[2].addr + bp->e820_table[2].size, 128 * MiB);

    /* The initrd sits at the top of RAM, page aligned, above the kernel. */
    uint32_t at = bp->hdr.ramdisk_image;
    assert_int_equal(bp->hdr.ramdisk_size, sizeof(f->initrd));
    assert_int_equal(at % 4096, 0);
    assert_true(at + sizeof(f->initrd) <= 128 * MiB);
    assert_true(128 * MiB - (at + sizeof(f->initrd)) < 4096);
    assert_true(at >= info.kernel_end);
    assert_true(info.kernel_end >= 0x1000000 + INIT_SIZE);
    assert_memory_equal(memmap_ptr(&f->mem, at, sizeof(f->initrd)), f->initrd, sizeof(f->initrd));

    /* Identity map: PML4[0] -> PDPT, 2 MiB pages up to 4 GiB. */
    const uint64_t *pml4 = memmap_ptr(&f->mem, LAYOUT_PML4, 4096);
    const uint64_t *pd = memmap_ptr(&f->mem, LAYOUT_PD, 4 * 4096);
    assert_int_equal(pml4[0], LAYOUT_PDPT | 3);
    assert_int_equal(pd[0], 0x83);
    assert_int_equal(pd[2047], (2047ULL << 21) | 0x83);
    assert_int_equal(info.cr3, LAYOUT_PML4);
    teardown(f);
}

static void initrd_respects_initrd_addr_max(void **state)
{
    (void)state;
    /* 1 GiB of RAM, but the kernel wants the initrd below 64 MiB. */
    struct fixture *f = setup(1 * GiB, 64 * MiB - 1);
    struct linux_boot_info info;
    char err[256];
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), 0);
    const struct boot_params *bp = memmap_ptr(&f->mem, LAYOUT_BOOT_PARAMS, sizeof(*bp));
    assert_true(bp->hdr.ramdisk_image + sizeof(f->initrd) <= 64 * MiB);
    assert_true(bp->hdr.ramdisk_image >= 64 * MiB - sizeof(f->initrd) - 4096);
    teardown(f);
}

static void refuses_what_does_not_fit(void **state)
{
    (void)state;
    char err[256];
    struct linux_boot_info info;

    struct fixture *f = setup(32 * MiB, 0x7FFFFFFF);
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "memory too small for kernel+initrd"));
    assert_true(linux_boot_min_ram(&f->bz, sizeof(f->initrd)) > 32 * MiB);
    teardown(f);

    /* initrd_addr_max below the kernel's end: no room for the initrd. */
    f = setup(256 * MiB, 24 * MiB);
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "initrd_addr_max"));
    teardown(f);

    f = setup(128 * MiB, 0x7FFFFFFF);
    static char long_cmdline[3000];
    memset(long_cmdline, 'a', sizeof(long_cmdline) - 1);
    f->cfg.cmdline = long_cmdline;
    assert_int_equal(linux_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 2047"));
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_everything),
        cmocka_unit_test(empty_initrd_refused),
        cmocka_unit_test(initrd_respects_initrd_addr_max),
        cmocka_unit_test(refuses_what_does_not_fit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

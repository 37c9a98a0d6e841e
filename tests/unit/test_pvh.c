/* The PVH loader: segments at their physical addresses with the bss
 * zeroed, hvm_start_info as the ABI lays it out (read back byte by byte),
 * the same e820 map as the bzImage path, and the refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "fake_elf.h"
#include "mem/memmap.h"
#include "util/file.h"
#include "x86/e820.h"
#include "x86/elf_kernel.h"
#include "x86/layout.h"
#include "x86/pvh.h"

struct fixture {
    uint8_t image[FAKE_ELF_LEN];
    uint8_t initrd[70 * 1024 + 3];
    struct elf_kernel k;
    struct memmap mem;
    struct ram_layout ram;
    struct pvh_boot_cfg cfg;
};

static char err[256];

static struct fixture *setup(uint64_t ram)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fake_elf(f->image);
    assert_int_equal(elf_kernel_parse(f->image, sizeof(f->image), &f->k, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(f->initrd); i++)
        f->initrd[i] = (uint8_t)(i ^ 0xA5);
    f->ram = ram_layout_for(ram);
    assert_int_equal(ram_layout_map(&f->ram, &f->mem, false), 0);
    f->cfg = (struct pvh_boot_cfg){
        .k = &f->k, .image = {.data = f->image, .fd = -1, .len = sizeof(f->image)}, .has_initrd = true,
        .initrd = {.data = f->initrd, .fd = -1, .len = sizeof(f->initrd)},
        .cmdline = "console=ttyS0 quiet", .cmdline_max = PVH_CMDLINE_MAX_DEFAULT, .acpi_rsdp = LAYOUT_ACPI_START,
    };
    return f;
}

static void teardown(struct fixture *f)
{
    memmap_free(&f->mem);
    free(f);
}

static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t r64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void loads_segments_and_start_info(void **state)
{
    (void)state;
    struct fixture *f = setup(256 * MiB);
    /* Garbage where the bss goes: the loader must zero it itself. */
    memset(memmap_ptr(&f->mem, FAKE_ELF_SEG1_PA, FAKE_ELF_SEG1_MEM), 0xEE, FAKE_ELF_SEG1_MEM);
    struct linux_boot_info info;
    assert_int_equal(pvh_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), 0);
    assert_true(info.pvh);
    assert_int_equal(info.entry, FAKE_ELF_ENTRY);
    assert_int_equal(info.boot_params, LAYOUT_PVH_START_INFO);
    assert_memory_equal(memmap_ptr(&f->mem, FAKE_ELF_SEG0_PA, 0x1000), f->image + FAKE_ELF_SEG0_OFF, 0x1000);
    const uint8_t *s1 = memmap_ptr(&f->mem, FAKE_ELF_SEG1_PA, FAKE_ELF_SEG1_MEM);
    assert_memory_equal(s1, f->image + FAKE_ELF_SEG1_OFF, 0x1000);
    for (uint64_t i = 0x1000; i < FAKE_ELF_SEG1_MEM; i++)
        assert_int_equal(s1[i], 0);

    const uint8_t *si = memmap_ptr(&f->mem, LAYOUT_PVH_START_INFO, 4096);
    assert_int_equal(r32(si + 0), 0x336ec578u);
    assert_int_equal(r32(si + 4), 1);
    assert_int_equal(r32(si + 8), 0);
    assert_int_equal(r32(si + 12), 1);
    assert_int_equal(r64(si + 24), LAYOUT_CMDLINE);
    assert_string_equal((const char *)memmap_ptr(&f->mem, LAYOUT_CMDLINE, 20), "console=ttyS0 quiet");
    assert_int_equal(r64(si + 32), LAYOUT_ACPI_START);

    /* The initrd module: at the top of low RAM, page aligned, as the bzImage path places it. */
    const uint8_t *mod = memmap_ptr(&f->mem, r64(si + 16), PVH_MODLIST_ENTRY_SIZE);
    assert_non_null(mod);
    uint64_t initrd_addr = r64(mod);
    assert_int_equal(initrd_addr, (256 * MiB - sizeof(f->initrd)) & ~4095ULL);
    assert_int_equal(initrd_addr, info.initrd_addr);
    assert_int_equal(r64(mod + 8), sizeof(f->initrd));
    assert_int_equal(r64(mod + 16), 0);
    assert_memory_equal(memmap_ptr(&f->mem, initrd_addr, sizeof(f->initrd)), f->initrd, sizeof(f->initrd));

    /* The memory map: e820_build's, entry for entry. */
    struct e820_region want[E820_MAX_REGIONS];
    size_t n = e820_build(&f->ram, want);
    assert_int_equal(r32(si + 48), n);
    const uint8_t *mm = memmap_ptr(&f->mem, r64(si + 40), n * PVH_MEMMAP_ENTRY_SIZE);
    assert_non_null(mm);
    for (size_t i = 0; i < n; i++, mm += PVH_MEMMAP_ENTRY_SIZE) {
        assert_int_equal(r64(mm), want[i].addr);
        assert_int_equal(r64(mm + 8), want[i].size);
        assert_int_equal(r32(mm + 16), want[i].type);
        assert_int_equal(r32(mm + 20), 0);
    }
    /* The 32-bit GDT: code at selector 0x10 has D=1, L=0. */
    uint64_t code = r64(memmap_ptr(&f->mem, LAYOUT_GDT_ADDR + 0x10, 8));
    assert_int_equal(code, 0x00CF9B000000FFFFULL);
    teardown(f);
}

static bool resident(const void *p)
{
    unsigned char v = 0;
    assert_int_equal(mincore((void *)((uintptr_t)p & ~4095ul), 4096, &v), 0);
    return v & 1;
}

/* Fresh RAM and a sparse vmlinux (the kernel cache's): the file's data
 * lands where it belongs, and the guest pages under its holes and under
 * the bss are never touched (they read zero as fresh memory does). */
static void fresh_ram_skips_holes_and_bss(void **state)
{
    (void)state;
    struct fixture *f = setup(256 * MiB);
    memset(f->image + FAKE_ELF_SEG0_OFF, 0, 0x1000);   /* segment 0: one page of zeroes */
    char path[] = "/tmp/vireo-pvh-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write_sparse(fd, f->image, sizeof(f->image)), 0);
    f->cfg.image = (struct boot_blob){.fd = fd, .len = sizeof(f->image)};
    f->cfg.ram_fresh = true;
    /* 4 KiB pages here, so that residency shows what was written */
    uint8_t *at16 = memmap_ptr(&f->mem, FAKE_ELF_SEG0_PA, 2 * MiB);
    assert_int_equal(madvise(at16, 2 * MiB, MADV_NOHUGEPAGE), 0);
    struct linux_boot_info info;
    assert_int_equal(pvh_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), 0);
    const uint8_t *s0 = memmap_ptr(&f->mem, FAKE_ELF_SEG0_PA, 0x1000);
    const uint8_t *s1 = memmap_ptr(&f->mem, FAKE_ELF_SEG1_PA, FAKE_ELF_SEG1_MEM);
    assert_false(resident(s0));
    assert_true(resident(s1));
    assert_false(resident(s1 + 0x1000));
    assert_false(resident(s1 + 0x2000));
    assert_memory_equal(s1, f->image + FAKE_ELF_SEG1_OFF, 0x1000);
    for (uint64_t i = 0; i < 0x1000; i++)
        assert_int_equal(s0[i], 0);
    for (uint64_t i = 0x1000; i < FAKE_ELF_SEG1_MEM; i++)
        assert_int_equal(s1[i], 0);
    /* A file shorter than its segments says so. */
    assert_int_equal(ftruncate(fd, FAKE_ELF_SEG1_OFF + 10), 0);
    assert_int_equal(pvh_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    close(fd);
    teardown(f);
}

static void without_initrd_and_with_high_ram(void **state)
{
    (void)state;
    struct fixture *f = setup(4 * GiB);
    f->cfg.has_initrd = false;
    struct linux_boot_info info;
    assert_int_equal(pvh_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), 0);
    const uint8_t *si = memmap_ptr(&f->mem, LAYOUT_PVH_START_INFO, 4096);
    assert_int_equal(r32(si + 12), 0);
    assert_int_equal(r64(si + 16), 0);
    /* RAM above 4 GiB is in the map too. */
    uint32_t n = r32(si + 48);
    const uint8_t *last = memmap_ptr(&f->mem, r64(si + 40) + (n - 1) * PVH_MEMMAP_ENTRY_SIZE, 24);
    assert_int_equal(r64(last), LAYOUT_HIGH_RAM_START);
    assert_int_equal(r64(last + 8), 1 * GiB);
    assert_int_equal(r32(last + 16), E820_TYPE_RAM);
    teardown(f);
}

static void refusals(void **state)
{
    (void)state;
    struct fixture *f = setup(32 * MiB);
    uint64_t addr;
    /* 16 MiB + 28 KiB of kernel and 70 KiB of initrd fit 32 MiB; 16 MiB does not. */
    assert_int_equal(pvh_boot_check(&f->cfg, 32 * MiB, &addr, err, sizeof(err)), 0);
    assert_int_equal(pvh_boot_check(&f->cfg, 16 * MiB, &addr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "memory too small for kernel+initrd: it needs at least 17 MiB"));

    f->cfg.cmdline_max = 5;
    assert_int_equal(pvh_boot_check(&f->cfg, 32 * MiB, &addr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "command line is 19 bytes; this kernel accepts at most 5"));
    f->cfg.cmdline_max = PVH_CMDLINE_MAX_DEFAULT;

    f->cfg.initrd.len = 0;
    assert_int_equal(pvh_boot_check(&f->cfg, 32 * MiB, &addr, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "initrd is empty"));
    f->cfg.initrd.len = sizeof(f->initrd);

    f->k.has_pvh = false;
    struct linux_boot_info info;
    assert_int_equal(pvh_boot_load(&f->mem, &f->ram, &f->cfg, &info, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no PVH entry"));
    teardown(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_segments_and_start_info),
        cmocka_unit_test(fresh_ram_skips_holes_and_bss),
        cmocka_unit_test(without_initrd_and_with_high_ram),
        cmocka_unit_test(refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

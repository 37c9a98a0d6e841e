/* The e820 map and the RAM split around the PCI hole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "mem/memmap.h"
#include "x86/e820.h"
#include "x86/layout.h"

static void check_sorted_disjoint(const struct e820_region *r, size_t n)
{
    for (size_t i = 1; i < n; i++)
        assert_true(r[i - 1].addr + r[i - 1].size <= r[i].addr);
}

static uint64_t ram_total(const struct e820_region *r, size_t n)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].type == E820_TYPE_RAM)
            t += r[i].size;
    return t;
}

static void small_vm_has_no_high_ram(void **state)
{
    (void)state;
    struct ram_layout l = ram_layout_for(256 * MiB);
    assert_int_equal(l.low_size, 256 * MiB);
    assert_int_equal(l.high_size, 0);
    struct e820_region r[E820_MAX_REGIONS];
    size_t n = e820_build(&l, r);
    check_sorted_disjoint(r, n);
    assert_int_equal(n, 4);
    assert_int_equal(r[0].addr, 0);
    assert_int_equal(r[0].type, E820_TYPE_RAM);
    assert_int_equal(r[0].size, LAYOUT_EBDA_START);
    /* The ACPI tables' area is not RAM. */
    assert_int_equal(r[1].type, E820_TYPE_RESERVED);
    assert_true(r[1].addr <= LAYOUT_ACPI_START && r[1].addr + r[1].size >= LAYOUT_ACPI_START + LAYOUT_ACPI_SIZE);
    assert_int_equal(r[2].addr, 1 * MiB);
    assert_int_equal(r[2].addr + r[2].size, 256 * MiB);
    assert_int_equal(r[3].addr, LAYOUT_ECAM_BASE);
    assert_int_equal(r[3].type, E820_TYPE_RESERVED);
    /* Only the 384 KiB of legacy area is withheld from the guest. */
    assert_int_equal(ram_total(r, n), 256 * MiB - (1 * MiB - LAYOUT_EBDA_START));
}

static void large_vm_splits_around_hole(void **state)
{
    (void)state;
    struct ram_layout l = ram_layout_for(6 * GiB);
    assert_int_equal(l.low_size, 3 * GiB);
    assert_int_equal(l.high_size, 3 * GiB);
    struct e820_region r[E820_MAX_REGIONS];
    size_t n = e820_build(&l, r);
    check_sorted_disjoint(r, n);
    assert_int_equal(n, 5);
    assert_int_equal(r[4].addr, 4 * GiB);
    assert_int_equal(r[4].size, 3 * GiB);
    assert_int_equal(r[4].type, E820_TYPE_RAM);
    /* No RAM region overlaps the PCI hole. */
    for (size_t i = 0; i < n; i++)
        if (r[i].type == E820_TYPE_RAM)
            assert_true(r[i].addr + r[i].size <= LAYOUT_PCI_HOLE_START || r[i].addr >= 4 * GiB);
}

static void exactly_hole_sized_vm(void **state)
{
    (void)state;
    struct ram_layout l = ram_layout_for(3 * GiB);
    assert_int_equal(l.low_size, 3 * GiB);
    assert_int_equal(l.high_size, 0);
}

static void mmio64_window_above_ram(void **state)
{
    (void)state;
    struct ram_layout small = ram_layout_for(256 * MiB);
    assert_int_equal(layout_pci_mmio64_base(&small), 4 * GiB);
    struct ram_layout big = ram_layout_for(5 * GiB + 4096);
    /* 2 GiB + 4 KiB above 4 GiB: the window starts at the next GiB. */
    assert_int_equal(layout_pci_mmio64_base(&big), 7 * GiB);
}

static void guest_mem_bounds(void **state)
{
    (void)state;
    struct memmap m = {0};
    struct ram_layout l = ram_layout_for(64 * MiB);
    assert_int_equal(ram_layout_map(&l, &m, false), 0);
    assert_non_null(memmap_ptr(&m, 0, 64 * MiB));
    /* A huge page of the host per 2 MiB of the guest. */
    assert_int_equal((uintptr_t)memmap_ptr(&m, 0, 1) % MEMMAP_RAM_ALIGN, 0);
    assert_non_null(memmap_ptr(&m, 64 * MiB - 1, 1));
    assert_null(memmap_ptr(&m, 64 * MiB - 1, 2));
    assert_null(memmap_ptr(&m, 64 * MiB, 1));
    assert_null(memmap_ptr(&m, 1, UINT64_MAX));
    assert_null(memmap_ptr(&m, LAYOUT_HIGH_RAM_START, 1));
    memmap_free(&m);
    assert_int_equal(m.count, 0);
}

/* Above 3 GiB the same host mapping continues at 4 GiB: one host byte
 * after the low part's last, and nothing in the hole. */
static void guest_mem_around_the_hole(void **state)
{
    (void)state;
    struct memmap m = {0};
    struct ram_layout l = ram_layout_for(LAYOUT_PCI_HOLE_START + 64 * MiB);
    assert_int_equal(ram_layout_map(&l, &m, false), 0);
    assert_int_equal(m.count, 2);
    uint8_t *low_end = memmap_ptr(&m, LAYOUT_PCI_HOLE_START - 1, 1);
    assert_non_null(low_end);
    assert_ptr_equal(memmap_ptr(&m, LAYOUT_HIGH_RAM_START, 64 * MiB), low_end + 1);
    assert_null(memmap_ptr(&m, LAYOUT_PCI_HOLE_START - 1, 2));
    assert_null(memmap_ptr(&m, LAYOUT_PCI_HOLE_START, 1));
    assert_null(memmap_ptr(&m, LAYOUT_HIGH_RAM_START + 64 * MiB - 1, 2));
    /* Only into an empty map. */
    assert_int_equal(ram_layout_map(&l, &m, false), -1);
    memmap_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(small_vm_has_no_high_ram),
        cmocka_unit_test(large_vm_splits_around_hole),
        cmocka_unit_test(exactly_hole_sized_vm),
        cmocka_unit_test(mmio64_window_above_ram),
        cmocka_unit_test(guest_mem_bounds),
        cmocka_unit_test(guest_mem_around_the_hole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Guest RAM from 2 MiB huge pages: the check of the host's free pages
 * before a VM starts (read from a fake sysfs) and the allocation's
 * refusals; with the argument "discard", also allocating and discarding
 * at huge page granularity, which needs huge pages reserved on the host:
 * the integration suite runs that in the test host (cases-boot.sh), after
 * reserving them, so no run counts it as passed without running it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mem/memmap.h"

static char root[64];

static void put(const char *name, long long v)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/kernel/mm/hugepages/hugepages-2048kB/%s", root, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%lld\n", v);
    fclose(f);
}

static void check_reads_free_minus_reserved(void **state)
{
    (void)state;
    strcpy(root, "/tmp/vireo-hugesys-XXXXXX");
    assert_non_null(mkdtemp(root));
    char err[512], cmd[256];
    /* No hugepages folder: a kernel without hugetlbfs. */
    assert_int_equal(memmap_hugetlb_check(root, 64 << 20, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "no 2 MiB huge pages"));

    snprintf(cmd, sizeof(cmd), "mkdir -p %s/kernel/mm/hugepages/hugepages-2048kB", root);
    assert_int_equal(system(cmd), 0);
    put("nr_hugepages", 100);
    put("free_hugepages", 40);
    put("resv_hugepages", 8);
    /* 32 pages are really free: 64 MiB fits, 66 MiB does not. */
    assert_int_equal(memmap_hugetlb_check(root, 64 << 20, err, sizeof(err)), 0);
    assert_int_equal(memmap_hugetlb_check(root, 66 << 20, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the VM needs 33 huge pages of 2 MiB, the host has 32 free (of 100 reserved in "
                                "/proc/sys/vm/nr_hugepages); reserve more, e.g. echo 101 > /proc/sys/vm/nr_hugepages"));
    put("free_hugepages", 0);
    assert_int_equal(memmap_hugetlb_check(root, 2 << 20, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "has 0 free"));
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

static void alloc_refuses_partial_huge_pages(void **state)
{
    (void)state;
    struct memmap m;
    memset(&m, 0, sizeof(m));
    struct memmap_range r[1] = {{0, (2 << 20) + 4096}};
    assert_int_equal(memmap_alloc_hugetlb(&m, r, 1), -1);
    assert_int_equal(m.count, 0);
    assert_null(m.owned);
}

static void discard_whole_huge_pages(void **state)
{
    (void)state;
    char err[512];
    if (memmap_hugetlb_check("/sys", 8 << 20, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    struct memmap m;
    memset(&m, 0, sizeof(m));
    struct memmap_range r[1] = {{0, 8 << 20}};
    assert_int_equal(memmap_alloc_hugetlb(&m, r, 1), 0);
    assert_true(m.hugetlb);
    assert_int_equal((uintptr_t)m.owned % (2 << 20), 0);
    memset(m.owned, 0xAB, 8 << 20);
    /* A 4 KiB page inside a huge page: nothing to give back, no error. */
    assert_int_equal(memmap_discard(&m, m.owned + 4096, 4096), 0);
    assert_int_equal(m.owned[4096], 0xAB);
    /* 2 MiB + 8 KiB from 1 MiB in: only the whole huge page at 2 MiB goes. */
    assert_int_equal(memmap_discard(&m, m.owned + (1 << 20), (2 << 20) + 8192 + (1 << 20)), 2 << 20);
    assert_int_equal(m.owned[(1 << 20)], 0xAB);
    assert_int_equal(m.owned[(2 << 20)], 0);
    assert_int_equal(m.owned[(4 << 20) - 1], 0);
    assert_int_equal(m.owned[(4 << 20)], 0xAB);
    memmap_free(&m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(check_reads_free_minus_reserved),
        cmocka_unit_test(alloc_refuses_partial_huge_pages),
    };
    const struct CMUnitTest with_pages[] = {
        cmocka_unit_test(discard_whole_huge_pages),
    };
    if (argc > 1 && !strcmp(argv[1], "discard"))
        return cmocka_run_group_tests(with_pages, NULL, NULL);
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* A VM's memory in the toolstack (toolstack/vm_memory.c): maxmem's
 * balloon at start, mem-set's and mem-max's arithmetic and refusals, SIZE
 * parsing, and when a guest counts as not following its balloon; the
 * host's memory budget (toolstack/mem_budget.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "toolstack/mem_budget.h"
#include "toolstack/vm_memory.h"

static struct vm_memory mem_of(uint64_t memory, uint64_t maxmem)
{
    struct vm_config c;
    memset(&c, 0, sizeof(c));
    c.memory_mib = memory;
    c.maxmem_mib = maxmem;
    struct vm_memory m;
    vm_memory_init(&m, &c);
    return m;
}

static void maxmem_starts_ballooned(void **state)
{
    (void)state;
    struct vm_memory m = mem_of(256, 512);
    assert_true(m.balloon);
    assert_int_equal(m.ram_mib, 512);
    assert_int_equal(m.max_mib, 512);
    assert_int_equal(m.target_mib, 256);
    assert_int_equal(vm_memory_balloon_pages(&m), 256 * 256);   /* 256 MiB of 4 KiB pages */
    m = mem_of(512, 512);
    assert_true(m.balloon);
    assert_int_equal(vm_memory_balloon_pages(&m), 0);
    m = mem_of(300, 0);
    assert_false(m.balloon);
    assert_int_equal(m.ram_mib, 300);
    assert_int_equal(vm_memory_balloon_pages(&m), 0);
}

static void mem_set(void **state)
{
    (void)state;
    char err[256];
    struct vm_memory m = mem_of(256, 512);
    assert_int_equal(vm_memory_set(&m, 192, err, sizeof(err)), 0);
    assert_int_equal(vm_memory_balloon_pages(&m), (512 - 192) * 256);
    assert_int_equal(vm_memory_set(&m, 512, err, sizeof(err)), 0);
    assert_int_equal(vm_memory_balloon_pages(&m), 0);
    assert_int_equal(vm_memory_set(&m, 513, err, sizeof(err)), -1);
    assert_string_equal(err, "513 MiB is more than the VM's maximum, 512 MiB (vireo mem-max raises it up to 512 MiB, its maxmem)");
    assert_int_equal(m.target_mib, 512);
    assert_int_equal(vm_memory_set(&m, 3, err, sizeof(err)), -1);
    assert_string_equal(err, "3 MiB is too little; expected at least 4 MiB");
    assert_int_equal(m.target_mib, 512);
    m = mem_of(256, 0);
    assert_int_equal(vm_memory_set(&m, 128, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM has no balloon: its memory is fixed at 256 MiB (set maxmem in its config to change "
                             "it while it runs)");
    assert_int_equal(m.target_mib, 256);
    /* mem-max too, even to the size the VM already has. */
    assert_int_equal(vm_memory_set_max(&m, 256, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM has no balloon: its memory is fixed at 256 MiB (set maxmem in its config to change "
                             "it while it runs)");
    assert_int_equal(m.max_mib, 256);
}

static void mem_max(void **state)
{
    (void)state;
    char err[256];
    struct vm_memory m = mem_of(256, 512);
    assert_int_equal(vm_memory_set_max(&m, 300, err, sizeof(err)), 0);
    assert_int_equal(vm_memory_set(&m, 301, err, sizeof(err)), -1);
    assert_string_equal(err, "301 MiB is more than the VM's maximum, 300 MiB (vireo mem-max raises it up to 512 MiB, its maxmem)");
    assert_int_equal(vm_memory_set(&m, 300, err, sizeof(err)), 0);
    assert_int_equal(vm_memory_set_max(&m, 299, err, sizeof(err)), -1);
    assert_string_equal(err, "299 MiB is less than the VM's target, 300 MiB; expected at least the target (vireo mem-set lowers it first)");
    assert_int_equal(m.max_mib, 300);
    assert_int_equal(vm_memory_set_max(&m, 1024, err, sizeof(err)), -1);
    assert_string_equal(err, "1024 MiB is more than the guest's RAM, 512 MiB (its maxmem): vireo does not add RAM to a running guest");
    assert_int_equal(vm_memory_set_max(&m, 512, err, sizeof(err)), 0);
    assert_int_equal(m.max_mib, 512);
}

static void parse_mib(void **state)
{
    (void)state;
    char err[256];
    uint64_t v = 7;
    assert_int_equal(vm_memory_parse_mib("192", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 192);
    assert_int_equal(vm_memory_parse_mib("1G", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(vm_memory_parse_mib("2048K", &v, err, sizeof(err)), 0);
    assert_int_equal(v, 2);
    v = 7;
    assert_int_equal(vm_memory_parse_mib("1000K", &v, err, sizeof(err)), -1);
    assert_string_equal(err, "'1000K' is not a whole number of MiB; expected MiB (512M, 1G)");
    assert_int_equal(vm_memory_parse_mib("-1", &v, err, sizeof(err)), -1);
    assert_int_equal(vm_memory_parse_mib("", &v, err, sizeof(err)), -1);
    assert_int_equal(vm_memory_parse_mib("99999999999999999999", &v, err, sizeof(err)), -1);
    assert_int_equal(v, 7);
}

static void progress(void **state)
{
    (void)state;
    assert_string_equal(vm_memory_progress(100, 100, 500, 500), "at target");
    assert_string_equal(vm_memory_progress(100, 0, 1, 1), "moving");
    assert_string_equal(vm_memory_progress(100, 50, 30, 2), "moving");   /* still moving */
    assert_string_equal(vm_memory_progress(100, 0, VM_MEM_FOLLOW_S + 1, VM_MEM_FOLLOW_S + 1), "not following");
    assert_string_equal(vm_memory_progress(0, 100, 60, 60), "not following");
}

static void budget_reserve(void **state)
{
    (void)state;
    char err[256];
    struct mem_budget b;
    assert_int_equal(mem_budget_init(&b, 2000, NULL, err, sizeof(err)), 0);
    assert_int_equal(b.reserve_mib, 500);   /* a quarter of a small host */
    assert_int_equal(mem_budget_init(&b, 65536, "", err, sizeof(err)), 0);
    assert_int_equal(b.reserve_mib, 1024);  /* at most 1 GiB by default */
    assert_int_equal(mem_budget_init(&b, 65536, "2G", err, sizeof(err)), 0);
    assert_int_equal(b.reserve_mib, 2048);
    assert_int_equal(mem_budget_init(&b, 65536, "0", err, sizeof(err)), 0);
    assert_int_equal(b.reserve_mib, 0);
    assert_int_equal(mem_budget_init(&b, 65536, "lots", err, sizeof(err)), -1);
    assert_string_equal(err, "VIREO_HOST_RESERVE='lots' is not a size; expected MiB or a number with K, M, G or T (2G, 512M)");
    assert_int_equal(mem_budget_init(&b, 1024, "2G", err, sizeof(err)), -1);
    assert_string_equal(err, "VIREO_HOST_RESERVE=2G is more than the host's memory, 1024 MiB");
}

static void budget_arithmetic(void **state)
{
    (void)state;
    char err[512];
    struct mem_budget b;
    assert_int_equal(mem_budget_init(&b, 4096, "1024", err, sizeof(err)), 0);
    assert_int_equal(mem_budget_free(&b), 3072);
    assert_int_equal(mem_budget_overhead_each(&b), MEM_BUDGET_DEFAULT_OVERHEAD_MIB);
    assert_int_equal(mem_budget_check(&b, 3072 - 64, false, err, sizeof(err)), 0);   /* exactly fits */
    assert_int_equal(mem_budget_check(&b, 3072 - 63, false, err, sizeof(err)), -1);
    /* Two measured VMMs (30 MiB, and 49 MiB + 1 byte: rounded up) and one
     * not measured (counted at their average, 40 MiB). */
    mem_budget_add_vm(&b, 1024, false, 30u << 20, true);
    mem_budget_add_vm(&b, 512, false, (49u << 20) + 1, true);
    mem_budget_add_vm(&b, 256, false, 0, false);
    assert_int_equal(b.vms_mib, 1792);
    assert_int_equal(mem_budget_overhead_each(&b), 40);
    assert_int_equal(mem_budget_overhead_total(&b), 120);
    assert_int_equal(mem_budget_free(&b), 4096 - 1024 - 1792 - 120);
    assert_int_equal(mem_budget_check(&b, 1160 - 40, false, err, sizeof(err)), 0);
    assert_int_equal(mem_budget_check(&b, 1121, false, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM does not fit in the host's memory: it needs 1161 MiB (maxmem 1121 + VMM 40), 1160 MiB "
                             "are left (host 4096 - reserved 1024 - 3 running VMs' maxmem 1792 - their VMMs 120); "
                             "--overcommit starts it anyway, VIREO_HOST_RESERVE sets the reservation");
    /* Overcommitted already: nothing is left, never a wrapped-around figure. */
    mem_budget_add_vm(&b, 4096, false, 0, false);
    assert_int_equal(mem_budget_free(&b), 0);
    assert_int_equal(mem_budget_check(&b, 4, false, err, sizeof(err)), -1);
}

/* The huge page pool is out of ordinary VMs' reach; a huge-page VM takes
 * its RAM from the pool and only its VMM from the rest. */
static void budget_hugepages(void **state)
{
    (void)state;
    char err[512];
    struct mem_budget b;
    assert_int_equal(mem_budget_init(&b, 8192, "1024", err, sizeof(err)), 0);
    mem_budget_set_hugetlb(&b, 2048, 0);
    assert_int_equal(mem_budget_free(&b), 8192 - 1024 - 2048);
    /* an ordinary VM no longer fits in the pool's share */
    assert_int_equal(mem_budget_check(&b, 5100, false, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM does not fit in the host's memory: it needs 5164 MiB (maxmem 5100 + VMM 64), "
                             "5120 MiB are left (host 8192 - reserved 1024 - huge page pool 2048 - 0 running VMs' "
                             "maxmem 0 - their VMMs 0); --overcommit starts it anyway, VIREO_HOST_RESERVE sets the "
                             "reservation");
    /* a huge-page VM of the pool's size fits, only its VMM counted outside */
    assert_int_equal(mem_budget_check(&b, 2048, true, err, sizeof(err)), 0);
    mem_budget_add_vm(&b, 1536, true, 10u << 20, true);
    assert_int_equal(b.vms_mib, 0);
    assert_int_equal(b.huge_vms_mib, 1536);
    assert_int_equal(mem_budget_free(&b), 8192 - 1024 - 2048 - 10);
    assert_int_equal(mem_budget_check(&b, 512, true, err, sizeof(err)), 0);
    assert_int_equal(mem_budget_check(&b, 514, true, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM's huge pages do not fit in the host's pool: it needs 514 MiB of 2 MiB pages, 512 "
                             "MiB are left (pool 2048 - running huge-page VMs 1536); /proc/sys/vm/nr_hugepages sets "
                             "the pool, --overcommit starts it anyway");
    /* without a pool, any huge-page VM is refused by the budget */
    assert_int_equal(mem_budget_init(&b, 8192, "1024", err, sizeof(err)), 0);
    assert_int_equal(mem_budget_check(&b, 128, true, err, sizeof(err)), -1);
    /* ...unless the kernel may add surplus pages, which come out of the
     * ordinary room: no persistent pool, 4 GiB of overcommit */
    mem_budget_set_hugetlb(&b, 0, 4096);
    assert_int_equal(mem_budget_check(&b, 128, true, err, sizeof(err)), 0);
    mem_budget_add_vm(&b, 3000, true, 0, false);
    assert_int_equal(mem_budget_free(&b), 8192 - 1024 - 3000 - 64);
    /* 1096 MiB of surplus pages are left, 4104 MiB of ordinary room */
    assert_int_equal(mem_budget_check(&b, 1000, true, err, sizeof(err)), 0);
    assert_int_equal(mem_budget_check(&b, 1097, true, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM's huge pages do not fit in the host's pool: it needs 1097 MiB of 2 MiB pages, "
                             "1096 MiB are left (pool 0 + overcommit 4096 - running huge-page VMs 3000); "
                             "/proc/sys/vm/nr_hugepages sets the pool, --overcommit starts it anyway");
    mem_budget_set_hugetlb(&b, 0, 8192);   /* more surplus than ordinary room */
    assert_int_equal(mem_budget_check(&b, 4040, true, err, sizeof(err)), 0);
    assert_int_equal(mem_budget_check(&b, 4100, true, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the VM does not fit in the host's memory: it needs 4164 MiB (maxmem 4100 + VMM 64), "
                                "4104 MiB are left"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(maxmem_starts_ballooned), cmocka_unit_test(mem_set), cmocka_unit_test(mem_max),
        cmocka_unit_test(parse_mib), cmocka_unit_test(progress), cmocka_unit_test(budget_reserve),
        cmocka_unit_test(budget_arithmetic), cmocka_unit_test(budget_hugepages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "cli/mem_budget_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/sysinfo.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/vm_config.h"

/* A VM process that is going away (its guest stopped, its memory being
 * unmapped) still accepts connections but no longer answers: create must
 * not wait ctl_call's 10 s on each of them.  A running VM answers in
 * milliseconds. */
#define BUDGET_CALL_MS 2000

/* A count of 2 MiB huge pages (the only size Vireo uses), in MiB; 0
 * without the file. */
static uint64_t hugetlb_mib(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-2048kB/%s", name);
    FILE *f = fopen(path, "re");
    unsigned long long n = 0;
    if (f) {
        if (fscanf(f, "%llu", &n) != 1)
            n = 0;
        fclose(f);
    }
    return n > (1ull << 30) ? 0 : n * 2;
}

int mem_budget_gather(struct mem_budget *b, char *err, size_t errlen)
{
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        si.totalram = 0;
    unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
    if (mem_budget_init(b, (uint64_t)si.totalram * unit >> 20, getenv(MEM_BUDGET_RESERVE_ENV), err, errlen) < 0)
        return -1;
    mem_budget_set_hugetlb(b, hugetlb_mib("nr_hugepages"), hugetlb_mib("nr_overcommit_hugepages"));
    static char names[VM_NAMES_MAX][72];
    int n = vm_names_select(0, NULL, 1, 1, names);
    for (int i = 0; i < n; i++) {
        char e[256];
        struct json_object *cfg, *mem;
        struct json_object *info = ctl_call_timeout(names[i], CTL_INFO, NULL, BUDGET_CALL_MS, e, sizeof(e));
        if (!info)
            continue;   /* gone or going meanwhile */
        /* Replies are bounded before the sums: a VM process could say
         * anything. */
        uint64_t max = ctl_count(info, "memory_mib", VM_MAX_MEMORY_MIB);
        bool huge = false;
        if (json_object_object_get_ex(info, "config", &cfg)) {
            if (ctl_count(cfg, "maxmem", VM_MAX_MEMORY_MIB) > max)
                max = ctl_count(cfg, "maxmem", VM_MAX_MEMORY_MIB);
            struct json_object *h;
            huge = json_object_object_get_ex(cfg, "hugepages", &h) && json_object_is_type(h, json_type_boolean) &&
                   json_object_get_boolean(h);
        }
        json_object_put(info);
        struct json_object *st = ctl_call_timeout(names[i], CTL_STATS, NULL, BUDGET_CALL_MS, e, sizeof(e));
        bool measured = st && json_object_object_get_ex(st, "memory", &mem) &&
                        json_object_object_get_ex(mem, "vmm_resident", NULL);
        mem_budget_add_vm(b, max, huge, measured ? ctl_count(mem, "vmm_resident", (uint64_t)1 << 50) : 0, measured);
        json_object_put(st);
    }
    return 0;
}

#include "toolstack/mem_budget.h"

#include <stdio.h>

#include "util/size.h"

int mem_budget_init(struct mem_budget *b, uint64_t host_mib, const char *reserve, char *err, size_t errlen)
{
    *b = (struct mem_budget){.host_mib = host_mib};
    if (!reserve || !*reserve) {
        b->reserve_mib = host_mib / 4 < MEM_BUDGET_DEFAULT_RESERVE_MAX_MIB ? host_mib / 4
                                                                           : MEM_BUDGET_DEFAULT_RESERVE_MAX_MIB;
        return 0;
    }
    uint64_t bytes;
    if (!parse_size(reserve, &bytes)) {
        snprintf(err, errlen, "%s='%.64s' is not a size; expected MiB or a number with K, M, G or T (2G, 512M)",
                 MEM_BUDGET_RESERVE_ENV, reserve);
        return -1;
    }
    b->reserve_mib = bytes >> 20;
    if (b->reserve_mib > host_mib) {
        snprintf(err, errlen, "%s=%.64s is more than the host's memory, %llu MiB", MEM_BUDGET_RESERVE_ENV, reserve,
                 (unsigned long long)host_mib);
        return -1;
    }
    return 0;
}

void mem_budget_set_hugetlb(struct mem_budget *b, uint64_t pool_mib, uint64_t overcommit_mib)
{
    b->hugetlb_mib = pool_mib;
    b->hugetlb_over_mib = overcommit_mib;
}

/* Huge-page VMs' memory beyond the pool: surplus pages, ordinary memory. */
static uint64_t surplus(const struct mem_budget *b, uint64_t huge_vms_mib)
{
    return huge_vms_mib > b->hugetlb_mib ? huge_vms_mib - b->hugetlb_mib : 0;
}

void mem_budget_add_vm(struct mem_budget *b, uint64_t maxmem_mib, bool hugepages, uint64_t vmm_resident_bytes,
                       bool measured)
{
    b->nvms++;
    if (hugepages)
        b->huge_vms_mib += maxmem_mib;
    else
        b->vms_mib += maxmem_mib;
    if (measured) {
        b->nmeasured++;
        b->overhead_mib += (vmm_resident_bytes + (1 << 20) - 1) >> 20;
    }
}

uint64_t mem_budget_overhead_each(const struct mem_budget *b)
{
    if (!b->nmeasured)
        return MEM_BUDGET_DEFAULT_OVERHEAD_MIB;
    return (b->overhead_mib + b->nmeasured - 1) / b->nmeasured;
}

uint64_t mem_budget_overhead_total(const struct mem_budget *b)
{
    return b->overhead_mib + (b->nvms - b->nmeasured) * mem_budget_overhead_each(b);
}

static uint64_t used(const struct mem_budget *b)
{
    return b->reserve_mib + b->hugetlb_mib + surplus(b, b->huge_vms_mib) + b->vms_mib + mem_budget_overhead_total(b);
}

uint64_t mem_budget_free(const struct mem_budget *b)
{
    uint64_t u = used(b);
    return u < b->host_mib ? b->host_mib - u : 0;
}

int mem_budget_check(const struct mem_budget *b, uint64_t maxmem_mib, bool hugepages, char *msg, size_t msglen)
{
    if (hugepages) {
        uint64_t pool = b->hugetlb_mib + b->hugetlb_over_mib;
        uint64_t pool_left = b->huge_vms_mib < pool ? pool - b->huge_vms_mib : 0;
        if (maxmem_mib > pool_left) {
            char over[64] = "";
            if (b->hugetlb_over_mib)
                snprintf(over, sizeof(over), " + overcommit %llu", (unsigned long long)b->hugetlb_over_mib);
            snprintf(msg, msglen,
                     "the VM's huge pages do not fit in the host's pool: it needs %llu MiB of 2 MiB pages, %llu MiB "
                     "are left (pool %llu%s - running huge-page VMs %llu); /proc/sys/vm/nr_hugepages sets the pool, "
                     "--overcommit starts it anyway",
                     (unsigned long long)maxmem_mib, (unsigned long long)pool_left,
                     (unsigned long long)b->hugetlb_mib, over, (unsigned long long)b->huge_vms_mib);
            return -1;
        }
    }
    /* A huge-page VM needs ordinary memory for its VMM, and for what of
     * its RAM falls beyond the pool (surplus pages). */
    uint64_t guest = hugepages ? surplus(b, b->huge_vms_mib + maxmem_mib) - surplus(b, b->huge_vms_mib) : maxmem_mib;
    uint64_t need = guest + mem_budget_overhead_each(b), left = mem_budget_free(b);
    if (need <= left)
        return 0;
    int n = snprintf(msg, msglen,
                     "the VM does not fit in the host's memory: it needs %llu MiB (maxmem %llu + VMM %llu), %llu MiB "
                     "are left (host %llu - reserved %llu",
                     (unsigned long long)need, (unsigned long long)guest,
                     (unsigned long long)mem_budget_overhead_each(b), (unsigned long long)left,
                     (unsigned long long)b->host_mib, (unsigned long long)b->reserve_mib);
    if (b->hugetlb_mib && n > 0 && (size_t)n < msglen)
        n += snprintf(msg + n, msglen - (size_t)n, " - huge page pool %llu", (unsigned long long)b->hugetlb_mib);
    if (n > 0 && (size_t)n < msglen)
        snprintf(msg + n, msglen - (size_t)n,
                 " - %u running VMs' maxmem %llu - their VMMs %llu); --overcommit starts it anyway, %s sets the "
                 "reservation",
                 b->nvms, (unsigned long long)b->vms_mib, (unsigned long long)mem_budget_overhead_total(b),
                 MEM_BUDGET_RESERVE_ENV);
    return -1;
}

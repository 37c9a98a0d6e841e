/* The host's memory budget for VMs, Dom0's dom0_mem role: the host keeps a
 * reservation, every running VM may use its maxmem (else memory) plus
 * what its VMM process itself holds (measured: its RSS less guest RAM),
 * and a new VM fits only in what is left.  The host's pool of 2 MiB huge
 * pages is set aside: ordinary VMs cannot use it, and a VM with
 * hugepages = 1 takes its RAM from the pool (only its VMM from the rest),
 * and beyond the pool from the overcommitted pages the kernel may add
 * (nr_overcommit_hugepages), which come out of ordinary memory.
 * Pure arithmetic, so that the
 * refusals are testable; `vireo create` and `vireo info` gather the
 * figures (cli/mem_budget_host.c). */
#ifndef VIREO_TOOLSTACK_MEM_BUDGET_H
#define VIREO_TOOLSTACK_MEM_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a VM's VMM is assumed to hold before any VM was measured. */
#define MEM_BUDGET_DEFAULT_OVERHEAD_MIB 64
/* The default reservation: a quarter of the host, at most this much. */
#define MEM_BUDGET_DEFAULT_RESERVE_MAX_MIB 1024
/* The environment variable that sets the reservation (a size: 2G, 512M). */
#define MEM_BUDGET_RESERVE_ENV "VIREO_HOST_RESERVE"

struct mem_budget {
    uint64_t host_mib;       /* the host's RAM */
    uint64_t reserve_mib;    /* what the host keeps for itself */
    uint64_t vms_mib;        /* the running VMs' maxmem (else memory) */
    uint64_t overhead_mib;   /* their VMMs' measured own memory */
    uint64_t hugetlb_mib;    /* the host's huge page pool, out of host_mib */
    uint64_t hugetlb_over_mib;   /* surplus huge pages the kernel may add */
    uint64_t huge_vms_mib;   /* running huge-page VMs' memory, in the pool */
    unsigned nvms, nmeasured;
};

/* host_mib and the reservation: reserve is the environment's value (NULL:
 * the default).  -1 with why in err for a malformed or too large value. */
int mem_budget_init(struct mem_budget *b, uint64_t host_mib, const char *reserve, char *err, size_t errlen);
/* The huge page pool (2 MiB pages configured on the host, in MiB) and the
 * surplus it may grow by (nr_overcommit_hugepages, in MiB). */
void mem_budget_set_hugetlb(struct mem_budget *b, uint64_t pool_mib, uint64_t overcommit_mib);
/* A running VM: maxmem_mib (from the pool when hugepages), and its VMM's
 * own resident bytes (unknown: 0, counted as the average of the measured
 * ones). */
void mem_budget_add_vm(struct mem_budget *b, uint64_t maxmem_mib, bool hugepages, uint64_t vmm_resident_bytes,
                       bool measured);
/* What a new VM's VMM is expected to hold: the measured average, else the default. */
uint64_t mem_budget_overhead_each(const struct mem_budget *b);
/* The running VMs' VMMs together (the unmeasured ones at the average). */
uint64_t mem_budget_overhead_total(const struct mem_budget *b);
/* What is left for new VMs (0 if overcommitted already). */
uint64_t mem_budget_free(const struct mem_budget *b);
/* 0 if a VM of maxmem_mib (in huge pages: hugepages) fits; else -1 with
 * the numbers in msg. */
int mem_budget_check(const struct mem_budget *b, uint64_t maxmem_mib, bool hugepages, char *msg, size_t msglen);

#endif

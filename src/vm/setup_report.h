/* What setting a VM up cost the VMM: CPU time since the process started,
 * and resident memory not counting guest RAM (benchmarks). */
#ifndef VIREO_VM_SETUP_REPORT_H
#define VIREO_VM_SETUP_REPORT_H

#include <stdint.h>

#include "mem/memmap.h"

struct setup_report {
    double cpu_ms;             /* user + system since exec */
    uint64_t rss_kib;          /* whole process */
    uint64_t guest_rss_kib;    /* guest RAM pages that are resident */
    /* Resident pages backed by files (the binary, glibc, ld.so): shared
     * with every process mapping them, and how many are mapped depends on
     * the kernel's fault-around as much as on what the VMM runs. */
    uint64_t file_rss_kib;
};

int setup_report_measure(const struct memmap *mem, struct setup_report *r);

#endif

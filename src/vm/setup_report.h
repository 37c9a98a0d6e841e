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
};

int setup_report_measure(const struct memmap *mem, struct setup_report *r);

#endif

/* One aggregated row as user space sees it: a task's (or a device's) block
 * I/O on one device during one time bucket.  The probe produces these, the
 * record file stores them, the report and the live view consume them. */
#ifndef VIREO_MS_SAMPLE_H
#define VIREO_MS_SAMPLE_H

#include <stdint.h>

#include "microscope/ms_abi.h"

struct ms_sample {
    uint64_t t_ns;       /* bucket start, CLOCK_MONOTONIC */
    uint64_t bucket_ns;
    uint32_t tid;        /* 0 for MS_DEVICE rows */
    uint32_t pid;
    uint32_t dev;        /* major << 20 | minor */
    uint32_t kind;       /* enum ms_kind */
    uint64_t cgroup;     /* cgroup v2 id (inode of its directory) */
    char comm[64];       /* the kernel's 15 bytes, or in a recording their
                          * printable() form (up to 60) */
    char devname[32];    /* "loop0"; from the recording or /sys */
    struct ms_val v;
};

/* A Vireo VM's name (the toolstack's run directory names them). */
#define MS_VM_NAME 72

#define MS_DEV_MAJOR(d) ((uint32_t)(d) >> 20)
#define MS_DEV_MINOR(d) ((uint32_t)(d) & 0xfffff)

const char *ms_kind_name(uint32_t kind);

/* d += v, field by field. */
void ms_val_add(struct ms_val *d, const struct ms_val *v);

/* Events that could not be accounted: full tables, requests or bios never
 * seen, completions that never reached the probe, skipped program runs. */
uint64_t ms_lost_events(const uint64_t counters[MS_NR_COUNTERS], uint64_t missed);
/* -1 if unknown */
int ms_kind_parse(const char *s);

#endif

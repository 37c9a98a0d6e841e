/* The eBPF side seen from user space: checks the host can run it, loads
 * and attaches microscope.bpf.c, and drains its aggregation maps. */
#ifndef VIREO_MS_PROBE_H
#define VIREO_MS_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "microscope/sample.h"

struct ms_probe;

struct ms_probe_opts {
    uint64_t bucket_ns;
    uint32_t agg_entries; /* rows per aggregation map; 0 = 65536 */
};

/* Checks privileges, BTF and tracepoints first so the error says which is
 * missing.  Returns -1 with err filled on failure. */
int ms_probe_open(struct ms_probe **out, const struct ms_probe_opts *o, char *err, size_t errlen);
uint64_t ms_probe_start_ns(const struct ms_probe *p);

typedef void (*ms_probe_fn)(void *arg, const struct ms_sample *s);
/* Switches the programs to the other map, waits for runs still using the
 * old one, and hands every row of it to fn.  Returns rows or -1. */
int ms_probe_drain(struct ms_probe *p, ms_probe_fn fn, void *arg);
/* Counters summed over CPUs, and program runs the kernel skipped. */
void ms_probe_counters(struct ms_probe *p, uint64_t out[MS_NR_COUNTERS], uint64_t *missed);
void ms_probe_close(struct ms_probe *p);

#endif

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
    uint32_t ring_bytes;  /* the rows' ring buffer: a power of 2 pages; 0 = 16 MiB */
};

/* Checks privileges, BTF and tracepoints first so the error says which is
 * missing.  Returns -1 with err filled on failure. */
int ms_probe_open(struct ms_probe **out, const struct ms_probe_opts *o, char *err, size_t errlen);
/* When measuring began: CLOCK_MONOTONIC (the buckets' time base), and
 * CLOCK_REALTIME at the same moment in *realtime_ns if not NULL.  That is
 * after every program is attached, not when opening began. */
uint64_t ms_probe_start_ns(const struct ms_probe *p, uint64_t *realtime_ns);
/* Detaches the programs: measuring ends (CLOCK_MONOTONIC returned); the
 * maps stay to be drained. */
uint64_t ms_probe_stop(struct ms_probe *p);

typedef void (*ms_probe_fn)(void *arg, const struct ms_sample *s);
/* Switches the completion program to its other cache generation, waits
 * for runs still using the old one, takes its rows and those the ring
 * buffer holds, adds up those of one key, and hands each to fn.  Returns
 * rows or -1. */
int ms_probe_drain(struct ms_probe *p, ms_probe_fn fn, void *arg);
/* Counters summed over CPUs, and program runs the kernel skipped. */
void ms_probe_counters(struct ms_probe *p, uint64_t out[MS_NR_COUNTERS], uint64_t *missed);
void ms_probe_close(struct ms_probe *p);

#endif

/* Built where clang, bpftool, libbpf or kernel BTF were missing. */
#include "microscope/probe.h"

#include <stdio.h>

int ms_probe_open(struct ms_probe **out, const struct ms_probe_opts *o, char *err, size_t errlen)
{
    (void)o;
    *out = NULL;
    snprintf(err, errlen,
             "this vireo was built without the eBPF probe (it needs clang, bpftool, libbpf-dev and "
             "/sys/kernel/btf/vmlinux at build time)");
    return -1;
}

uint64_t ms_probe_start_ns(const struct ms_probe *p, uint64_t *realtime_ns)
{
    (void)p;
    if (realtime_ns)
        *realtime_ns = 0;
    return 0;
}

uint64_t ms_probe_stop(struct ms_probe *p)
{
    (void)p;
    return 0;
}

int ms_probe_drain(struct ms_probe *p, ms_probe_fn fn, void *arg)
{
    (void)p, (void)fn, (void)arg;
    return -1;
}

void ms_probe_counters(struct ms_probe *p, uint64_t out[MS_NR_COUNTERS], uint64_t *missed)
{
    (void)p;
    for (int i = 0; i < MS_NR_COUNTERS; i++)
        out[i] = 0;
    *missed = 0;
}

void ms_probe_close(struct ms_probe *p)
{
    (void)p;
}

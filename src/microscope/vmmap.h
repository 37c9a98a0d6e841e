/* Which processes are Vireo VMs: pid -> VM name, from the toolstack's run
 * directory when recording (the CLI fills it in), from the recording's
 * "vm" records when reporting.  With it, `--by vm` puts every thread of a
 * VM's process (vCPUs, vireo-io*, vireo-net*, the main thread, io_uring's
 * workers) into one row per VM and device. */
#ifndef VIREO_MS_VMMAP_H
#define VIREO_MS_VMMAP_H

#include <stddef.h>
#include <stdint.h>

#include "microscope/agg.h"
#include "microscope/recfile.h"

struct ms_vmmap {
    struct ms_vm *vm;
    size_t n, cap;
};

void ms_vmmap_init(struct ms_vmmap *m);
void ms_vmmap_free(struct ms_vmmap *m);
/* 1 if (pid, name) is new (the caller records it), 0 if known, -1 if out
 * of memory. */
int ms_vmmap_add(struct ms_vmmap *m, const struct ms_vm *vm);
/* The VM pid belonged to at time t: the latest record for pid made at or
 * before t, else its earliest (I/O from before the recorder noticed the
 * VM); NULL if pid was never a VM. */
const struct ms_vm *ms_vmmap_find(const struct ms_vmmap *m, uint32_t pid, uint64_t t_ns);

/* out = in with each VM's task rows merged into one row per (VM, device,
 * kind): tid and pid the VM process's, vm the VM's name, threads how many
 * rows went in.  Device rows and other tasks are copied as they are.
 * Returns 0, or -1 if out of memory. */
int ms_agg_by_vm(const struct ms_agg *in, const struct ms_vmmap *m, struct ms_agg *out);

#endif

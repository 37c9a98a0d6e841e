/* The VM's vCPU threads.  Each starts in one function (vm_vcpu.c:
 * vcpu_thread), where its per-thread set-up lives: the signal mask, and
 * later its seccomp filter. */
#ifndef VIREO_VM_VM_VCPU_H
#define VIREO_VM_VM_VCPU_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "kvm/kvm_stats.h"
#include "kvm/vcpu.h"
#include "util/stat_counter.h"

struct vm;

struct vm_vcpu {
    struct vm *vm;
    struct vcpu cpu;
    pthread_t thread;
    bool started;
    atomic_bool exited;        /* its thread has left the run loop */
    atomic_int tid;            /* its thread's id, once running (vcpu-list, vcpu-pin) */
    /* Exits that reached the VMM, by kind, counted by the vCPU's thread;
     * KVM's own counters (all exits) through kstats. */
    stat_counter exits_io, exits_mmio, exits_intr, exits_other;
    struct kvm_stats kstats;
};

/* The KVM vCPU with the VM's CPUID patched for it; prints why on failure. */
int vm_vcpu_create(struct vm *vm, struct vm_vcpu *v, unsigned id);
/* Starts its thread, on the given host CPUs from its first instruction
 * (NULL: anywhere). */
int vm_vcpu_start(struct vm_vcpu *v, const cpu_set_t *affinity);
/* Makes the vCPU leave KVM_RUN soon. */
void vm_vcpu_kick(struct vm_vcpu *v);
/* Joins its thread (kick it first) and closes the vCPU. */
void vm_vcpu_destroy(struct vm_vcpu *v);
/* Installs the no-op signal used by vm_vcpu_kick; once per process. */
int vm_vcpu_signals_init(void);

#endif

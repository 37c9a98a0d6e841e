/* A KVM vCPU: its fd and the kvm_run page it shares with KVM.  Plain
 * wrappers; the thread that runs it and what its exits mean for the VM are
 * the VM's (vm/vm_vcpu.c). */
#ifndef VIREO_KVM_VCPU_H
#define VIREO_KVM_VCPU_H

#include <linux/kvm.h>
#include <stddef.h>

struct vcpu {
    unsigned id;
    int fd;
    struct kvm_run *run;
    size_t run_size;           /* of the kvm_run mapping (KVM_GET_VCPU_MMAP_SIZE) */
};

/* KVM_CREATE_VCPU and the mapping of kvm_run; prints why on failure. */
int vcpu_create(struct vcpu *v, int vm_fd, size_t run_size, unsigned id);
/* KVM_SET_CPUID2; prints why on failure. */
int vcpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *cpuid);
/* One KVM_RUN: 0 with an exit to handle in run->exit_reason, or -1 with
 * errno (EINTR or EAGAIN: interrupted, see vcpu_request_exit). */
int vcpu_run(struct vcpu *v);
/* Makes the current or next KVM_RUN return EINTR at once; a signal to the
 * thread running it interrupts one that is already in the guest. */
void vcpu_request_exit(struct vcpu *v);
/* Unmaps and closes; safe on a vCPU never (or partly) created. */
void vcpu_destroy(struct vcpu *v);

#endif

/* vCPU threads: KVM_RUN and what each exit means for the VM. */
#ifndef VIREO_KVM_VCPU_H
#define VIREO_KVM_VCPU_H

struct vm;
struct vcpu;

/* KVM_CREATE_VCPU, mmap of kvm_run, CPUID; prints why on failure. */
int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id);
int vcpu_start(struct vcpu *v);
/* Makes a vCPU leave KVM_RUN soon (immediate_exit + signal). */
void vcpu_kick(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Installs the no-op signal used by vcpu_kick; call once per process. */
int vcpu_signals_init(void);

#endif

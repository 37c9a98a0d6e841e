/* Per-vCPU CPUID: what KVM supports, with this vCPU's APIC id and the VM's
 * topology (one socket, one thread per core, ncpus cores). */
#ifndef VIREO_X86_CPUID_H
#define VIREO_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

/* Edits the entries in place and may append topology sub-leaves, up to
 * capacity entries in all (-1 when they do not fit).  tsc_deadline: KVM
 * emulates the LAPIC's TSC-deadline mode (KVM_CAP_TSC_DEADLINE_TIMER),
 * which KVM_GET_SUPPORTED_CPUID never reports by itself. */
int cpuid_patch_for_vcpu(struct kvm_cpuid2 *cpuid, uint32_t capacity, uint32_t apic_id,
                         uint32_t ncpus, bool tsc_deadline);

/* Guest-physical address bits (leaf 0x80000008 EAX[7:0]); 0 if absent. */
uint32_t cpuid_phys_bits(const struct kvm_cpuid2 *cpuid);

#endif

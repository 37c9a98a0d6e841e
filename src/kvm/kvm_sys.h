/* /dev/kvm: opening it with clear errors, telling PVM-mode KVM apart from a
 * KVM that runs ordinary guests, and the capabilities Vireo relies on. */
#ifndef VIREO_KVM_KVM_SYS_H
#define VIREO_KVM_KVM_SYS_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>

#define KVM_DEVICE_PATH "/dev/kvm"

/* Opens /dev/kvm and checks the API version; prints why on failure. */
int kvm_open(void);

struct stat;

/* What to do about an EACCES on /dev/kvm, from its owner and mode (st)
 * and its group's name (NULL if it has none): join that group only where
 * the group may open it; a root:root 0600 node needs root or a udev rule. */
void kvm_access_advice(const struct stat *st, const char *group, char *buf, size_t len);

/* KVM in PVM mode (kvm_pvm loaded, no kvm_intel/kvm_amd) runs only guests
 * built for PVM; ordinary kernels hit its instruction emulator. sysfs_root
 * is "/sys" except in tests. */
bool kvm_is_pvm(const char *sysfs_root);

/* Checks the capabilities a VM needs; prints the first missing one. */
int kvm_check_caps(int kvm_fd);

/* Room for KVM_GET_SUPPORTED_CPUID plus the sub-leaves Vireo adds. */
#define KVM_CPUID_CAPACITY 256
#define KVM_CPUID_BYTES (sizeof(struct kvm_cpuid2) + KVM_CPUID_CAPACITY * sizeof(struct kvm_cpuid_entry2))

/* KVM_GET_SUPPORTED_CPUID into a new allocation of KVM_CPUID_CAPACITY
 * entries (free() it); NULL with a message on failure. */
struct kvm_cpuid2 *kvm_supported_cpuid(int kvm_fd);

/* Maximum vCPUs KVM allows per VM. */
int kvm_max_vcpus(int kvm_fd);

#endif

/* Puts a vCPU in the state the 64-bit Linux boot protocol wants at entry
 * (long mode, paging on, flat segments, RSI = boot_params), or PVH's
 * (32-bit protected mode, paging off, flat segments, EBX = start_info). */
#ifndef VIREO_X86_VCPU_REGS_H
#define VIREO_X86_VCPU_REGS_H

#include <stdint.h>

struct linux_boot_info;

/* Both return -1 with errno set by the failing ioctl; what names it. */
int vcpu_regs_boot(int vcpu_fd, const struct linux_boot_info *boot, const char **what);
/* Every vCPU: FPU defaults, MTRRs, and LAPIC LINT0/LINT1 wiring. */
int vcpu_regs_common(int vcpu_fd, const char **what);

#endif

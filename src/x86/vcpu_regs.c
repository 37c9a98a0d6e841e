#include "x86/vcpu_regs.h"

#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "x86/layout.h"
#include "x86/linux_boot.h"

#define CR0_PE  (1ULL << 0)
#define CR0_ET  (1ULL << 4)
#define CR0_PG  (1ULL << 31)
#define CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define MSR_IA32_MISC_ENABLE   0x1A0
#define MSR_MTRR_DEF_TYPE      0x2FF
#define MISC_ENABLE_FAST_STRING 1ULL
#define MTRR_ENABLE_WB         ((1ULL << 11) | 6) /* MTRRs on, default write-back */

#define APIC_LVT0  0x350
#define APIC_LVT1  0x360
#define APIC_MODE_NMI    0x4
#define APIC_MODE_EXTINT 0x7

static struct kvm_segment flat_segment(uint16_t selector, uint8_t type, int code64)
{
    struct kvm_segment s = {
        .base = 0, .limit = 0xFFFFFFFF, .selector = selector, .type = type,
        .present = 1, .dpl = 0, .db = !code64, .s = 1, .l = (uint8_t)code64, .g = 1,
    };
    return s;
}

int vcpu_regs_boot(int fd, const struct linux_boot_info *boot, const char **what)
{
    struct kvm_sregs sregs;
    *what = "KVM_GET_SREGS";
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return -1;
    /* PVH: 32-bit protected mode, paging off, flat 4 GiB segments. */
    sregs.cs = flat_segment(0x10, 0xB, !boot->pvh);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(0x18, 0x3, 0);
    sregs.gdt.base = LAYOUT_GDT_ADDR;
    sregs.gdt.limit = 4 * 8 - 1;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    if (boot->pvh) {
        sregs.cr0 = CR0_PE | CR0_ET;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    } else {
        sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
        sregs.cr3 = boot->cr3;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
    }
    *what = "KVM_SET_SREGS";
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
        return -1;

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2; /* bit 1 is reserved and must be set */
    regs.rip = boot->entry;
    if (boot->pvh)
        regs.rbx = boot->boot_params;
    else
        regs.rsi = boot->boot_params;
    *what = "KVM_SET_REGS";
    return ioctl(fd, KVM_SET_REGS, &regs);
}

int vcpu_regs_common(int fd, const char **what)
{
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37F;    /* x87 reset state */
    fpu.mxcsr = 0x1F80; /* SSE: all exceptions masked */
    *what = "KVM_SET_FPU";
    if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
        return -1;

    struct kvm_msrs *msrs = calloc(1, sizeof(*msrs) + 2 * sizeof(struct kvm_msr_entry));
    if (!msrs) {
        *what = "allocating MSR list";
        return -1;
    }
    msrs->nmsrs = 2;
    msrs->entries[0].index = MSR_IA32_MISC_ENABLE;
    msrs->entries[0].data = MISC_ENABLE_FAST_STRING;
    msrs->entries[1].index = MSR_MTRR_DEF_TYPE;
    msrs->entries[1].data = MTRR_ENABLE_WB;
    *what = "KVM_SET_MSRS";
    int n = ioctl(fd, KVM_SET_MSRS, msrs);
    free(msrs);
    if (n < 0)
        return -1;
    /* A partial set is not fatal (e.g. no MTRR emulation); KVM stops at the first refused MSR. */

    /* LINT0 delivers the 8259's ExtINT, LINT1 NMIs: what firmware sets up
     * and what Linux's timer fallbacks expect. */
    struct kvm_lapic_state lapic;
    *what = "KVM_GET_LAPIC";
    if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
        return -1;
    uint32_t lvt0, lvt1;
    memcpy(&lvt0, &lapic.regs[APIC_LVT0], 4);
    memcpy(&lvt1, &lapic.regs[APIC_LVT1], 4);
    lvt0 = (lvt0 & ~0x700u & ~0x10000u) | (APIC_MODE_EXTINT << 8);
    lvt1 = (lvt1 & ~0x700u & ~0x10000u) | (APIC_MODE_NMI << 8);
    memcpy(&lapic.regs[APIC_LVT0], &lvt0, 4);
    memcpy(&lapic.regs[APIC_LVT1], &lvt1, 4);
    *what = "KVM_SET_LAPIC";
    return ioctl(fd, KVM_SET_LAPIC, &lapic);
}

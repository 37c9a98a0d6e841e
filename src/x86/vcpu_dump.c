#include "x86/vcpu_dump.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

int vcpu_dump(int fd, char *buf, size_t len)
{
    struct kvm_regs r;
    struct kvm_sregs s;
    if (ioctl(fd, KVM_GET_REGS, &r) < 0 || ioctl(fd, KVM_GET_SREGS, &s) < 0) {
        int e = errno;
        snprintf(buf, len, "registers unavailable: %s", strerror(e));
        errno = e;
        return -1;
    }
    snprintf(buf, len,
             "rip=%#llx rsp=%#llx rflags=%#llx rax=%#llx cr0=%#llx cr2=%#llx cr3=%#llx cr4=%#llx efer=%#llx "
             "cs=%#x(l=%u dpl=%u) ss=%#x idt=%#llx/%#x gdt=%#llx/%#x tr=%#x",
             (unsigned long long)r.rip, (unsigned long long)r.rsp, (unsigned long long)r.rflags,
             (unsigned long long)r.rax, (unsigned long long)s.cr0, (unsigned long long)s.cr2,
             (unsigned long long)s.cr3, (unsigned long long)s.cr4, (unsigned long long)s.efer,
             s.cs.selector, s.cs.l, s.cs.dpl, s.ss.selector, (unsigned long long)s.idt.base, s.idt.limit,
             (unsigned long long)s.gdt.base, s.gdt.limit, s.tr.selector);
    return 0;
}

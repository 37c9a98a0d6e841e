/* A vCPU's state in one line, for the log when a guest crashes: where it
 * was (RIP, RSP, flags), its mode (control registers, EFER, CS) and its
 * descriptor tables, so a triple fault or an internal error can be told
 * apart (a wild jump, a lost IDT, a fault in the fault handler) without
 * rerunning the guest under a debugger. */
#ifndef VIREO_X86_VCPU_DUMP_H
#define VIREO_X86_VCPU_DUMP_H

#include <stddef.h>

/* Writes the line (NUL-terminated, cut to len) and returns 0; -1 with errno
 * set when KVM would not give the registers (then buf holds the reason). */
int vcpu_dump(int vcpu_fd, char *buf, size_t len);

#endif

/* The seccomp programs of every policy variant, compiled when Vireo is
 * built (seccomp_gen.c runs libseccomp over seccomp_policy.c): compiling
 * the four thread kinds' filters and naming the system calls at every
 * start cost 0.6 ms of a VM's 6 ms set-up.  The run-time values (main's
 * /proc/self descriptor, the process's pid) are written into the
 * instructions listed in patch; unit tests check the result against
 * libseccomp's own program for the same policy. */
#ifndef VIREO_CONFINE_SECCOMP_PREBUILT_H
#define VIREO_CONFINE_SECCOMP_PREBUILT_H

#include <linux/filter.h>
#include <stdbool.h>

#include "confine/seccomp_policy.h"

#define CONFINE_NAMED_CALLS 512
#define CONFINE_CALL_NAME_LEN 24

enum confine_patch_value { CONFINE_PATCH_PROC_FD, CONFINE_PATCH_PID };

struct confine_patch {
    unsigned short at;         /* the instruction whose k is the value */
    unsigned short what;       /* enum confine_patch_value */
};

struct confine_prebuilt {
    enum confine_process process;
    bool boot_helper;
    bool has_proc_fd;          /* built for a policy with proc_fd >= 0 */
    enum confine_kind kind;
    const struct sock_filter *prog;
    unsigned short len;
    const struct confine_patch *patch;
    unsigned short npatch;
};

extern const struct confine_prebuilt confine_prebuilt[];
extern const unsigned confine_prebuilt_count;
/* The native architecture's system call names by number ("" if none). */
extern const char confine_call_names[CONFINE_NAMED_CALLS][CONFINE_CALL_NAME_LEN];

/* The variant for (p, kind), or NULL (a bug: every variant is built). */
const struct confine_prebuilt *confine_prebuilt_find(const struct confine_policy *p, enum confine_kind kind);
/* Its program for p: a copy with p's proc_fd and pid (getpid() if 0)
 * written in (malloc'd); -errno on failure. */
int confine_prebuilt_program(const struct confine_prebuilt *b, const struct confine_policy *p,
                             struct sock_fprog *out);

#endif

#include "confine/seccomp_prebuilt.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct confine_prebuilt *confine_prebuilt_find(const struct confine_policy *p, enum confine_kind kind)
{
    bool disk = p->process == CONFINE_PROCESS_DISK_SERVE;
    for (unsigned i = 0; i < confine_prebuilt_count; i++) {
        const struct confine_prebuilt *b = &confine_prebuilt[i];
        /* disk serve's filters ignore the boot helper and /proc/self */
        if (b->process == p->process && b->kind == kind &&
            (disk || (b->boot_helper == p->boot_helper && b->has_proc_fd == (p->proc_fd >= 0))))
            return b;
    }
    return NULL;
}

int confine_prebuilt_program(const struct confine_prebuilt *b, const struct confine_policy *p,
                             struct sock_fprog *out)
{
    struct sock_filter *prog = malloc(b->len * sizeof(*prog));
    if (!prog)
        return -ENOMEM;
    memcpy(prog, b->prog, b->len * sizeof(*prog));
    int pid = p->pid ? p->pid : getpid();
    for (unsigned i = 0; i < b->npatch; i++) {
        const struct confine_patch *x = &b->patch[i];
        bool fd = x->what == CONFINE_PATCH_PROC_FD;
        if (x->at >= b->len || (fd && p->proc_fd < 0)) {
            free(prog);
            return -EINVAL;
        }
        prog[x->at].k = (unsigned)(fd ? p->proc_fd : pid);
    }
    out->filter = prog;
    out->len = b->len;
    return 0;
}

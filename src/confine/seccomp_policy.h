/* What each kind of thread may ask of the kernel: one seccomp filter per
 * thread kind (Firecracker's per-thread filters).  Anything else raises
 * SIGSYS (SECCOMP_RET_TRAP), which seccomp.c turns into a log line naming
 * the call and the end of the process.
 *
 * Filters are inherited and stack: a thread created by one that has a
 * filter runs under both, and a call passes only if every filter allows
 * it.  Every VM thread is created by the main thread after its filter is
 * loaded (in-place restarts create new vCPU and I/O threads from it), so
 * main's filter is the union of what every kind needs plus the control
 * plane's own calls, and each kind narrows it to its own list.  The lists,
 * and why each call is there, are in ARCHITECTURE.md ("Confinement"). */
#ifndef VIREO_CONFINE_SECCOMP_POLICY_H
#define VIREO_CONFINE_SECCOMP_POLICY_H

#include <seccomp.h>
#include <stdbool.h>

enum confine_kind {
    CONFINE_MAIN,        /* the process's control thread: the VM's loop, its control socket, restarts */
    CONFINE_VCPU,        /* KVM_RUN and the device models' register accesses */
    CONFINE_IOTHREAD,    /* event loops serving virtqueues: io_uring, TAP fds */
    CONFINE_AIO_WORKER,  /* aio=threads: blocking file I/O */
    CONFINE_NKINDS
};

enum confine_process {
    CONFINE_PROCESS_VM,          /* `vireo run`, a `vireo create` VM process */
    CONFINE_PROCESS_DISK_SERVE,  /* `vireo disk serve`: a vhost-user socket instead of KVM */
};

struct confine_policy {
    enum confine_process process;
    /* The VM boots from its disk: main forks the boot loader's sandboxed
     * child (src/bootloader/sandbox.c) at each start. */
    bool boot_helper;
    /* main may openat() read-only relative to this directory (a /proc/self
     * of its own: vCPU statistics); -1: no openat at all. */
    int proc_fd;
    /* tgkill's one allowed target, this process; 0: getpid() */
    int pid;
};

const char *confine_kind_name(enum confine_kind kind);

/* The filter of threads of `kind` under p, not loaded; NULL if libseccomp
 * refused a rule (a bug: the rules are constant). */
scmp_filter_ctx confine_policy_build(enum confine_kind kind, const struct confine_policy *p);

#endif

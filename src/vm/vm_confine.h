/* The confinement of a process that drives a VM (`vireo run`, a `vireo
 * create` VM process), once vm_resources_open has opened what needs root:
 *   1. a cgroup v2 leaf with memory.max (guest RAM plus the VMM's
 *      overhead, vm_memory_limit) and pids.max (vm_pids_limit);
 *   2. the jail: a mount namespace whose root is empty and read-only;
 *   3. an unprivileged user, no capabilities, no new privileges;
 *   4. seccomp: main's filter now, each thread's at its start.
 * 1 and 2 need root; run by another user, vireo does 3 (what it can: the
 * capabilities) and 4.  User root (`--user root`) keeps root, and so has no
 * jail (which root could leave).  See ARCHITECTURE.md, "Confinement". */
#ifndef VIREO_VM_VM_CONFINE_H
#define VIREO_VM_VM_CONFINE_H

#include <stdbool.h>
#include <stdint.h>

struct vm_params;

struct vm_confine_opts {
    bool seccomp;              /* false: --seccomp=off, seccomp = 0 (debugging) */
    const char *user;          /* --user, user =; NULL: the default (confine/privs.h) */
    const char *cgroup_leaf;   /* "vm-NAME" (toolstack), "run-PID" (`vireo run`) */
};

/* Prints one line saying what it did (and a warning for what this host
 * cannot do: no cgroup v2 memory and pids controllers); -1 with the reason
 * printed.  Before vm_create, on the thread that will drive the VM, with
 * no other thread running. */
int vm_confine(const struct vm_confine_opts *o, const struct vm_params *p);

/* memory.max: guest RAM + 64 MiB + per disk 40 MiB (image caches) and
 * 2 MiB per queue (O_DIRECT bounce buffers) + 8 MiB per interface, + for
 * a VM booting from its disk 64 MiB and the initrd bound (up to 512 MiB:
 * the kernel and initrd are read into memory first); sanitizer builds add
 * 512 MiB (ASan's quarantine).  Bytes. */
uint64_t vm_memory_limit(const struct vm_params *p);
/* pids.max: the main thread, vCPUs, I/O threads, 4 aio workers and the
 * io_uring kernel workers (at most min(256, 4 x CPUs) each) per queue,
 * the boot loader's child, KVM's own kernel thread, and 16 to spare. */
uint64_t vm_pids_limit(const struct vm_params *p);

#endif

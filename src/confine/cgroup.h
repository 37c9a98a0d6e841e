/* Per-VM resource limits: a cgroup v2 leaf under vireo.slice (at the root
 * of the cgroup2 hierarchy) holding the VM process, with memory.max and
 * pids.max, so that one VM cannot take the host's memory or task table.
 * The VM process cannot change them: the files are root's, and /sys is not
 * in its jail.  Leaves of ended VMs are removed by the next VM that
 * starts (rmdir succeeds only on an empty cgroup). */
#ifndef VIREO_CONFINE_CGROUP_H
#define VIREO_CONFINE_CGROUP_H

#include <stddef.h>
#include <stdint.h>

#define CONFINE_CGROUP_SLICE "vireo.slice"

struct confine_cgroup_limits {
    uint64_t memory_max;       /* bytes: memory.max */
    uint64_t pids_max;         /* tasks (threads, io_uring workers, children): pids.max */
};

/* Moves the calling process (before it starts threads) into
 * ROOT/vireo.slice/LEAF with the limits and memory.oom.group (the kernel's
 * OOM killer takes the whole VM, never a thread of it).  ROOT is the
 * cgroup2 mount (/sys/fs/cgroup; VIREO_CGROUP_ROOT overrides, for tests).
 * 1: done, its path in path; 0: cgroup v2 with the memory and pids
 * controllers is not available here (why in err: the caller warns and
 * goes on without limits); -1: failed (err). */
int confine_cgroup_join(const char *leaf, const struct confine_cgroup_limits *l, char *path, size_t pathlen,
                        char *err, size_t errlen);

#endif

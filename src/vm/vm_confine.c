#include "vm/vm_confine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "confine/cgroup.h"
#include "confine/jail.h"
#include "confine/privs.h"
#include "confine/seccomp.h"
#include "util/log.h"
#include "util/procfs.h"
#include "util/sanitized.h"
#include "vm/vm.h"

#define OVERHEAD_BASE      (64 * MiB)
#define OVERHEAD_DISK      (40 * MiB)
#define OVERHEAD_QUEUE     (2 * MiB)     /* BDEV_BOUNCE_MAX_PER_QUEUE */
#define OVERHEAD_NET       (8 * MiB)
#define OVERHEAD_BOOT      (64 * MiB)    /* the kernel read from the disk, at most */
#define OVERHEAD_INITRD    (512 * MiB)   /* the initrds read from the disk, at most */
#define OVERHEAD_SANITIZER (512 * MiB)

uint64_t vm_memory_limit(const struct vm_params *p)
{
    uint64_t m = p->ram_size + OVERHEAD_BASE + p->nnets * OVERHEAD_NET;
    for (unsigned i = 0; i < p->ndisks; i++)
        m += OVERHEAD_DISK + (uint64_t)p->disks[i].queues * OVERHEAD_QUEUE;
    if (p->boot_disk) {
        uint64_t low = ram_layout_for(p->ram_size).low_size;
        m += OVERHEAD_BOOT + (low < OVERHEAD_INITRD ? low : OVERHEAD_INITRD);
    }
    if (SANITIZED)
        m += OVERHEAD_SANITIZER;
    return m;
}

uint64_t vm_pids_limit(const struct vm_params *p)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t iowq = cpus > 0 && 4 * (uint64_t)cpus < 256 ? 4 * (uint64_t)cpus : 256;
    uint64_t n = 1 + p->ncpus + 1 + 1 + 16;   /* main, vCPUs, boot loader child, KVM's thread, spare */
    for (unsigned i = 0; i < p->ndisks; i++)
        n += p->disks[i].iothreads + (uint64_t)p->disks[i].queues * (4 + iowq);
    /* vhost-net's worker per queue pair joins the VM's cgroup (a kernel
     * thread attached to it, or since Linux 6.4 a task of the process). */
    for (unsigned i = 0; i < p->nnets; i++)
        n += p->nets[i].iothreads + p->nets[i].queues;
    return n;
}

int vm_confine(const struct vm_confine_opts *o, const struct vm_params *p)
{
    char err[1024], what[2048] = "", cg[1024] = "";
    /* glibc reads the time zone at its first use (the RTC's gmtime_r, on
     * a vCPU): now, before the jail takes /etc/localtime away. */
    tzset();
    struct confine_user u;
    if (confine_user_resolve(o->user, &u, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    bool root = geteuid() == 0;
    size_t at = 0;
#define SAY(...) (at += (size_t)snprintf(what + at, at < sizeof(what) ? sizeof(what) - at : 0, __VA_ARGS__))
    if (root) {
        struct confine_cgroup_limits l = {.memory_max = vm_memory_limit(p), .pids_max = vm_pids_limit(p)};
        int r = confine_cgroup_join(o->cgroup_leaf, &l, cg, sizeof(cg), err, sizeof(err));
        if (r < 0) {
            vlog_err("%s", err);
            return -1;
        }
        if (r == 0)
            vlog_info("warning: the VM has no memory or task limit: %s", err);
        else
            SAY("cgroup %s (memory.max %llu MiB, pids.max %llu), ", cg,
                (unsigned long long)(l.memory_max / MiB), (unsigned long long)l.pids_max);
    }
    int proc_fd = -1;
    if (u.change) {
        const char *how;
        if (confine_jail_enter(&proc_fd, &how, err, sizeof(err)) < 0) {
            vlog_err("%s", err);
            return -1;
        }
        SAY("jail (empty root, %s), ", how);
    } else {
        proc_fd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    }
    procfs_set_self(proc_fd);
    if (o->seccomp) {
        struct confine_policy pol = {
            .process = CONFINE_PROCESS_VM, .boot_helper = p->boot_disk != NULL, .proc_fd = proc_fd,
        };
        if (confine_seccomp_prepare(&pol, err, sizeof(err)) < 0) {
            vlog_err("%s", err);
            return -1;
        }
    }
    if (confine_privs_drop(&u, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    if (u.keep_root)
        SAY("user root with every privilege (user root asked for), ");
    else if (u.change)
        SAY("user %s (uid %u, gid %u), no capabilities, ", u.name, (unsigned)u.uid, (unsigned)u.gid);
    else
        SAY("no capabilities, ");
    if (o->seccomp) {
        if (confine_seccomp_enter_main(err, sizeof(err)) < 0) {
            vlog_err("%s", err);
            return -1;
        }
        SAY("seccomp filters per thread");
    } else {
        SAY("seccomp off");
    }
#undef SAY
    vlog_info("confined: %s", what);
    return 0;
}

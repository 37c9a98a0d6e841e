/* The commands' side of a VM's accounting: the reply to `stats` (made by
 * vm_stats_json.c in the VM process) read back into C, every VM's at once,
 * and what happened between two readings: rates, and latency quantiles
 * from the histograms' differences.  `vireo top` and `vireo metrics` are
 * built on it.
 *
 * For the microscope (issue 15, section 4: a VM's guest-visible latency
 * beside its host-side device time for the same interval): read every VM
 * (vmstat_collect) when a recording starts and when it ends, and
 * vmstat_delta() gives each disk's guest-visible latency histogram
 * (kick -> interrupt, per kind of request) and its host stage for that
 * interval.  time_ns is CLOCK_MONOTONIC, the clock the microscope's
 * samples use, and each disk's iothread_tids (with the VM process's pid)
 * name the host threads whose block I/O is that disk's: what the
 * microscope sees of those tids (and of io_uring's iou-wrk-TID workers)
 * is the same disk's host-side device time.
 *
 * A reply comes from a VM process, possibly of another user: everything
 * in it is checked (types, sizes, strings cut to their buffers); names
 * and paths are kept as given and must be escaped where they are printed
 * (util/strescape.h). */
#ifndef VIREO_TOOLSTACK_VM_STATS_H
#define VIREO_TOOLSTACK_VM_STATS_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/iothread_group.h"
#include "kvm/kvm_stats.h"
#include "virtio/blk_stats.h"
#include "virtio/net.h"
#include "vm/vm_limits.h"

#define VMSTAT_STR 256

enum vmstat_exit { VMSTAT_EXIT_IO, VMSTAT_EXIT_MMIO, VMSTAT_EXIT_INTR, VMSTAT_EXIT_OTHER, VMSTAT_EXIT_N };

struct vmstat_vcpu {
    double cpu_time;
    uint64_t vmm_exits[VMSTAT_EXIT_N];
    uint64_t kvm[KVM_VSTAT_N];
    bool kvm_have[KVM_VSTAT_N];
};

struct vmstat_disk {
    char vdev[32], guest_dev[32], target[VMSTAT_STR];
    bool has_stats;            /* the VM had its devices when asked */
    bool accounting;
    unsigned ntids;
    int tids[IOTHREAD_GROUP_MAX];
    struct blk_qstats_snap s;
};

struct vmstat_vif {
    char vifname[32], bridge[32], mac[32];
    bool has_stats;
    struct vnet_stats s;
};

struct vmstat {
    char name[VMSTAT_STR];
    unsigned id;
    int pid;
    char state[16];
    uint64_t time_ns;          /* CLOCK_MONOTONIC of the reading */
    double uptime, cpu_time;
    unsigned restarts;
    uint64_t mem_configured, mem_guest, mem_vmm, mem_rss;   /* bytes */
    /* The balloon (a VM with maxmem), as the VM process counted it: what
     * the guest holds (RAM less the pages in its balloon), the target of
     * mem-set, the ceiling of mem-max, the RAM; MiB.  The guest's own
     * MemTotal and MemFree (bytes, 0 until its driver reports them). */
    bool balloon;
    uint64_t bal_held_mib, bal_target_mib, bal_max_mib, bal_ram_mib;
    char bal_progress[16];     /* "at target", "moving", "not following" */
    uint64_t bal_guest_total, bal_guest_free;
    unsigned nvcpus;
    struct vmstat_vcpu vcpus[VM_MAX_VCPUS];
    unsigned ndisks;
    struct vmstat_disk disks[VM_MAX_DISKS];
    unsigned nvifs;
    struct vmstat_vif vifs[VM_MAX_NETS];
};

/* A `stats` reply into out; -1 with what is wrong in err. */
int vmstat_parse(struct json_object *reply, struct vmstat *out, char *err, size_t errlen);
/* One disk's or queue's counters and histograms (an element of "disks",
 * or of its "queues" in block-stats), one interface's or queue pair's. */
int vmstat_parse_blk(struct json_object *o, struct blk_qstats_snap *s, char *err, size_t errlen);
void vmstat_parse_net(struct json_object *o, struct vnet_stats *s);
/* Asks VM name for `stats`, waiting at most timeout_ms. */
int vmstat_fetch(const char *name, struct vmstat *out, int timeout_ms, char *err, size_t errlen);

/* Every running VM this user may ask, sorted by ID: *out is an array of
 * *n (free() it).  VMs whose sockets refuse us (another user's) are
 * counted in *denied, VMs that failed to answer in *failed.  -1 with err
 * if the run directory cannot be read. */
int vmstat_collect(struct vmstat **out, unsigned *n, unsigned *denied, unsigned *failed, int timeout_ms,
                   char *err, size_t errlen);

/* What happened between two readings of one disk. */
struct vmstat_disk_delta {
    struct blk_qstats_snap d;  /* counters and histograms: differences */
    uint64_t inflight;         /* now */
};

/* Between two readings of one VM (before may be NULL: since it started).
 * A VM that restarted in between counts from its restart. */
struct vmstat_delta {
    double seconds;
    double cpu_seconds;
    unsigned ndisks;
    struct vmstat_disk_delta disks[VM_MAX_DISKS];
    struct blk_qstats_snap disk_total;
    unsigned nvifs;
    struct vnet_stats vifs[VM_MAX_NETS];
    struct vnet_stats vif_total;
};

void vmstat_delta(const struct vmstat *before, const struct vmstat *now, struct vmstat_delta *out);
/* The same for one disk's or queue's counters, one interface's. */
void vmstat_blk_delta(struct blk_qstats_snap *out, const struct blk_qstats_snap *now,
                      const struct blk_qstats_snap *before);
void vmstat_net_delta(struct vnet_stats *out, const struct vnet_stats *now, const struct vnet_stats *before);
/* The latency histogram of reads and writes (and flushes, discards,
 * ...) together. */
void vmstat_all_ops(const struct blk_qstats_snap *s, struct log2hist_snap *out);

#endif

/* A running VM's accounting as the control protocol carries it (the
 * replies to block-stats, net-stats and stats; README, "The control
 * protocol"): read from the device models and vCPU threads without
 * stopping them, on the VM process's main thread.
 *
 * A histogram is {"count": N, "sum_ns": S, "buckets": [b0, b1, ...]}:
 * buckets[i] counts durations in (2^(i+7), 2^(i+8)] ns (the first also
 * shorter ones, the 32nd anything longer; util/log2hist.h), trailing
 * empty buckets left out. */
#ifndef VIREO_TOOLSTACK_VM_STATS_JSON_H
#define VIREO_TOOLSTACK_VM_STATS_JSON_H

#include <json-c/json.h>
#include <stdbool.h>

#include "util/log2hist.h"
#include "virtio/blk_stats.h"
#include "virtio/net.h"
#include "vm/vm.h"

struct json_object *stats_hist_json(const struct log2hist_snap *h);
/* Adds a disk's (or one queue's) counters and histograms to o. */
void stats_blk_add(struct json_object *o, const struct blk_qstats_snap *s);
/* Adds an interface's (or one queue pair's) counters to o. */
void stats_net_add(struct json_object *o, const struct vnet_stats *s);

/* Disk i of vm: its totals, the I/O threads' ids (to match host I/O to
 * it), and with per_queue each queue's own under "queues". */
void stats_disk_add(struct json_object *o, const struct vm *vm, unsigned i, bool per_queue);
void stats_vif_add(struct json_object *o, const struct vm *vm, unsigned i, bool per_queue);
/* Each vCPU: CPU time, exits that reached the VMM by kind, KVM's own
 * counters (all exits) where the kernel has them. */
struct json_object *stats_vcpus_json(struct vm *vm);
/* The configured RAM and, with a vm, guest RAM resident, the VMM's own
 * resident memory (the process's less guest RAM), the process's RSS;
 * bytes. */
struct json_object *stats_memory_json(const struct vm *vm, uint64_t configured_bytes);

#endif

/* The process behind one VM started by `vireo create`: it outlives the
 * command, runs the VM (and restarts it in place per on_reboot etc.),
 * keeps the console buffer and serves the control socket. */
#ifndef VIREO_TOOLSTACK_VM_PROCESS_H
#define VIREO_TOOLSTACK_VM_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "toolstack/vm_config.h"

struct vm_spawned {
    pid_t pid;
    unsigned domid;        /* xl's ID */
};

/* Starts the VM cfg describes in a process of its own and returns once
 * its vCPUs are about to run (paused: parked).  The process claims NAME
 * in the run directory, leaves this session and terminal, and once the VM
 * runs logs to LOGDIR/NAME.log.  0 with *out filled; -1 when the VM did
 * not start, with why in err, or err empty when the VM process already
 * printed why on this process's stderr (a missing kernel, a disk in use):
 * nothing is then left running or in the run directory. */
int vm_process_spawn(const struct vm_config *cfg, bool paused, struct vm_spawned *out, char *err, size_t errlen);

#endif

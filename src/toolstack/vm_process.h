/* The process behind one VM started by `vireo create`: it outlives the
 * command, runs the VM (and restarts it in place per on_reboot etc.),
 * keeps the console buffer and serves the control socket. */
#ifndef VIREO_TOOLSTACK_VM_PROCESS_H
#define VIREO_TOOLSTACK_VM_PROCESS_H

#include <stdbool.h>

#include "toolstack/rundir.h"
#include "toolstack/vm_config.h"

struct vm_process_args {
    const struct vm_config *cfg;
    struct rundir_claim claim;
    bool paused;          /* create -p */
    int ready_fd;         /* `create` waits for "ok\n" here; closed once the VM runs */
    const char *log_path; /* stdout and stderr once the VM runs */
};

/* Runs until the VM is gone; returns the process's exit status.  Start-up
 * errors go to the inherited stderr (the `create` command's). */
int vm_process_main(const struct vm_process_args *a);

#endif

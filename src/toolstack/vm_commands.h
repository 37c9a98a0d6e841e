/* The VM process's answers to the control commands (ctl_proto.h): the
 * handlers ctl_cmds[] points to.  Each takes the VM process (struct vmp)
 * as its opaque and runs on its main thread. */
#ifndef VIREO_TOOLSTACK_VM_COMMANDS_H
#define VIREO_TOOLSTACK_VM_COMMANDS_H

#include "toolstack/ctl_proto.h"
#include "toolstack/vm_config.h"

struct vmp;

ctl_handler vmp_cmd_info, vmp_cmd_shutdown, vmp_cmd_reboot, vmp_cmd_destroy, vmp_cmd_pause, vmp_cmd_unpause,
    vmp_cmd_vcpu_list, vmp_cmd_vcpu_pin, vmp_cmd_block_list, vmp_cmd_network_list, vmp_cmd_console,
    vmp_cmd_config, vmp_cmd_block_stats, vmp_cmd_net_stats, vmp_cmd_stats;
/* vm_freeze.c */
ctl_handler vmp_cmd_freeze, vmp_cmd_thaw;

/* The answer to "wait" when the guest stopped (then: what the VM does
 * next); ctl_server_notify_stopped adds "ok" and "event". */
struct json_object *vmp_stop_event(const struct vmp *p, int status, enum vm_action then);

/* 0 when the guest runs (commands that need it may run), else -1 with
 * why in err ("the VM is not running (shutdown)"). */
int vmp_running_or_err(void *vmp, char *err, size_t errlen);

#endif

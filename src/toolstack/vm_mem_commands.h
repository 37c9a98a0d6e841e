/* The VM process's side of mem-set and mem-max (ctl_proto.h) and the
 * balloon's figures its info and stats answers carry. */
#ifndef VIREO_TOOLSTACK_VM_MEM_COMMANDS_H
#define VIREO_TOOLSTACK_VM_MEM_COMMANDS_H

#include <json-c/json.h>

#include "toolstack/ctl_proto.h"

struct vmp;

ctl_handler vmp_cmd_mem_set, vmp_cmd_mem_max;

/* Asks the VM's balloon (if any) for the current target: at each start
 * and after mem-set. */
void vmp_mem_apply(struct vmp *p);
/* {target_mib, max_mib, ram_mib, actual_mib, ..., progress, guest: {...}},
 * or NULL when the VM has no balloon. */
struct json_object *vmp_balloon_json(struct vmp *p);

#endif

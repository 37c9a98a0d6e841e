/* A VM configuration as JSON: `vireo create -n` prints it and `list -l`
 * shows it under "config". */
#ifndef VIREO_TOOLSTACK_VM_CONFIG_JSON_H
#define VIREO_TOOLSTACK_VM_CONFIG_JSON_H

#include <json-c/json.h>

#include "toolstack/vm_config.h"

/* CPU sets are written as lists ("0-3,6"), "all" when unpinned. */
struct json_object *vm_config_json(const struct vm_config *c);

#endif

#include "cli/cmd_toolstack.h"

#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/vm_memory.h"
#include "util/log.h"

/* mem-set and mem-max NAME SIZE.  mem-set returns once the guest is
 * asked; whether it follows shows in `vireo list -l` (balloon.progress; the
 * Mem column of list: balloon.actual_mib). */
int cmd_mem(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 2, &status))
        return status;
    char err[512];
    uint64_t mib;
    if (vm_memory_parse_mib(argv[2], &mib, err, sizeof(err)) < 0)
        return cli_usage_error(self->name, "SIZE: %s", err);
    bool set = self->ctl == CTL_MEM_SET;
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, set ? "target_mib" : "max_mib", json_object_new_uint64(mib));
    char buf[72];
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), self->ctl, args, err, sizeof(err));
    json_object_put(args);
    if (!r) {
        vlog_err("%s: %s", self->name, err);
        return 1;
    }
    json_object_put(r);
    return 0;
}

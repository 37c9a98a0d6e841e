#include "cli/cmd_toolstack.h"

#include <stdio.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

/* pause and unpause. */
int cmd_pause(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 1, &status))
        return status;
    char err[512];
    char buf[72];
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), self->ctl, NULL, err, sizeof(err));
    if (!r) {
        vlog_err("%s: %s", self->name, err);
        return 1;
    }
    json_object_put(r);
    return 0;
}

#include "cli/cmd_toolstack.h"

#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

static const char usage_fmt[] =
    "usage: vireo %s NAME\n"
    "%s";

int cmd_pause(int argc, char *const argv[])
{
    const char *cmd = argv[0];
    const char *what = !strcmp(cmd, "pause")
                           ? "Stops the VM's vCPUs; its memory, devices and console stay (vireo unpause).\n"
                           : "Lets a paused VM's vCPUs run again.\n";
    char usage[256];
    int status;
    snprintf(usage, sizeof(usage), usage_fmt, cmd, what);
    if (cli_operands_only(argc, argv, 1, usage, &status))
        return status;
    char err[512];
    char buf[72];
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), cmd, NULL, err, sizeof(err));
    if (!r) {
        vlog_err("%s: %s", cmd, err);
        return 1;
    }
    json_object_put(r);
    return 0;
}

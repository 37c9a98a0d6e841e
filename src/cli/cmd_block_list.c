#include "cli/cmd_toolstack.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

/* xl's block-list columns are Xen's (backend paths, event channels); these
 * are what a virtio disk has instead. */
static const char usage_fmt[] = "usage: vireo %s NAME\n%s";

int cmd_block_list(int argc, char *const argv[])
{
    bool net = !strcmp(argv[0], "network-list");
    const char *what = net ? "The VM's network interfaces (vif=).\n"
                           : "The VM's disks: xl's vdev, the name the guest sees (in vdev order), access, format, "
                             "image.\n";
    char usage[256];
    int status;
    snprintf(usage, sizeof(usage), usage_fmt, argv[0], what);
    if (cli_operands_only(argc, argv, 1, usage, &status))
        return status;
    char err[512];
    char buf[72];
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), argv[0], NULL, err, sizeof(err)), *arr;
    if (!r || !json_object_object_get_ex(r, net ? "vifs" : "disks", &arr)) {
        vlog_err("%s: %s", argv[0], r ? "bad answer from the VM process" : err);
        json_object_put(r);
        return 1;
    }
    if (net) {
        printf("Idx Bridge          Mac Addr.         Vifname\n");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *v = json_object_array_get_idx(arr, i);
            printf("%-3zu %-15s %-17s %s\n", i, ctl_str(v, "bridge", "-"), ctl_str(v, "mac", "-"), ctl_str(v, "vifname", "-"));
        }
    } else {
        printf("Vdev   Guest  Access Format Target\n");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *d = json_object_array_get_idx(arr, i);
            printf("%-6s %-6s %-6s %-6s %s\n", ctl_str(d, "vdev", "-"), ctl_str(d, "guest_dev", "-"), ctl_str(d, "access", "-"),
                   ctl_str(d, "format", "-"), ctl_str(d, "target", "-"));
        }
    }
    json_object_put(r);
    return 0;
}

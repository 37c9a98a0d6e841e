#include "cli/cmd_toolstack.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

/* block-list and network-list, with -l block-stats and net-stats. */
int cmd_block_list(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool net = self->ctl == CTL_NETWORK_LIST;
    int status;
    /* -l: the long form, as list -l: JSON, here with the accounting;
     * --json: the table's columns. */
    static const char *const flags[] = {"-l", "--json", NULL};
    unsigned given = cli_leading_flags(&argc, &argv, flags);
    bool stats = given & 1, json = given & 2;
    if (stats && json)
        return cli_usage_error(self->name, "-l and --json exclude each other");
    if (cli_operands_only(self, &argc, &argv, 1, &status))
        return status;
    char err[512];
    char buf[72];
    enum ctl_cmd cmd = stats ? (net ? CTL_NET_STATS : CTL_BLOCK_STATS) : self->ctl;
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), cmd, NULL, err, sizeof(err));
    if (!r) {
        vlog_err("%s: %s", self->name, err);
        return 1;
    }
    if (stats) {
        json_object_object_del(r, "ok");
        cli_print_json(r);
        return 0;
    }
    struct json_object *arr = json_object_object_get(r, net ? "vifs" : "disks");   /* checked by ctl_call */
    if (json) {
        static const char *const disk_keys[] = {"vdev", "guest_dev", "access", "format", "target"};
        static const char *const vif_keys[] = {"bridge", "mac", "vifname"};
        const char *const *keys = net ? vif_keys : disk_keys;
        size_t nkeys = net ? 3 : 5;
        struct json_object *rows = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *d = json_object_array_get_idx(arr, i), *o = json_object_new_object();
            if (net)
                json_object_object_add(o, "idx", json_object_new_int64((int64_t)i));
            for (size_t k = 0; k < nkeys; k++) {
                const char *v = ctl_str(d, keys[k], NULL);
                json_object_object_add(o, keys[k], v ? json_object_new_string(v) : NULL);
            }
            json_object_array_add(rows, o);
        }
        cli_print_json(rows);
    } else if (net) {
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

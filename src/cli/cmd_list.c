#include "cli/cmd_toolstack.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/vm_config.h"
#include "util/log.h"

static int by_id(const void *a, const void *b)
{
    double x = ctl_num(*(struct json_object *const *)a, "id"), y = ctl_num(*(struct json_object *const *)b, "id");
    return (x > y) - (x < y);
}

/* The Mem column, in the table and in --json alike: xl shows what the
 * guest has, so with a balloon its RAM less what the balloon holds. */
static uint64_t list_mem_mib(struct json_object *r)
{
    struct json_object *b;
    if (json_object_object_get_ex(r, "balloon", &b) && json_object_is_type(b, json_type_object))
        return ctl_count(b, "actual_mib", VM_MAX_MEMORY_MIB);
    return ctl_count(r, "memory_mib", VM_MAX_MEMORY_MIB);
}

int cmd_list(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool json = false, table_json = false;
    int opt;
    static const struct option longopts[] = {{"long", no_argument, NULL, 'l'}, {"json", no_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    static const char optstring[] = "lh";
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': json = true; break;
        case 'j': table_json = true; break;
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    static char names[VM_NAMES_MAX][72];
    int n = vm_names_select(argc - optind, argv + optind, 0, 1, names);
    if (n < 0)
        return 1;
    int rc = 0;
    struct json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++) {
        char err[512];
        struct json_object *r = ctl_call(names[i], self->ctl, NULL, err, sizeof(err));
        if (!r) {
            /* Between readdir and here a VM may have ended: only names
             * the user asked for are errors. */
            if (argc > optind) {
                vlog_err("list: %s", err);
                rc = 1;
            }
            continue;
        }
        json_object_object_del(r, "ok");
        json_object_array_add(arr, r);
    }
    json_object_array_sort(arr, by_id);   /* xl lists by domain ID */
    if (json) {
        cli_print_json(arr);
        return rc;
    }
    if (table_json) {
        /* The table's columns, whatever else the VM process reports (-l). */
        struct json_object *rows = json_object_new_array();
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *r = json_object_array_get_idx(arr, i), *o = json_object_new_object();
            json_object_object_add(o, "name", json_object_new_string(ctl_str(r, "name", "")));
            json_object_object_add(o, "id", json_object_new_int64((int64_t)ctl_num(r, "id")));
            json_object_object_add(o, "memory_mib", json_object_new_int64((int64_t)list_mem_mib(r)));
            json_object_object_add(o, "vcpus", json_object_new_int64((int64_t)ctl_num(r, "vcpus")));
            json_object_object_add(o, "state", json_object_new_string(ctl_str(r, "flags", "")));
            json_object_object_add(o, "cpu_time", json_object_new_double(ctl_num(r, "cpu_time")));
            json_object_array_add(rows, o);
        }
        cli_print_json(rows);
    } else {
        printf("Name                                        ID   Mem VCPUs\tState\tTime(s)\n");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *r = json_object_array_get_idx(arr, i);
            printf("%-40s %5.0f %5llu %5.0f     %s  %8.1f\n", ctl_str(r, "name", ""), ctl_num(r, "id"),
                   (unsigned long long)list_mem_mib(r),
                   ctl_num(r, "vcpus"), ctl_str(r, "flags", ""), ctl_num(r, "cpu_time"));
        }
    }
    json_object_put(arr);
    return rc;
}

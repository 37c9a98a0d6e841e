#include "cli/cmd_toolstack.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

static const char usage[] =
    "usage: vireo list [-l] [NAME...]\n"
    "Lists running VMs with xl's columns: Name, ID, Mem (MiB), VCPUs, State,\n"
    "Time(s) (vCPU time used).  State flags: r running, b blocked (idle),\n"
    "p paused, s shut down, c crashed (the last two: on_*=preserve).\n"
    "  -l  JSON: an array of objects with the configuration and state\n";

static int by_id(const void *a, const void *b)
{
    double x = ctl_num(*(struct json_object *const *)a, "id"), y = ctl_num(*(struct json_object *const *)b, "id");
    return (x > y) - (x < y);
}

int cmd_list(int argc, char *const argv[])
{
    bool json = false;
    int opt;
    static const struct option longopts[] = {{"long", no_argument, NULL, 'l'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+lh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'l': json = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
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
        struct json_object *r = ctl_call(names[i], "info", NULL, err, sizeof(err));
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
        puts(json_object_to_json_string_ext(arr, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        printf("Name                                        ID   Mem VCPUs\tState\tTime(s)\n");
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
            struct json_object *r = json_object_array_get_idx(arr, i);
            printf("%-40s %5.0f %5.0f %5.0f     %s  %8.1f\n", ctl_str(r, "name", ""), ctl_num(r, "id"), ctl_num(r, "memory_mib"),
                   ctl_num(r, "vcpus"), ctl_str(r, "flags", ""), ctl_num(r, "cpu_time"));
        }
    }
    json_object_put(arr);
    return rc;
}

#include "cli/cmd_toolstack.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"

int cmd_vcpu_list(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    static const char *const flags[] = {"--json", NULL};
    bool json = cli_leading_flags(&argc, &argv, flags);
    if (cli_operands_only(self, &argc, &argv, -1, &status))
        return status;
    static char names[VM_NAMES_MAX][72];
    int n = vm_names_select(argc - 1, argv + 1, 0, 1, names), rc = 0;
    if (n < 0)
        return 1;
    struct json_object *rows = json ? json_object_new_array() : NULL;
    if (!json)
        printf("Name                                ID  VCPU   CPU State   Time(s) Affinity\n");
    for (int i = 0; i < n; i++) {
        char err[512];
        struct json_object *info = ctl_call(names[i], CTL_INFO, NULL, err, sizeof(err));
        struct json_object *r = info ? ctl_call(names[i], self->ctl, NULL, err, sizeof(err)) : NULL;
        struct json_object *arr, *id;
        if (!r || !json_object_object_get_ex(r, "vcpus", &arr) || !json_object_object_get_ex(info, "id", &id)) {
            if (argc > 1) {
                vlog_err("vcpu-list: %s", err);
                rc = 1;
            }
            json_object_put(info);
            json_object_put(r);
            continue;
        }
        for (size_t k = 0; k < json_object_array_length(arr); k++) {
            struct json_object *v = json_object_array_get_idx(arr, k), *cpu, *t;
            char cpus[16] = "-", time[32] = "-";
            if (json_object_object_get_ex(v, "cpu", &cpu) && json_object_get_int(cpu) >= 0)
                snprintf(cpus, sizeof(cpus), "%d", json_object_get_int(cpu));
            if (json_object_object_get_ex(v, "cpu_time", &t))
                snprintf(time, sizeof(time), "%.1f", json_object_get_double(t));
            char state[4] = "---";
            const char *s = ctl_str(v, "state", "-");
            if (*s == 'r' || *s == 'b' || *s == 'p')
                state[*s == 'r' ? 0 : *s == 'b' ? 1 : 2] = *s;
            if (json) {
                /* The table's columns; cpu and cpu_time null where it shows '-'. */
                struct json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(names[i]));
                json_object_object_add(o, "id", json_object_new_int(json_object_get_int(id)));
                json_object_object_add(o, "vcpu", json_object_new_int64((int64_t)k));
                json_object_object_add(o, "cpu", *cpus != '-' ? json_object_new_int(json_object_get_int(cpu)) : NULL);
                json_object_object_add(o, "state", json_object_new_string(state));
                json_object_object_add(o, "cpu_time", *time != '-' ? json_object_new_double(json_object_get_double(t))
                                                                   : NULL);
                json_object_object_add(o, "affinity", json_object_new_string(ctl_str(v, "affinity", "")));
                json_object_array_add(rows, o);
                continue;
            }
            printf("%-32s %5d %5zu %5s   %s %9s %s\n", names[i], json_object_get_int(id), k, cpus, state, time,
                   ctl_str(v, "affinity", "-"));
        }
        json_object_put(info);
        json_object_put(r);
    }
    if (json)
        cli_print_json(rows);
    return rc;
}

int cmd_vcpu_pin(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 3, &status))
        return status;
    struct json_object *args = json_object_new_object();
    if (!strcmp(argv[2], "all")) {
        json_object_object_add(args, "vcpu", json_object_new_string("all"));
    } else {
        char *end;
        long v = strtol(argv[2], &end, 10);
        if (*end || end == argv[2] || v < 0) {
            vlog_err("vcpu-pin: VCPU '%s': expected a vCPU number or 'all'", argv[2]);
            json_object_put(args);
            return 2;
        }
        json_object_object_add(args, "vcpu", json_object_new_int64(v));
    }
    json_object_object_add(args, "cpus", json_object_new_string(argv[3]));
    char err[512];
    char buf[72];
    struct json_object *r = ctl_call(vm_name_arg(argv[1], buf), self->ctl, args, err, sizeof(err));
    json_object_put(args);
    if (!r) {
        vlog_err("vcpu-pin: %s", err);
        return 1;
    }
    json_object_put(r);
    return 0;
}

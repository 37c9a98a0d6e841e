#include "cli/cmd_toolstack.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/mem_budget_host.h"
#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/host_check.h"
#include "toolstack/rundir.h"

/* One row: "key : value" as xl info prints it, or a member of --json's
 * object (num: the value is an integer there). */
static void row(struct json_object *j, const char *k, bool num, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void row(struct json_object *j, const char *k, bool num, const char *fmt, ...)
{
    char v[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof(v), fmt, ap);
    va_end(ap);
    if (!j)
        printf("%-23s: %s\n", k, v);
    else
        json_object_object_add(j, k, num ? json_object_new_int64(strtoll(v, NULL, 10)) : json_object_new_string(v));
}

int cmd_info(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    static const char *const flags[] = {"--json", NULL};
    struct json_object *j = cli_leading_flags(&argc, &argv, flags) ? json_object_new_object() : NULL;
    if (cli_operands_only(self, &argc, &argv, 0, &status)) {
        json_object_put(j);
        return status;
    }
    struct utsname u;
    struct sysinfo si;
    uname(&u);
    sysinfo(&si);
    unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
    row(j, "host", false, "%s", u.nodename);
    row(j, "release", false, "%s", u.release);
    row(j, "version", false, "%s", u.version);
    row(j, "machine", false, "%s", u.machine);
    row(j, "nr_cpus", true, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    row(j, "total_memory", true, "%llu", (unsigned long long)si.totalram * unit >> 20);
    row(j, "free_memory", true, "%llu", (unsigned long long)si.freeram * unit >> 20);
    struct hc_result r[HC_MAX_RESULTS];
    struct hc_env env = {.root = "/", .live = true};
    size_t n = host_check_run(&env, r);
    /* xl info has no verdicts; ours keep host-check's, or a FAIL would read
     * like a fact about a healthy host. */
    struct json_object *checks = j ? json_object_new_array() : NULL;
    for (size_t i = 0; i < n; i++) {
        if (!j) {
            row(NULL, r[i].name, false, "%s%s",
                r[i].status == HC_FAIL ? "FAIL: " : r[i].status == HC_WARN ? "warn: " : "", r[i].detail);
            continue;
        }
        struct json_object *c = json_object_new_object();
        json_object_object_add(c, "name", json_object_new_string(r[i].name));
        json_object_object_add(c, "status",
                               json_object_new_string(r[i].status == HC_FAIL ? "fail" : hc_status_name(r[i].status)));
        json_object_object_add(c, "detail", json_object_new_string(r[i].detail));
        json_object_array_add(checks, c);
    }
    if (j)
        json_object_object_add(j, "checks", checks);
    static char names[VM_NAMES_MAX][72];
    int vms = vm_names_select(0, NULL, 1, 1, names);
    unsigned long long mem = 0;
    for (int i = 0; i < vms; i++) {
        char err[256];
        struct json_object *o = ctl_call(names[i], self->ctl, NULL, err, sizeof(err)), *m;
        if (o && json_object_object_get_ex(o, "memory_mib", &m))
            mem += (unsigned long long)json_object_get_int64(m);
        json_object_put(o);
    }
    row(j, "nr_vms", true, "%d", vms < 0 ? 0 : vms);
    row(j, "vm_memory", true, "%llu", mem);
    /* xl info's free_memory is what new domains may get; ours is that
     * budget (toolstack/mem_budget.h), beside the kernel's free figure. */
    struct mem_budget b;
    char err[256];
    if (mem_budget_gather(&b, err, sizeof(err)) < 0) {
        row(j, "vm_budget", false, "%s", err);
    } else {
        row(j, "host_reserved_memory", true, "%llu", (unsigned long long)b.reserve_mib);
        row(j, "vm_maxmem", true, "%llu", (unsigned long long)b.vms_mib);
        /* --json keeps the total (the leading number). */
        row(j, "vmm_overhead", true, "%llu (%llu per VM)", (unsigned long long)mem_budget_overhead_total(&b),
            (unsigned long long)mem_budget_overhead_each(&b));
        row(j, "vm_free_memory", true, "%llu", (unsigned long long)mem_budget_free(&b));
        /* 2 MiB pages set aside for hugepages = 1 VMs, out of the rest */
        row(j, "hugepage_pool", true, "%llu", (unsigned long long)b.hugetlb_mib);
        row(j, "vm_hugepage_memory", true, "%llu", (unsigned long long)b.huge_vms_mib);
    }
    row(j, "run_dir", false, "%s", rundir_base());
    row(j, "vireo_version", false, "%s", VIREO_VERSION);
    if (j)
        cli_print_json(j);
    return 0;
}

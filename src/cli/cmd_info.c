#include "cli/cmd_toolstack.h"

#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/host_check.h"
#include "toolstack/rundir.h"

static const char usage[] =
    "usage: vireo info\n"
    "The host as xl info shows it: kernel, CPUs, memory, what KVM offers\n"
    "(the findings of vireo host-check), and the VMs running.\n";

#define ROW(k, ...) (printf("%-23s: ", k), printf(__VA_ARGS__), putchar('\n'))

int cmd_info(int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(argc, argv, 0, usage, &status))
        return status;
    struct utsname u;
    struct sysinfo si;
    uname(&u);
    sysinfo(&si);
    unsigned long long unit = si.mem_unit ? si.mem_unit : 1;
    ROW("host", "%s", u.nodename);
    ROW("release", "%s", u.release);
    ROW("version", "%s", u.version);
    ROW("machine", "%s", u.machine);
    ROW("nr_cpus", "%ld", sysconf(_SC_NPROCESSORS_ONLN));
    ROW("total_memory", "%llu", (unsigned long long)si.totalram * unit >> 20);
    ROW("free_memory", "%llu", (unsigned long long)si.freeram * unit >> 20);
    struct hc_result r[HC_MAX_RESULTS];
    struct hc_env env = {.root = "/", .live = true};
    size_t n = host_check_run(&env, r);
    for (size_t i = 0; i < n; i++)
        ROW(r[i].name, "%s", r[i].detail);
    static char names[VM_NAMES_MAX][72];
    int vms = vm_names_select(0, NULL, 1, 1, names);
    unsigned long long mem = 0;
    for (int i = 0; i < vms; i++) {
        char err[256];
        struct json_object *o = ctl_call(names[i], "info", NULL, err, sizeof(err)), *m;
        if (o && json_object_object_get_ex(o, "memory_mib", &m))
            mem += (unsigned long long)json_object_get_int64(m);
        json_object_put(o);
    }
    ROW("nr_vms", "%d", vms < 0 ? 0 : vms);
    ROW("vm_memory", "%llu", mem);
    ROW("run_dir", "%s", rundir_base());
    ROW("vireo_version", "%s", VIREO_VERSION);
    return 0;
}

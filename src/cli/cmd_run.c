#include "cli/cmd_run.h"

#include <stdio.h>

#include "cli/run_args.h"
#include "util/log.h"
#include "vm/setup_report.h"
#include "vm/vm.h"

static int report_setup(struct vm *vm)
{
    struct setup_report r;
    if (setup_report_measure(&vm->mem, &r) < 0) {
        vlog_err("measuring set-up cost failed");
        return VM_STATUS_ERROR;
    }
    /* One machine-readable line on stdout for bench/. */
    printf("setup cpu_ms=%.3f rss_kib=%llu guest_rss_kib=%llu vmm_rss_kib=%llu\n", r.cpu_ms,
           (unsigned long long)r.rss_kib, (unsigned long long)r.guest_rss_kib,
           (unsigned long long)(r.rss_kib - r.guest_rss_kib));
    return VM_STATUS_POWEROFF;
}

int cmd_run(int argc, char *const argv[])
{
    static struct run_args a;   /* the disks' paths: too large for the stack */
    char err[256];
    if (run_args_parse(argc, argv, &a, err, sizeof(err)) < 0) {
        vlog_err("run: %s", err);
        fputs(run_usage, stderr);
        return VM_STATUS_USAGE;
    }
    if (a.help) {
        fputs(run_usage, stdout);
        return 0;
    }
    struct vm_params cfg = {
        .ram_size = a.memory, .ncpus = a.vcpus, .kernel_path = a.kernel,
        .initrd_path = a.initrd, .cmdline = a.cmdline,
        .allow_pvm = a.setup_only, .ndisks = a.ndisks,
    };
    for (unsigned i = 0; i < a.ndisks; i++)
        cfg.disks[i] = a.disks[i].o;
    cfg.nnets = a.nnets;
    for (unsigned i = 0; i < a.nnets; i++)
        cfg.nets[i] = a.nets[i];
    static struct vm vm; /* large (device config spaces); keep it off the stack */
    int status = VM_STATUS_ERROR;
    if (vm_create(&vm, &cfg) == 0)
        status = a.setup_only ? report_setup(&vm) : vm_run(&vm);
    vm_destroy(&vm);
    return status;
}

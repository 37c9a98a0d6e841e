#include "cli/cmd_host_check.h"

#include <stdio.h>
#include <string.h>

#include "toolstack/host_check.h"
#include "util/log.h"

static const char usage[] =
    "usage: vireo host-check [--json]\n"
    "Checks this host for running VMs: hardware virtualization, the KVM module\n"
    "(and PVM mode), /dev/kvm, nested virtualization, tun/bridge/vhost-net,\n"
    "io_uring, memory and huge pages, kernel BTF for the microscope; each\n"
    "finding with its fix.  Exits 1 if a check failed.\n";

int cmd_host_check(int argc, char *const argv[])
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else {
            vlog_err("host-check: unknown argument '%s'", argv[i]);
            fputs(usage, stderr);
            return 2;
        }
    }
    struct hc_result r[HC_MAX_RESULTS];
    struct hc_env env = {.root = "/", .live = true};
    size_t n = host_check_run(&env, r);
    host_check_print(stdout, r, n, json);
    return host_check_exit_code(r, n);
}

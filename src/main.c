#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cli/cmd_disk.h"
#include "cli/cmd_host_check.h"
#include "cli/cmd_microscope.h"
#include "cli/cmd_run.h"
#include "cli/cmd_toolstack.h"
#include "util/log.h"

static const char usage[] =
    "usage: vireo COMMAND [ARGS]\n"
    "commands:\n"
    "  run       boot a Linux kernel in a new VM (vireo run --help)\n"
    "  disk      serve a disk image over vhost-user-blk (vireo disk --help)\n"
    "  microscope  per-task disk I/O at millisecond resolution (vireo microscope --help)\n"
    "  host-check  is this host ready to run VMs, and what to fix (vireo host-check --help)\n"
    "xl-style VM management (each takes --help):\n"
    "  create FILE [-c] [-p] [KEY=VALUE...]   start a VM from an xl.cfg file\n"
    "  list [-l]                  running VMs\n"
    "  console NAME               attach to a VM's console (Ctrl-] detaches)\n"
    "  shutdown [-w] NAME | -a    ACPI power button; reboot likewise\n"
    "  destroy NAME               stop a VM at once\n"
    "  pause NAME, unpause NAME   stop and resume the vCPUs\n"
    "  vcpu-list, vcpu-pin        vCPU threads and their host CPUs\n"
    "  block-list, network-list   a VM's disks and interfaces\n"
    "  info                       the host\n"
    "  version   print the version\n";

/* Started with stdin, stdout or stderr closed, the next open() would take
 * that number and console bytes or messages would land in a KVM fd. */
static int ensure_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n != fd)
            return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (ensure_std_fds() < 0)
        return 1;
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    static const struct {
        const char *name;
        int (*fn)(int, char *const[]);
    } xl[] = {
        {"create", cmd_create}, {"list", cmd_list}, {"console", cmd_console}, {"shutdown", cmd_shutdown},
        {"reboot", cmd_shutdown}, {"destroy", cmd_destroy}, {"pause", cmd_pause}, {"unpause", cmd_pause},
        {"vcpu-list", cmd_vcpu_list}, {"vcpu-pin", cmd_vcpu_pin}, {"block-list", cmd_block_list},
        {"network-list", cmd_block_list}, {"info", cmd_info},
    };
    for (size_t i = 0; i < sizeof(xl) / sizeof(xl[0]); i++)
        if (!strcmp(cmd, xl[i].name))
            return xl[i].fn(argc - 1, argv + 1);
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "disk"))
        return cmd_disk(argc - 1, argv + 1);
    if (!strcmp(cmd, "microscope"))
        return cmd_microscope(argc - 1, argv + 1);
    if (!strcmp(cmd, "host-check"))
        return cmd_host_check(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("vireo %s\n", VIREO_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    vlog_err("unknown command '%s'", cmd);
    fputs(usage, stderr);
    return 2;
}

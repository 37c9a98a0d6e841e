#include "cli/run_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/net_args.h"
#include "util/size.h"
#include "x86/layout.h"

const char run_usage[] =
    "usage: vireo run --kernel BZIMAGE [--initrd FILE] [--cmdline STR]\n"
    "                 [--memory SIZE] [--vcpus N] [--disk PATH[,OPTION...]]...\n"
    "                 [--net bridge=BR|tap=NAME[,OPTION...]]...\n"
    "  --kernel BZIMAGE  Linux x86-64 bzImage (boot protocol 2.12+)\n"
    "  --initrd FILE     initial ramdisk\n"
    "  --cmdline STR     kernel command line (default \"" RUN_DEFAULT_CMDLINE "\")\n"
    "  --memory SIZE     guest RAM, e.g. 256M or 2G; a bare number is MiB (default 256M)\n"
    "  --vcpus N         virtual CPUs, 1-64 (default 1)\n"
    "  --disk PATH[,OPTION...]  a virtio-blk disk (raw file or block device); the\n"
    "                    first is /dev/vda in a Linux guest.  Options:\n"
    "                    ro                 read-only\n"
    "                    cache=writeback    through the host page cache (default)\n"
    "                    cache=none         O_DIRECT, bypassing the host page cache\n"
    "                    iothread=N         N dedicated I/O threads (default 1);\n"
    "                                       0 serves the disk on the main loop\n"
    "                    queues=N           virtqueues (default: one per vCPU)\n"
    "                    aio=io_uring|threads  I/O engine (default io_uring, falling\n"
    "                                       back to threads where unavailable)\n"
    "                    poll-us=N          I/O threads busy-poll up to N us before\n"
    "                                       sleeping, adapted to the load (default 32\n"
    "                                       on hosts with 4+ CPUs, else 0; 0 never polls)\n"
    "                    serial=ID          disk serial (up to 20 characters)\n"
    "                    A comma inside PATH is written \",,\".\n"
    "  --net bridge=BR[,OPTION...]  a virtio-net interface on a new TAP device\n"
    "                    enslaved to bridge BR (removed when the VM ends)\n"
    "  --net tap=NAME[,OPTION...]   ... on an existing TAP device.  Options:\n"
    "                    mac=MAC            the guest's MAC (default: a stable locally\n"
    "                                       administered one derived from the TAP name)\n"
    "                    ifname=NAME        the new TAP's name (default vireoN)\n"
    "                    queues=N           queue pairs, multiqueue TAP (default 1)\n"
    "                    iothread=N         I/O threads (default 1; 0: the main loop)\n"
    "  --setup-only      build the VM, report its set-up cost, and exit before the\n"
    "                    first KVM_RUN (benchmarks)\n"
    "The serial console is on stdin/stdout; on a terminal, Ctrl-A x quits.\n"
    "Exit status: 0 guest powered off, 1 error, 2 usage error, 3 guest asked to\n"
    "reboot, 4 guest crashed, 5 quit from the console, 128+N killed by signal N.\n";

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int run_args_parse(int argc, char *const argv[], struct run_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->memory = RUN_DEFAULT_MEMORY;
    a->vcpus = 1;
    a->cmdline = RUN_DEFAULT_CMDLINE;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            a->help = true;
            return 0;
        }
        if (!strcmp(arg, "--setup-only")) {
            a->setup_only = true;
            continue;
        }
        /* Options that take a value, as "--opt VALUE" or "--opt=VALUE". */
        static const char *const with_value[] = {"--kernel", "--initrd", "--cmdline", "--memory", "--vcpus",
                                                 "--disk", "--net"};
        const char *name = NULL, *value = NULL;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t n = strlen(with_value[k]);
            if (!strncmp(arg, with_value[k], n) && (arg[n] == '\0' || arg[n] == '=')) {
                name = with_value[k];
                value = arg[n] == '=' ? arg + n + 1 : NULL;
                break;
            }
        }
        if (!name)
            return fail(err, errlen, "unknown option '%s'", arg);
        if (!value) {
            if (i + 1 >= argc)
                return fail(err, errlen, "%s needs a value", name);
            value = argv[++i];
        }
        if (!strcmp(name, "--kernel")) {
            a->kernel = value;
        } else if (!strcmp(name, "--initrd")) {
            a->initrd = value;
        } else if (!strcmp(name, "--cmdline")) {
            a->cmdline = value;
        } else if (!strcmp(name, "--disk")) {
            if (a->ndisks == RUN_MAX_DISKS)
                return fail(err, errlen, "--disk: at most %d disks", RUN_MAX_DISKS);
            if (disk_arg_parse(value, &a->disks[a->ndisks], err, errlen) < 0)
                return -1;
            a->ndisks++;
        } else if (!strcmp(name, "--net")) {
            if (a->nnets == VM_MAX_NETS)
                return fail(err, errlen, "--net: at most %d interfaces", VM_MAX_NETS);
            if (net_arg_parse(value, &a->nets[a->nnets], err, errlen) < 0)
                return -1;
            a->nnets++;
        } else if (!strcmp(name, "--memory")) {
            uint64_t m;
            if (!parse_size(value, &m))
                return fail(err, errlen, "--memory '%s': expected a size such as 256M or 2G", value);
            if (m < RUN_MIN_MEMORY || m > MAX_RAM)
                return fail(err, errlen, "--memory '%s': must be between 4M and 1T", value);
            if (m % 4096)
                return fail(err, errlen, "--memory '%s': must be a multiple of 4K", value);
            a->memory = m;
        } else {
            uint64_t n;
            if (!parse_uint(value, 1, MAX_VCPUS, &n))
                return fail(err, errlen, "--vcpus '%s': expected a whole number from 1 to %d", value, MAX_VCPUS);
            a->vcpus = (uint32_t)n;
        }
    }
    if (!a->kernel)
        return fail(err, errlen, "--kernel is required");
    if (!a->kernel[0])
        return fail(err, errlen, "--kernel: empty path");
    if (a->initrd && !a->initrd[0])
        return fail(err, errlen, "--initrd: empty path");
    /* QEMU's default too: one queue per vCPU. */
    for (unsigned i = 0; i < a->ndisks; i++)
        if (!a->disks[i].o.queues)
            a->disks[i].o.queues = a->vcpus < VBLK_MAX_QUEUES ? a->vcpus : VBLK_MAX_QUEUES;
    return 0;
}

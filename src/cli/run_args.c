#include "cli/run_args.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli/net_args.h"
#include "confine/privs.h"
#include "util/err.h"
#include "util/suggest.h"
#include "util/size.h"
#include "vm/vm_limits.h"

_Static_assert(VM_MIN_RAM == 4ULL << 20 && VM_MAX_RAM == 1ULL << 40, "--memory's message says 4M and 1T");

const char run_usage[] =
    "usage: vireo run --kernel BZIMAGE|VMLINUX [--initrd FILE] [--cmdline STR]\n"
    "                 [--boot-protocol auto|pvh|linux]\n"
    "                 [--memory SIZE[,hugepages=on]] [--vcpus N] [--disk PATH[,OPTION...]]...\n"
    "                 [--net bridge=BR|tap=NAME[,OPTION...]]... [--balloon]\n"
    "       vireo run --boot disk[=N] --disk PATH[,OPTION...]... [--cmdline STR] ...\n"
    "  --kernel BZIMAGE|VMLINUX  Linux x86-64 bzImage (boot protocol 2.12+), or\n"
    "                    an uncompressed ELF vmlinux with the PVH entry (CONFIG_PVH)\n"
    "  --boot-protocol auto|pvh|linux  how the kernel boots (default auto): pvh\n"
    "                    enters a vmlinux, or a bzImage's payload decompressed on\n"
    "                    the host once and cached, at its PVH entry; linux boots a\n"
    "                    bzImage through its 64-bit entry, the guest decompressing\n"
    "                    itself; auto is pvh for a vmlinux and an xz bzImage with\n"
    "                    the PVH entry, else linux\n"
    "  --initrd FILE     initial ramdisk\n"
    "  --cmdline STR     kernel command line (default \"" RUN_DEFAULT_CMDLINE "\");\n"
    "                    with --boot disk, added to the entry's command line\n"
    "  --boot disk[=N]   boot the kernel, initrd and command line that disk N's\n"
    "                    own boot loader configuration names (grub.cfg, BLS\n"
    "                    entries or Debian's /vmlinuz; ext2/3/4), as pygrub does;\n"
    "                    N counts the --disk options from 0 (default 0)\n"
    "  --memory SIZE[,hugepages=on]  guest RAM, e.g. 256M or 2G; a bare number is\n"
    "                    MiB (default 256M); hugepages=on backs it with the host's\n"
    "                    2 MiB huge pages (reserved in /proc/sys/vm/nr_hugepages)\n"
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
    "                    vhost=on|off       frames moved by the kernel's vhost-net, or by\n"
    "                                       vireo (default: on where /dev/vhost-net opens)\n"
    "  --balloon         a virtio-balloon device: the guest's memory statistics,\n"
    "                    and the pages it frees go back to the host (free-page\n"
    "                    reporting); no target (the toolstack's maxmem sets one)\n"
    "  --setup-only      build the VM, report its set-up cost, and exit before the\n"
    "                    first KVM_RUN (benchmarks)\n"
    "  --user USER       run as USER (a name, or UID:GID) once /dev/kvm, the images\n"
    "                    and the TAPs are open; started as root, the default is\n"
    "                    '" CONFINE_DEFAULT_USER "'; root keeps root (debugging only)\n"
    "  --seccomp on|off  the per-thread system call filters (default on; off is\n"
    "                    for debugging)\n"
    "The serial console is on stdin/stdout; on a terminal, Ctrl-A x quits.\n"
    "Exit status: 0 guest powered off, 1 error, 2 usage error, 3 guest asked to\n"
    "reboot, 4 guest crashed, 5 quit from the console, 128+N killed by signal N.\n";

int run_args_parse(int argc, char *const argv[], struct run_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    bool cmdline_given = false;
    a->memory = RUN_DEFAULT_MEMORY;
    a->vcpus = 1;
    a->cmdline = RUN_DEFAULT_CMDLINE;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            a->help = true;
            return 0;
        }
        /* The end of the options, as everywhere; run takes no operands. */
        if (!strcmp(arg, "--")) {
            if (i + 1 < argc)
                return err_fail(err, errlen, "unexpected argument '%s' (options only; a kernel is given with --kernel)",
                                argv[i + 1]);
            break;
        }
        if (!strcmp(arg, "--setup-only")) {
            a->setup_only = true;
            continue;
        }
        if (!strcmp(arg, "--balloon")) {
            a->balloon = true;
            continue;
        }
        /* Options that take a value, as "--opt VALUE" or "--opt=VALUE". */
        static const char *const with_value[] = {"--kernel", "--initrd", "--cmdline", "--memory", "--vcpus",
                                                 "--disk", "--net", "--boot", "--user", "--seccomp",
                                                 "--boot-protocol"};
        const char *name = NULL, *value = NULL;
        for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t n = strlen(with_value[k]);
            if (!strncmp(arg, with_value[k], n) && (arg[n] == '\0' || arg[n] == '=')) {
                name = with_value[k];
                value = arg[n] == '=' ? arg + n + 1 : NULL;
                break;
            }
        }
        if (!name) {
            /* The options above, and those that take no value. */
            static const char *const flags[] = {"--balloon", "--setup-only", "--help"};
            char word[72];
            snprintf(word, sizeof(word), "%.*s", (int)strcspn(arg, "="), arg);
            size_t best = SIZE_MAX;
            const char *hint = NULL, *h;
            if (arg[0] == '-') {
                hint = suggest_word(word, with_value, sizeof(with_value) / sizeof(with_value[0]), &best);
                if ((h = suggest_word(word, flags, sizeof(flags) / sizeof(flags[0]), &best)))
                    hint = h;
            }
            if (hint)
                return err_fail(err, errlen, "unknown option '%s'; did you mean '%s'?", word, hint);
            if (arg[0] != '-')
                return err_fail(err, errlen, "unexpected argument '%s' (options only; a kernel is given with --kernel)",
                                arg);
            return err_fail(err, errlen, "unknown option '%s'", arg);
        }
        if (!value) {
            if (i + 1 >= argc)
                return err_fail(err, errlen, "%s needs a value", name);
            value = argv[++i];
        }
        if (!strcmp(name, "--kernel")) {
            a->kernel = value;
        } else if (!strcmp(name, "--boot-protocol")) {
            if (!vm_boot_protocol_parse(value, &a->boot_protocol))
                return err_fail(err, errlen, "--boot-protocol '%s': expected " VM_BOOT_PROTOCOL_WORDS, value);
        } else if (!strcmp(name, "--user")) {
            if (!value[0])
                return err_fail(err, errlen, "--user: empty name");
            a->user = value;
        } else if (!strcmp(name, "--seccomp")) {
            if (strcmp(value, "on") && strcmp(value, "off"))
                return err_fail(err, errlen, "--seccomp '%s': expected on or off", value);
            a->seccomp_off = !strcmp(value, "off");
        } else if (!strcmp(name, "--initrd")) {
            a->initrd = value;
        } else if (!strcmp(name, "--cmdline")) {
            a->cmdline = value;
            cmdline_given = true;
        } else if (!strcmp(name, "--boot")) {
            uint64_t n = 0;
            if (strcmp(value, "disk") && (strncmp(value, "disk=", 5) || !parse_uint(value + 5, 0, VM_MAX_DISKS - 1, &n)))
                return err_fail(err, errlen, "--boot '%s': expected disk or disk=N (N from 0 to %d, counting the --disk "
                            "options)", value, VM_MAX_DISKS - 1);
            a->boot_disk = true;
            a->boot_disk_index = (unsigned)n;
        } else if (!strcmp(name, "--disk")) {
            if (a->ndisks == VM_MAX_DISKS)
                return err_fail(err, errlen, "--disk: at most %d disks", VM_MAX_DISKS);
            if (disk_arg_parse(value, &a->disks[a->ndisks], err, errlen) < 0)
                return -1;
            a->ndisks++;
        } else if (!strcmp(name, "--net")) {
            if (a->nnets == VM_MAX_NETS)
                return err_fail(err, errlen, "--net: at most %d interfaces", VM_MAX_NETS);
            if (net_arg_parse(value, &a->nets[a->nnets], err, errlen) < 0)
                return -1;
            a->nnets++;
        } else if (!strcmp(name, "--memory")) {
            uint64_t m;
            /* SIZE[,hugepages=on|off] */
            char size[64];
            const char *opt = strchr(value, ',');
            snprintf(size, sizeof(size), "%.*s", opt ? (int)(opt - value) : (int)strlen(value), value);
            a->hugepages = false;
            if (opt) {
                if (!strcmp(opt + 1, "hugepages=on"))
                    a->hugepages = true;
                else if (strcmp(opt + 1, "hugepages=off"))
                    return err_fail(err, errlen, "--memory '%s': unknown option '%s'; expected hugepages=on or "
                                    "hugepages=off", value, opt + 1);
            }
            if (!parse_size(size, &m))
                return err_fail(err, errlen, "--memory '%s': expected a size such as 256M or 2G", value);
            if (m < VM_MIN_RAM || m > VM_MAX_RAM)
                return err_fail(err, errlen, "--memory '%s': must be between 4M and 1T", value);
            if (m % 4096)
                return err_fail(err, errlen, "--memory '%s': must be a multiple of 4K", value);
            if (a->hugepages && m % (2ULL << 20))
                return err_fail(err, errlen, "--memory '%s': with hugepages=on, must be a multiple of 2M", value);
            a->memory = m;
        } else {
            uint64_t n;
            if (!parse_uint(value, 1, VM_MAX_VCPUS, &n))
                return err_fail(err, errlen, "--vcpus '%s': expected a whole number from 1 to %d", value, VM_MAX_VCPUS);
            a->vcpus = (uint32_t)n;
        }
    }
    if (a->boot_disk) {
        if (a->kernel || a->initrd)
            return err_fail(err, errlen, "--boot disk reads the kernel and initrd from the disk; expected no %s",
                        a->kernel ? "--kernel" : "--initrd");
        if (a->boot_disk_index >= a->ndisks)
            return err_fail(err, errlen, "--boot disk=%u: there %s only %u --disk option%s (counted from 0)",
                        a->boot_disk_index, a->ndisks == 1 ? "is" : "are", a->ndisks, a->ndisks == 1 ? "" : "s");
        if (a->boot_protocol != VM_BOOT_AUTO)
            return err_fail(err, errlen, "--boot-protocol applies to --kernel; a kernel from --boot disk boots "
                            "as a bzImage");
        if (!cmdline_given)
            a->cmdline = NULL;   /* the entry's own command line, as is */
    } else if (!a->kernel) {
        return err_fail(err, errlen, "--kernel (or --boot disk) is required");
    }
    if (a->kernel && !a->kernel[0])
        return err_fail(err, errlen, "--kernel: empty path");
    if (a->initrd && !a->initrd[0])
        return err_fail(err, errlen, "--initrd: empty path");
    /* QEMU's default too: one queue per vCPU. */
    for (unsigned i = 0; i < a->ndisks; i++)
        if (!a->disks[i].o.queues)
            a->disks[i].o.queues = a->vcpus < VBLK_MAX_QUEUES ? a->vcpus : VBLK_MAX_QUEUES;
    return 0;
}

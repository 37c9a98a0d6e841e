#include "cli/run_args.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/size.h"
#include "x86/layout.h"

const char run_usage[] =
    "usage: vireo run --kernel BZIMAGE [--initrd FILE] [--cmdline STR]\n"
    "                 [--memory SIZE] [--vcpus N]\n"
    "  --kernel BZIMAGE  Linux x86-64 bzImage (boot protocol 2.12+)\n"
    "  --initrd FILE     initial ramdisk\n"
    "  --cmdline STR     kernel command line (default \"" RUN_DEFAULT_CMDLINE "\")\n"
    "  --memory SIZE     guest RAM, e.g. 256M or 2G; a bare number is MiB (default 256M)\n"
    "  --vcpus N         virtual CPUs, 1-64 (default 1)\n"
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
        static const char *const with_value[] = {"--kernel", "--initrd", "--cmdline", "--memory", "--vcpus"};
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
    return 0;
}

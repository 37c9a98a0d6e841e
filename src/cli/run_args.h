/* `vireo run` command line. */
#ifndef VIREO_CLI_RUN_ARGS_H
#define VIREO_CLI_RUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/disk_args.h"
#include "vm/boot_protocol.h"
#include "vm/vm_limits.h"
#include "vm/vm_nets.h"

#define RUN_DEFAULT_MEMORY  (256ULL << 20)
#define RUN_DEFAULT_CMDLINE "console=ttyS0"

struct run_args {
    const char *kernel;
    const char *initrd;
    const char *cmdline;       /* with --boot disk: added to the entry's; NULL: none */
    bool boot_disk;            /* --boot disk[=N]: the kernel comes from disk N's boot loader config */
    unsigned boot_disk_index;
    enum vm_boot_protocol boot_protocol;   /* --boot-protocol */
    uint64_t memory;
    bool hugepages;            /* --memory SIZE,hugepages=on */
    uint32_t vcpus;
    unsigned ndisks;
    struct disk_arg disks[VM_MAX_DISKS];
    unsigned nnets;
    struct vm_net_opts nets[VM_MAX_NETS];
    bool balloon;              /* --balloon */
    bool setup_only;
    bool help;
    const char *user;          /* --user: whom the VM runs as once set up; NULL: the default */
    bool seccomp_off;          /* --seccomp=off */
};

extern const char run_usage[];

/* argv[0] is "run".  Returns -1 with a one-line reason in err on a usage
 * error; nothing is opened or checked on disk here. */
int run_args_parse(int argc, char *const argv[], struct run_args *a, char *err, size_t errlen);

#endif

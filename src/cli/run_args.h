/* `vireo run` command line. */
#ifndef VIREO_CLI_RUN_ARGS_H
#define VIREO_CLI_RUN_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/disk_args.h"
#include "vm/vm_nets.h"

#define RUN_DEFAULT_MEMORY  (256ULL << 20)
#define RUN_DEFAULT_CMDLINE "console=ttyS0"
#define RUN_MIN_MEMORY      (4ULL << 20)
#define RUN_MAX_DISKS       8

struct run_args {
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    uint64_t memory;
    uint32_t vcpus;
    unsigned ndisks;
    struct disk_arg disks[RUN_MAX_DISKS];
    unsigned nnets;
    struct vm_net_opts nets[VM_MAX_NETS];
    bool setup_only;
    bool help;
};

extern const char run_usage[];

/* argv[0] is "run".  Returns -1 with a one-line reason in err on a usage
 * error; nothing is opened or checked on disk here. */
int run_args_parse(int argc, char *const argv[], struct run_args *a, char *err, size_t errlen);

#endif

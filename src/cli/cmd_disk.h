/* `vireo disk serve`: a disk image exported over vhost-user-blk. */
#ifndef VIREO_CLI_CMD_DISK_H
#define VIREO_CLI_CMD_DISK_H

#include <stddef.h>

#include "cli/disk_args.h"

struct disk_serve_args {
    const char *socket;
    struct disk_arg disk;      /* image path and the --disk options */
    bool help;
    bool seccomp_off;          /* --seccomp off */
};

extern const char disk_usage[];

/* argv[0] is "serve". -1 with the reason in err. */
int disk_serve_args_parse(int argc, char *const argv[], struct disk_serve_args *a, char *err, size_t errlen);

/* argv[0] is "disk". */
int cmd_disk(int argc, char *const argv[]);

#endif

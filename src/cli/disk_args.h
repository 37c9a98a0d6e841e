/* `--disk PATH[,ro][,cache=none|writeback][,iothread=N][,queues=N]
 *        [,aio=io_uring|threads][,poll-us=N][,serial=ID]`: QEMU's -drive spirit, with
 * ",," for a comma inside PATH. */
#ifndef VIREO_CLI_DISK_ARGS_H
#define VIREO_CLI_DISK_ARGS_H

#include <limits.h>
#include <stddef.h>

#include "virtio/blk.h"


struct disk_arg {
    struct vblk_opts o;        /* o.path points at path; o.queues 0 = default */
    char path[PATH_MAX];
};

/* Parses one --disk value; -1 with the reason in err. */
int disk_arg_parse(const char *spec, struct disk_arg *d, char *err, size_t errlen);

#endif

/* `--disk PATH[,format=raw|qcow2][,backing=on|off][,ro][,cache=none|writeback]
 *        [,iothread=N][,queues=N][,aio=io_uring|threads][,poll-us=N][,serial=ID]`: QEMU's
 * -drive spirit, with ",," for a comma inside PATH. */
#ifndef VIREO_CLI_DISK_ARGS_H
#define VIREO_CLI_DISK_ARGS_H

#include <limits.h>
#include <stddef.h>

#include "vm/disk.h"


struct disk_arg {
    struct disk_opts o;        /* o.path points at path; o.queues 0 = default */
    char path[PATH_MAX];
};

/* Sets one option of --disk's list (key "ro" without a value) in o; -1
 * with "KEY=VALUE: expected ..." (or "unknown option ...") in err.  Also
 * what `vireo disk serve`'s --long options go through. */
int disk_opt_set(struct disk_opts *o, const char *key, const char *val, char *err, size_t errlen);

/* Parses one --disk value; -1 with the reason in err. */
int disk_arg_parse(const char *spec, struct disk_arg *d, char *err, size_t errlen);

#endif

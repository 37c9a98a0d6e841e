/* `--net bridge=BR[,mac=MAC][,ifname=NAME][,queues=N][,iothread=N]` or
 * `--net tap=NAME[,mac=MAC][,queues=N][,iothread=N]`. */
#ifndef VIREO_CLI_NET_ARGS_H
#define VIREO_CLI_NET_ARGS_H

#include <stddef.h>

#include "vm/vm_nets.h"

/* Parses one --net value; -1 with the reason in err. */
int net_arg_parse(const char *spec, struct vm_net_opts *n, char *err, size_t errlen);

#endif

#ifndef VIREO_CLI_CMD_TOP_H
#define VIREO_CLI_CMD_TOP_H

#include "cli/commands.h"

/* `vireo top`: every VM's CPU, memory, disk and network, live. */
cli_fn cmd_top;
/* `vireo metrics`: every VM's counters and histograms for Prometheus. */
cli_fn cmd_metrics;

#endif

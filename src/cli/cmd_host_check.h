#ifndef VIREO_CLI_CMD_HOST_CHECK_H
#define VIREO_CLI_CMD_HOST_CHECK_H

#include "cli/commands.h"

cli_fn cmd_host_check;

#endif

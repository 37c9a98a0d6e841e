/* The xl-style commands (toolstack/ has what they share).  Each is a row
 * of cli_cmds (commands.c), which holds its help; commands serving two
 * rows (shutdown and reboot, pause and unpause, block-list and
 * network-list) act on self->ctl. */
#ifndef VIREO_CLI_CMD_TOOLSTACK_H
#define VIREO_CLI_CMD_TOOLSTACK_H

#include "cli/commands.h"

#define SHUTDOWN_DEFAULT_WAIT_S 300   /* libvirt-guests' SHUTDOWN_TIMEOUT */

cli_fn cmd_create, cmd_list, cmd_console, cmd_shutdown, cmd_destroy, cmd_pause, cmd_vcpu_list, cmd_vcpu_pin,
    cmd_block_list, cmd_info, cmd_clone, cmd_backup, cmd_mem;

/* Attaches the terminal to VM NAME's console until Ctrl-] or the VM's
 * end; returns an exit status. */
int console_attach(const char *name);

#endif

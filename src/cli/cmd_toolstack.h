/* The xl-style commands (toolstack/ has what they share). */
#ifndef VIREO_CLI_CMD_TOOLSTACK_H
#define VIREO_CLI_CMD_TOOLSTACK_H

int cmd_create(int argc, char *const argv[]);
int cmd_list(int argc, char *const argv[]);
int cmd_console(int argc, char *const argv[]);
int cmd_shutdown(int argc, char *const argv[]);   /* also reboot */
int cmd_destroy(int argc, char *const argv[]);
int cmd_pause(int argc, char *const argv[]);      /* also unpause */
int cmd_vcpu_list(int argc, char *const argv[]);
int cmd_vcpu_pin(int argc, char *const argv[]);
int cmd_block_list(int argc, char *const argv[]); /* also network-list */
int cmd_info(int argc, char *const argv[]);

/* Attaches the terminal to VM NAME's console until Ctrl-] or the VM's
 * end; returns an exit status. */
int console_attach(const char *name);

#endif

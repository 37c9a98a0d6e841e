#ifndef VIREO_CLI_CMD_RUN_H
#define VIREO_CLI_CMD_RUN_H

/* `vireo run`: returns the process exit status. */
int cmd_run(int argc, char *const argv[]);

#endif

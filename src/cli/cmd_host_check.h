#ifndef VIREO_CLI_CMD_HOST_CHECK_H
#define VIREO_CLI_CMD_HOST_CHECK_H

int cmd_host_check(int argc, char *const argv[]);

#endif

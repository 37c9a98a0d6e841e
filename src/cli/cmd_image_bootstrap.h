/* `vireo image bootstrap`: a Debian guest and its xl.cfg in one command. */
#ifndef VIREO_CLI_CMD_IMAGE_BOOTSTRAP_H
#define VIREO_CLI_CMD_IMAGE_BOOTSTRAP_H

/* argv[0] is "bootstrap". */
int cmd_image_bootstrap(int argc, char *const argv[]);

#endif

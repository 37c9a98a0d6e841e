#ifndef VIREO_CLI_CMD_MICROSCOPE_H
#define VIREO_CLI_CMD_MICROSCOPE_H

int cmd_microscope(int argc, char *const argv[]);

#endif

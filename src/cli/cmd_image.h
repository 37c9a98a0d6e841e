/* `vireo image`: create, describe and grow disk images. */
#ifndef VIREO_CLI_CMD_IMAGE_H
#define VIREO_CLI_CMD_IMAGE_H

/* argv[0] is "image". */
int cmd_image(int argc, char *const argv[]);

/* The subcommands in files of their own; argv[0] is the subcommand,
 * usage is `vireo image`'s. */
int cmd_image_clone(int argc, char *const argv[], const char *usage);
int cmd_image_import(int argc, char *const argv[], const char *usage);

#endif

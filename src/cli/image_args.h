/* The arguments of `vireo image SUB`, as all its subcommands take them:
 * options anywhere until "--", -h/--help, operands in order. */
#ifndef VIREO_CLI_IMAGE_ARGS_H
#define VIREO_CLI_IMAGE_ARGS_H

#include <stdbool.h>

/* An option that takes a value (value) or a flag (flag). */
struct image_opt {
    const char *name;
    const char **value;
    bool *flag;
};

/* Walks argv[1..]: opts ends with a NULL name; operands fill *operands[0]
 * .. *operands[nops - 1] in order.  Returns -1 when everything was taken
 * (go on), else the status to exit with: 0 after printing usage for
 * -h/--help, 2 after a usage error ("SUB: unknown option '-x'", "SUB: -f
 * needs a value", "SUB: unexpected argument 'z'"). */
int image_args(int argc, char *const argv[], const char *sub, const struct image_opt *opts,
               const char **const operands[], unsigned nops, const char *usage);

#endif

#include "cli/image_args.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct image_opt *find(const struct image_opt *opts, const char *a)
{
    for (; opts->name; opts++)
        if (!strcmp(opts->name, a))
            return opts;
    return NULL;
}

int image_args(int argc, char *const argv[], const char *sub, const struct image_opt *opts,
               const char **const operands[], unsigned nops, const char *usage)
{
    bool ended = false;     /* "--" ends the options */
    unsigned got = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!ended && !strcmp(a, "--")) {
            ended = true;
            continue;
        }
        if (!ended && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            fputs(usage, stdout);
            return 0;
        }
        const struct image_opt *o = ended ? NULL : find(opts, a);
        if (o && o->flag) {
            *o->flag = true;
        } else if (o) {
            if (i + 1 >= argc)
                return cli_usage_error("image", "%s: %s needs a value", sub, a);
            *o->value = argv[++i];
        } else if (!ended && a[0] == '-' && a[1]) {
            return cli_usage_error("image", "%s: unknown option '%s'", sub, a);
        } else if (got < nops) {
            *operands[got++] = a;
        } else {
            return cli_usage_error("image", "%s: unexpected argument '%s'", sub, a);
        }
    }
    return -1;
}

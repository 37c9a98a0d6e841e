#include <stdio.h>
#include <string.h>

#include "cli/cmd_run.h"
#include "util/log.h"

static const char usage[] =
    "usage: vireo COMMAND [ARGS]\n"
    "commands:\n"
    "  run       boot a Linux kernel in a new VM (vireo run --help)\n"
    "  version   print the version\n";

int main(int argc, char *argv[])
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("vireo %s\n", VIREO_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    vlog_err("unknown command '%s'", cmd);
    fputs(usage, stderr);
    return 2;
}

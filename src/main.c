#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "util/log.h"
#include "util/suggest.h"

/* Started with stdin, stdout or stderr closed, the next open() would take
 * that number and console bytes or messages would land in a KVM fd. */
static int ensure_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0)
            continue;
        int n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (n != fd)
            return -1;
    }
    return 0;
}

int main(int argc, char *argv[])
{
    if (ensure_std_fds() < 0)
        return 1;
    if (argc < 2) {
        cli_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version"))
        name = "version";
    else if (!strcmp(name, "--help") || !strcmp(name, "-h"))
        name = "help";
    const struct cli_cmd *c = cli_cmd_find(name);
    if (!c) {
        const char *names[64];
        size_t n = 0;
        for (const struct cli_cmd *k = cli_cmds; k->name && n < 64; k++)
            names[n++] = k->name;
        const char *hint = suggest_word(name, names, n, NULL);
        if (hint)
            vlog_err("unknown command '%s'; did you mean '%s'?", name, hint);
        else
            vlog_err("unknown command '%s'", name);
        fputs("Try 'vireo help' for the list of commands.\n", stderr);
        return 2;
    }
    return c->fn(c, argc - 1, argv + 1);
}

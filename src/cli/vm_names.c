#include "cli/vm_names.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toolstack/rundir.h"
#include "util/log.h"

const char *vm_name_arg(const char *arg, char buf[72])
{
    char path[4096];
    char *end;
    unsigned long id = strtoul(arg, &end, 10);
    /* A VM may be called "3": its name wins over an ID. */
    if (*end || end == arg || id == 0 || id > UINT32_MAX ||
        (rundir_path(path, sizeof(path), arg, NULL) == 0 && access(path, F_OK) == 0))
        return arg;
    return rundir_find_id((unsigned)id, buf) == 0 ? buf : arg;
}

bool cli_operands_only(const struct cli_cmd *self, int *argcp, char *const **argvp, int nargs, int *status)
{
    int argc = *argcp;
    char *const *argv = *argvp;
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        cli_usage(stdout, self);
        *status = 0;
        return true;
    }
    bool options = true;
    if (argc > 1 && !strcmp(argv[1], "--")) {
        /* argv[0] becomes the "--": the operands stay at argv[1...]. */
        *argcp = --argc;
        *argvp = ++argv;
        options = false;
    }
    for (int i = 1; options && i < argc; i++) {
        if (argv[i][0] != '-')
            continue;
        *status = cli_usage_error(self->name, "unknown option '%s' (this command takes %s)", argv[i],
                                  nargs == 0 ? "no arguments" : "VM names only");
        return true;
    }
    if (nargs >= 0 && argc - 1 != nargs) {
        /* The operands of the synopsis: its option groups ("[-l|--json] ") left out. */
        const char *want = self->synopsis + strlen(self->name);
        want += *want == ' ';
        while (!strncmp(want, "[-", 2) && strchr(want, ']'))
            want = strchr(want, ']') + 1 + (strchr(want, ']')[1] == ' ');
        if (nargs == 0)
            *status = cli_usage_error(self->name, "expected no arguments, got '%s'", argv[1]);
        else if (argc - 1 < nargs)
            *status = cli_usage_error(self->name, "expected %d argument%s (%s), got %d", nargs, nargs == 1 ? "" : "s",
                                      want, argc - 1);
        else
            *status = cli_usage_error(self->name, "unexpected argument '%s' (expected %s)", argv[nargs + 1], want);
        return true;
    }
    return false;
}

int vm_names_select(int argc, char *const argv[], int all, int all_if_none, char (*names)[72])
{
    if (all || (argc == 0 && all_if_none)) {
        char err[512];
        int n = rundir_list(names, VM_NAMES_MAX, err, sizeof(err));
        if (n < 0)
            vlog_err("%s", err);
        return n;
    }
    if (argc > VM_NAMES_MAX) {
        vlog_err("at most %d VM names at once", VM_NAMES_MAX);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if (strlen(argv[i]) >= sizeof(names[0])) {
            vlog_err("VM name '%.20s...' is too long", argv[i]);
            return -1;
        }
        char buf[72];
        snprintf(names[i], sizeof(names[i]), "%s", vm_name_arg(argv[i], buf));
    }
    return argc;
}

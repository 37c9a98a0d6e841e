#include "cli/cmd_host_check.h"

#include <stdio.h>
#include <string.h>

#include "toolstack/host_check.h"
#include "util/log.h"

int cmd_host_check(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--") && i + 1 == argc) {
            /* The end of the options; host-check takes no operands. */
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cli_usage(stdout, self);
            return 0;
        } else {
            static const char *const opts[] = {"--json", "--help", NULL};
            const char *hint = cli_suggest_option(argv[i], opts);
            if (hint)
                return cli_usage_error(self->name, "unknown argument '%s'; did you mean '%s'?", argv[i], hint);
            return cli_usage_error(self->name, "unknown argument '%s'", argv[i]);
        }
    }
    struct hc_result r[HC_MAX_RESULTS];
    struct hc_env env = {.root = "/", .live = true};
    size_t n = host_check_run(&env, r);
    host_check_print(stdout, r, n, json);
    return host_check_exit_code(r, n);
}

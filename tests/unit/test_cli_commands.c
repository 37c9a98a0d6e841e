/* The command table (cli/commands.c): every row is found by its name,
 * prints a usage that starts with it, and the xl-style rows ask the VM
 * process for the protocol command of their own name. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/commands.h"

static void rows(void **state)
{
    (void)state;
    int n = 0;
    for (const struct cli_cmd *c = cli_cmds; c->name; c++, n++) {
        assert_ptr_equal(cli_cmd_find(c->name), c);
        assert_non_null(c->fn);
        assert_non_null(c->summary);
        /* Each form of the synopsis starts with the command. */
        for (const char *s = c->synopsis; s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL)
            if (strncmp(s, c->name, strlen(c->name)) || (s[strlen(c->name)] != ' ' && s[strlen(c->name)] != '\n' &&
                                                         s[strlen(c->name)] != 0))
                fail_msg("%s: synopsis form '%.20s' does not start with the command", c->name, s);
        /* An xl-style command sends its own name, or info or stats (the
         * commands that read every VM: list, info, top, metrics). */
        if (c->group == CLI_XL && c->ctl != CTL_INFO && c->ctl != CTL_STATS && strcmp(ctl_cmds[c->ctl].name, c->name))
            fail_msg("%s sends '%s'", c->name, ctl_cmds[c->ctl].name);
    }
    assert_true(n >= 19);
    assert_null(cli_cmd_find("crate"));
    assert_null(cli_cmd_find(""));
}

static void usage_and_help(void **state)
{
    (void)state;
    char *buf;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    cli_usage(f, cli_cmd_find("shutdown"));
    fclose(f);
    assert_non_null(strstr(buf, "usage: vireo shutdown [-w] [-t SECONDS] NAME...\n"
                                "       vireo shutdown -a [-w] [-t SECONDS]\nPresses the ACPI power button"));
    assert_non_null(strstr(buf, "(default 300)"));
    free(buf);
    f = open_memstream(&buf, &len);
    cli_help(f);
    fclose(f);
    /* The main help lists every command, from the same rows. */
    for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
        char line[128];
        snprintf(line, sizeof(line), "\n  %s", c->name);
        if (!strstr(buf, line))
            fail_msg("vireo help does not list %s", c->name);
    }
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows),
        cmocka_unit_test(usage_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Every command of `vireo`, in one table (as kvmtool's kvm-cmd.c): main.c
 * dispatches through it, `vireo help` is printed from it, and the
 * commands print their --help from their row. */
#ifndef VIREO_CLI_COMMANDS_H
#define VIREO_CLI_COMMANDS_H

#include <stdio.h>

#include "toolstack/ctl_proto.h"

struct cli_cmd;

/* argv[0] is the command's name; returns the exit status. */
typedef int cli_fn(const struct cli_cmd *self, int argc, char *const argv[]);

enum cli_group { CLI_VMM, CLI_XL, CLI_OTHER };

struct cli_cmd {
    const char *name;
    cli_fn *fn;
    enum cli_group group;      /* the section of `vireo help` */
    const char *synopsis;      /* the forms of the command line, one a line, each starting with name */
    const char *summary;       /* one line for `vireo help` */
    const char *help;          /* --help after the synopsis; NULL: the command prints its own */
    enum ctl_cmd ctl;          /* what it asks the VM process (rows sharing fn differ here) */
};

extern const struct cli_cmd cli_cmds[];

/* The row named name, or NULL. */
const struct cli_cmd *cli_cmd_find(const char *name);

/* "usage: vireo FORM" for each form of the synopsis, then the help. */
void cli_usage(FILE *f, const struct cli_cmd *c);

/* A usage error, as git and the coreutils print one: "vireo: CMD: what",
 * then "Try 'vireo CMD --help'." instead of the whole usage, so the error
 * stays on screen.  Returns 2, the usage exit status. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

struct option;

/* After getopt_long returned '?' or ':' (call with opterr = 0): names the
 * unknown option or the missing value, with a "did you mean" among
 * longopts and the short options of optstring.  Returns 2. */
int cli_bad_option(const char *cmd, char *const argv[], const char *optstring, const struct option *longopts);

/* The option of opts (NULL-terminated, e.g. "--kernel") closest to the
 * misspelt arg (up to any '='), or NULL. */
const char *cli_suggest_option(const char *arg, const char *const *opts);

struct json_object;

/* Prints o as every --json and -l of the toolstack commands does (indented,
 * '/' unescaped), then drops it. */
void cli_print_json(struct json_object *o);

/* For a command with operands: takes the options in flags (NULL-terminated,
 * e.g. "--json") off the front of argv[1...], as getopt would before the
 * first operand; bit i of the result says flags[i] was given. */
unsigned cli_leading_flags(int *argc, char *const **argv, const char *const *flags);

/* `vireo help`: every command's first form and summary. */
void cli_help(FILE *f);

#endif

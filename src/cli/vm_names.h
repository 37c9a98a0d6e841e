/* What the VM commands share: which VMs a command acts on (the names
 * given, or all running ones), and the argument check of commands that
 * take only operands. */
#ifndef VIREO_CLI_VM_NAMES_H
#define VIREO_CLI_VM_NAMES_H

#include <stdbool.h>

#include "cli/commands.h"

#define VM_NAMES_MAX 256

/* Fills names from argv[0..argc) or, when all (or argc == 0 and
 * all_if_none), from the run directory.  Returns how many, -1 on error
 * (printed). */
int vm_names_select(int argc, char *const argv[], int all, int all_if_none, char (*names)[72]);

/* A VM named on the command line: a name, or an ID as `list` shows it
 * (as xl takes domain IDs).  Returns the name (arg itself, or buf). */
const char *vm_name_arg(const char *arg, char buf[72]);

/* For a command with operands only: nargs of them (-1: any number).
 * Returns true when the command is done: --help printed its usage
 * (*status 0), or the arguments are wrong (usage on stderr, *status 2).
 * A first argument "--" ends the options, as getopt has it: it is taken
 * out (*argv moves past it, *argc counts one fewer) and what follows is
 * operands even if it starts with '-'. */
bool cli_operands_only(const struct cli_cmd *self, int *argc, char *const **argv, int nargs, int *status);

#endif

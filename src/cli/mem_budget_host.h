/* The host's memory budget (toolstack/mem_budget.h) as it is now: the
 * host's RAM, the reservation from the environment, and each running VM
 * asked over its control socket for its maxmem and its VMM's own memory. */
#ifndef VIREO_CLI_MEM_BUDGET_HOST_H
#define VIREO_CLI_MEM_BUDGET_HOST_H

#include <stddef.h>

#include "toolstack/mem_budget.h"

/* -1 with why in err (a malformed reservation). */
int mem_budget_gather(struct mem_budget *b, char *err, size_t errlen);

#endif

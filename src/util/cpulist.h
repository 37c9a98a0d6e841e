/* Host CPU lists as Linux and xl write them: "0-3,6", "all", "^1"
 * (everything but), for vcpu-pin and vcpu-list. */
#ifndef VIREO_UTIL_CPULIST_H
#define VIREO_UTIL_CPULIST_H

#include <sched.h>
#include <stddef.h>

/* Parses s into *set over CPUs 0..ncpus-1; -1 with err on bad syntax, a
 * CPU past ncpus-1, or an empty result. */
int cpulist_parse(const char *s, unsigned ncpus, cpu_set_t *set, char *err, size_t errlen);
/* "all" when set holds CPUs 0..ncpus-1, else ranges ("0-1,3"). */
void cpulist_format(const cpu_set_t *set, unsigned ncpus, char *out, size_t len);

#endif

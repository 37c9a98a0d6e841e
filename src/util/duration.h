#ifndef VIREO_UTIL_DURATION_H
#define VIREO_UTIL_DURATION_H

#include <stdbool.h>
#include <stdint.h>

/* Parses "100us", "1ms", "2.5s", "250ns", "3m" or a bare number of
 * seconds (as timeout(1) does) into nanoseconds.  False on anything else,
 * on overflow, or on a result that is not a whole number of ns. */
bool parse_duration(const char *s, uint64_t *ns);

#endif

#ifndef VIREO_UTIL_DURATION_H
#define VIREO_UTIL_DURATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses "100us", "1ms", "2.5s", "250ns", "3m", "2h", "1d" or a bare number of
 * seconds (as timeout(1) does) into nanoseconds.  False on anything else,
 * on overflow, or on a result that is not a whole number of ns. */
bool parse_duration(const char *s, uint64_t *ns);

/* ns in the largest unit parse_duration reads that shows it exactly
 * ("30s", "720m", "1500us"), so a message's bounds can be typed back. */
void format_duration(uint64_t ns, char *buf, size_t len);

#endif

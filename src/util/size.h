#ifndef VIREO_UTIL_SIZE_H
#define VIREO_UTIL_SIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses "256M", "1G", "1048576", "512K" (binary units; an optional
 * trailing "iB"/"B" is accepted).  A bare number is MiB, as in QEMU's -m.
 * Returns false on anything else, including overflow. */
bool parse_size(const char *s, uint64_t *out);

/* Parses a decimal unsigned integer in [min, max]. */
bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* "512 B", "64 KiB", "1.5 GiB": binary units, one decimal when it is not
 * a whole number of them (truncated, never rounded up). */
void size_human(uint64_t v, char *buf, size_t len);

#endif

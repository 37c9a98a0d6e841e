/* The reason a function failed, for callers that print it: functions
 * report failure as -1 with a one-line message in (err, errlen). */
#ifndef VIREO_UTIL_ERR_H
#define VIREO_UTIL_ERR_H

#include <stddef.h>

/* Formats the message into err, as snprintf, and returns -1, so that
 * `return err_fail(err, errlen, "...", ...);` ends a failing function. */
int err_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif

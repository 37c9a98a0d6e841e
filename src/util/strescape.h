/* Untrusted names (VM names, image paths, device names: user input, and
 * in a reply from a VM process of another user, anything) made safe to
 * print on a terminal or in a text format: printable ASCII stays, a
 * backslash becomes "\\", every other byte "\xHH" (escape sequences,
 * newlines, non-UTF-8 and UTF-8 alike, so columns keep their width). */
#ifndef VIREO_UTIL_STRESCAPE_H
#define VIREO_UTIL_STRESCAPE_H

#include <stddef.h>

/* Escapes s into out (outlen >= 1), NUL-terminated, cut at a whole escape
 * when out is too small; returns out. */
char *str_escape(char *out, size_t outlen, const char *s);

#endif

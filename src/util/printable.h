/* Names nobody vouches for, made safe to print: a task name any user sets
 * with prctl(PR_SET_NAME), a name read from a file someone handed us.
 * Printed raw they could drive root's terminal (escape sequences), reorder
 * the line around them (bidirectional controls), or make an SVG or a JSON
 * document invalid (bytes that are not UTF-8). */
#ifndef VIREO_UTIL_PRINTABLE_H
#define VIREO_UTIL_PRINTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Room for printable() of a string of n bytes, NUL included: every byte
 * may become a four-character escape. */
#define PRINTABLE_CAP(n) (4 * (n) + 1)

/* Copies s into out (cap bytes, NUL-terminated): printable ASCII and valid
 * UTF-8 characters that are neither control nor formatting characters as
 * they are, every other byte as the four characters \xHH.  A backslash
 * stays a backslash, so the result printed again is unchanged.  What does
 * not fit is cut at a character boundary, never inside an escape.
 * Returns out. */
const char *printable(char *out, size_t cap, const char *s);

/* Length (2-4) of the valid UTF-8 sequence of a character >= U+0080 at
 * s[0..n), with its code point in *cp; 0 if s does not start one
 * (overlong forms, surrogates, beyond U+10FFFF, cut short). */
size_t utf8_char(const unsigned char *s, size_t n, uint32_t *cp);

#endif

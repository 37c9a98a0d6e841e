#ifndef VIREO_UTIL_JSON_H
#define VIREO_UTIL_JSON_H

#include <stdio.h>

/* Writes s as a JSON string: quoted, escaped, control characters as
 * \u00XX; valid UTF-8 characters as they are, and any other byte as
 * \u00XX too, so the document stays valid for strict parsers whatever s
 * holds. */
void json_string(FILE *f, const char *s);

#endif

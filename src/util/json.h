#ifndef VIREO_UTIL_JSON_H
#define VIREO_UTIL_JSON_H

#include <stdio.h>

/* Writes s as a JSON string: quoted, escaped, bytes outside printable
 * ASCII as \u00XX. */
void json_string(FILE *f, const char *s);

#endif

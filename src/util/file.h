#ifndef VIREO_UTIL_FILE_H
#define VIREO_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole regular file.  On failure returns NULL and prints one line
 * naming the file, what it is (`what`, e.g. "kernel") and why. */
uint8_t *read_file(const char *path, const char *what, size_t *len);

#endif

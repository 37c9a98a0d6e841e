#ifndef VIREO_UTIL_FILE_H
#define VIREO_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens a regular file for reading.  On failure returns -1 and prints one
 * line naming the file, what it is (`what`, e.g. "kernel") and why. */
int open_input(const char *path, const char *what, uint64_t *size);

/* pread() until len bytes are in, or -1 with errno (EIO for a short file). */
int read_full_at(int fd, void *dst, size_t len, uint64_t offset);

#endif

#ifndef VIREO_UTIL_FILE_H
#define VIREO_UTIL_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens a regular file for reading.  On failure returns -1 and prints one
 * line naming the file, what it is (`what`, e.g. "kernel") and why. */
int open_input(const char *path, const char *what, uint64_t *size);

/* A whole small input file (a config) in memory, NUL-terminated: at most
 * max bytes.  NULL after one line naming the file and why. */
char *read_input(const char *path, const char *what, uint64_t max, uint64_t *size);

/* pread() until len bytes are in, or -1 with errno (EIO for a short file). */
int read_full_at(int fd, void *dst, size_t len, uint64_t offset);

/* read_full_at for a file that may have holes, into memory that already
 * reads zero (fresh anonymous memory): only the file's data extents
 * (SEEK_DATA) are read, and dst under its holes is not touched at all.
 * -1 with errno (EIO when the file is shorter than offset + len). */
int read_sparse_at(int fd, void *dst, size_t len, uint64_t offset);

/* write() until len bytes are out, or -1 with errno. */
int write_full(int fd, const void *src, size_t len);

/* write_full at the current offset, leaving holes for its 4 KiB blocks of
 * zeroes (the file must be new or shorter); the file ends up len bytes
 * longer.  0 or -1 with errno. */
int write_sparse(int fd, const void *src, size_t len);

/* fsync() of the folder holding path, so that a file just created (or
 * renamed) there survives a power loss.  0 or -1 with errno. */
int fsync_parent_dir(const char *path);

#endif

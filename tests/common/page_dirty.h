/* Whether the host page cache holds dirty pages of a file range: the
 * pages are mapped and their flags read from /proc/kpageflags (needs
 * root).  Tests use it to see that data reached the disk (a write-through
 * write, a flush at close) without pulling the power. */
#ifndef VIREO_TESTS_PAGE_DIRTY_H
#define VIREO_TESTS_PAGE_DIRTY_H

#include <stddef.h>
#include <stdint.h>

/* 1 if a page of [off, off+len) of path is dirty in the page cache, 0 if
 * none is, -1 with errno if the flags cannot be read (not root: EPERM). */
int file_range_dirty(const char *path, uint64_t off, size_t len);

#endif

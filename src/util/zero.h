/* Zeroing large, mostly untouched structures without making them
 * resident: a page that still reads as zero is left alone, so bss and
 * fresh anonymous pages the program never wrote stay the kernel's shared
 * zero page and out of the process's memory (a VM process's struct vm is
 * 340 KiB of device slots, most of them empty). */
#ifndef VIREO_UTIL_ZERO_H
#define VIREO_UTIL_ZERO_H

#include <stddef.h>

/* memset(p, 0, n), writing only the pages of [p, p+n) that hold a
 * nonzero byte. */
void zero_sparse(void *p, size_t n);

#endif

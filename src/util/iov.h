/* iovec helpers: copies between flat buffers and scatter lists, slices of
 * them, and advancing over what a short transfer did.  Below the virtqueue
 * code, the device models and the block layer, which all use them. */
#ifndef VIREO_UTIL_IOV_H
#define VIREO_UTIL_IOV_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Copies between a flat buffer and [off, off+len) of an iovec array,
 * into the iovecs when into_iov; returns the bytes copied (fewer when the
 * array ends first). */
size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len, bool into_iov);
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Copies the iovecs covering [off, off+len) into out (at most max); -1 if
 * more would be needed or the range is not covered. */
int iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out, unsigned max);
/* Total length. */
size_t iov_size(const struct iovec *iov, unsigned n);
/* Moves *iov / *n past the first bytes (changing the element it stops in):
 * what is left after a short transfer. */
void iov_advance(struct iovec **iov, unsigned *n, size_t bytes);
/* Zeroes the memory the iovecs point at. */
void iov_memset0(const struct iovec *iov, unsigned n);

#endif

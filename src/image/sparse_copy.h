/* A copy of a regular file that moves only its data: the extents
 * SEEK_DATA/SEEK_HOLE report, each with copy_file_range (the kernel moves
 * the bytes without bringing them to user space, and a file system that
 * can share blocks may do so), holes left as holes. */
#ifndef VIREO_IMAGE_SPARSE_COPY_H
#define VIREO_IMAGE_SPARSE_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/progress.h"

/* The bytes of [0, size) of fd that SEEK_DATA calls data (all of it on a
 * file system without SEEK_DATA). */
int sparse_data_bytes(int fd, uint64_t size, uint64_t *bytes);

/* Creates dst (-1 when it exists: nothing is replaced) with mode, copies
 * the data of src_fd's first size bytes into it and makes it size bytes
 * long and durable.  pr (may be NULL) counts the bytes moved.  0, or -1
 * with the reason in err and dst removed. */
int sparse_copy(int src_fd, uint64_t size, const char *dst, mode_t mode, struct progress *pr, char *err,
                size_t errlen);

#endif

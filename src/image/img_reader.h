/* Reading a disk image as its guest sees it, and where its data is: a raw
 * file or block device, or a qcow2 image with its whole backing chain.
 * What a copy or a backup needs: the extents that may hold data (the rest
 * reads as zeroes, and is left out), and their bytes. */
#ifndef VIREO_IMAGE_IMG_READER_H
#define VIREO_IMAGE_IMG_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/image_format.h"
#include "block/qcow2.h"

struct img_reader {
    struct qcow2_link top;     /* the image as the first link of a chain */
    bool blockdev;             /* a raw block device: every block "may hold data" */
    char *path;
};

/* Opens path read-only as fmt.  lock: under a shared OFD lock (no VM can
 * open it for writing meanwhile; fails if one has); without it, an image
 * a paused VM holds is read too.  A qcow2 image's backing files are always
 * opened under shared locks.  0, or -1 with the reason (naming the chain)
 * in err. */
int img_reader_open(struct img_reader *r, const char *path, enum img_format fmt, bool lock, char *err,
                    size_t errlen);
void img_reader_close(struct img_reader *r);

static inline uint64_t img_reader_size(const struct img_reader *r) { return r->top.size; }

/* The first extent at or after off that may hold data, at most max bytes
 * long: *start and *len; *len 0 when the rest reads as zeroes.  Extents
 * come from SEEK_DATA/SEEK_HOLE for raw files (and raw backing files) and
 * from the L2 tables for qcow2 (allocated, compressed or from the backing
 * file's data; zero clusters and unallocated ones without backing data
 * are holes).  0 or -errno. */
int img_reader_next_data(struct img_reader *r, uint64_t off, uint64_t max, uint64_t *start, uint64_t *len);

/* The guest's bytes [off, off+len) (zeroes past the end).  0 or -errno. */
int img_reader_read(struct img_reader *r, void *buf, uint64_t len, uint64_t off);

#endif

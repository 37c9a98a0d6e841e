/* A raw disk image: a regular (possibly sparse) file or a host block
 * device, opened with the cache mode's flags and locked against a second
 * writer, as QEMU locks its images. */
#ifndef VIREO_BLOCK_RAW_H
#define VIREO_BLOCK_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum blk_cache {
    BLK_CACHE_WRITEBACK,   /* through the host page cache */
    BLK_CACHE_NONE,        /* O_DIRECT: the host page cache is bypassed */
};

struct blk_file {
    int fd;
    uint64_t size;             /* bytes */
    bool ro;
    bool is_bdev;
    enum blk_cache cache;
    uint32_t logical_block;    /* 512 for files, the device's for block devices */
    uint32_t dio_align;        /* buffer alignment O_DIRECT needs; 0 when buffered */
};

/* Opens path; on failure fills err with a message naming the file and
 * returns -1. */
int blk_file_open(struct blk_file *f, const char *path, bool ro, enum blk_cache cache,
                  char *err, size_t err_len);
void blk_file_close(struct blk_file *f);

int blk_cache_parse(const char *s, enum blk_cache *out);

#endif

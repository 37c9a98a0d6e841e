#include "bootloader/bl_disk.h"

#include <errno.h>

#include "util/file.h"

int bl_region_read(const struct bl_region *r, uint64_t off, void *buf, size_t len)
{
    if (off > r->size || len > r->size - off) {
        errno = EIO;
        return -1;
    }
    return r->disk->read(r->disk->ctx, r->start + off, buf, len);
}

int bl_disk_pread(void *ctx, uint64_t offset, void *buf, size_t len)
{
    return read_full_at(*(const int *)ctx, buf, len, offset);
}

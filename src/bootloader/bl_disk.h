/* What the boot-entry finder reads a guest disk through: one read-at-offset
 * function and the disk's size.  A raw file or block device is a pread();
 * an image format (qcow2) plugs in with its own function, and the finder
 * never knows the difference.  Everything read through it is hostile: the
 * guest wrote it. */
#ifndef VIREO_BOOTLOADER_BL_DISK_H
#define VIREO_BOOTLOADER_BL_DISK_H

#include <stddef.h>
#include <stdint.h>

struct bl_disk {
    /* Reads exactly len bytes at offset (the caller keeps offset + len
     * within size); 0, or -1 with errno. */
    int (*read)(void *ctx, uint64_t offset, void *buf, size_t len);
    void *ctx;
    uint64_t size;            /* bytes */
};

/* A range of the disk seen as a disk of its own (a partition). */
struct bl_region {
    const struct bl_disk *disk;
    uint64_t start, size;     /* bytes; within disk->size */
};

/* Reads [off, off + len) of a region; -1 with errno (EIO past its end). */
int bl_region_read(const struct bl_region *r, uint64_t off, void *buf, size_t len);

/* The pread() of a raw image or block device; ctx is a pointer to the fd. */
int bl_disk_pread(void *ctx, uint64_t offset, void *buf, size_t len);

#endif

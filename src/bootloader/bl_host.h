/* What the configuration parsers (grub.cfg, BLS entries) may ask of the
 * disk, so that they stay pure functions over buffers: the finder answers
 * from the guest's file systems, the fuzzers and unit tests from memory.
 * Partitions are numbered as GRUB and Linux number them; 0 is a disk
 * without a partition table. */
#ifndef VIREO_BOOTLOADER_BL_HOST_H
#define VIREO_BOOTLOADER_BL_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum bl_find { BL_FIND_UUID, BL_FIND_LABEL, BL_FIND_FILE };

struct bl_host {
    void *ctx;
    const char *scheme;        /* "msdos" or "gpt" (GRUB's hd0,gpt2); NULL: no partition table */
    bool (*has_part)(void *ctx, unsigned part);   /* holds a file system vireo reads */
    /* A whole regular file of at most max bytes, NUL-terminated.  0, 1 when
     * there is no such file, -1 with the reason in err. */
    int (*read_file)(void *ctx, unsigned part, const char *path, size_t max, char **buf, size_t *len,
                     char *err, size_t errlen);
    /* 0 (exists), 1 (does not). */
    int (*stat)(void *ctx, unsigned part, const char *path, uint64_t *size, bool *is_dir);
    /* The first partition whose file system has this UUID or label, or
     * holds this file: 0, or 1 when none does. */
    int (*find)(void *ctx, enum bl_find by, const char *key, unsigned *part);
    /* A directory's names, at most max: 0, 1 (no such directory), -1. */
    int (*list)(void *ctx, unsigned part, const char *dir, unsigned max, char ***names, unsigned *n,
                char *err, size_t errlen);
};

#endif

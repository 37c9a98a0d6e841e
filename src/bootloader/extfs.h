/* An ext2/3/4 file system read with e2fsprogs' libext2fs, through an
 * io_manager that reads a bl_region (never a host path) and refuses every
 * write.  Paths are absolute within this file system; symbolic links are
 * followed inside it only (libext2fs resolves an absolute link from this
 * file system's root), at most 8 deep. */
#ifndef VIREO_BOOTLOADER_EXTFS_H
#define VIREO_BOOTLOADER_EXTFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootloader/bl_disk.h"

struct extfs;
struct extfs_file;

#define EXTFS_MAX_PATH 1024

enum extfs_type { EXTFS_REG, EXTFS_DIR, EXTFS_OTHER };

/* -1 with err ("cannot open the ext4 file system: The ext2 superblock is corrupt"). */
int extfs_open(const struct bl_region *r, struct extfs **out, char *err, size_t errlen);
void extfs_close(struct extfs *fs);

/* 0 found, 1 no such file (or a link that leads nowhere), -1 error in err. */
int extfs_stat(struct extfs *fs, const char *path, enum extfs_type *type, uint64_t *size, char *err,
               size_t errlen);

/* The whole regular file, at most max bytes (else -1 naming its size),
 * NUL-terminated for the text parsers.  0, 1 (no such file) or -1. */
int extfs_read_file(struct extfs *fs, const char *path, size_t max, char **buf, size_t *len, char *err,
                    size_t errlen);

/* A regular file to read piece by piece (kernels, initrds). */
int extfs_file_open(struct extfs *fs, const char *path, struct extfs_file **f, uint64_t *size, char *err,
                    size_t errlen);
/* Up to len bytes; 0 at the end of the file, -1 with err. */
long extfs_file_read(struct extfs_file *f, void *buf, size_t len, char *err, size_t errlen);
void extfs_file_close(struct extfs_file *f);

/* A symbolic link's target, not followed (0), 1 when path is not a link
 * or does not exist, -1 on error. */
int extfs_readlink(struct extfs *fs, const char *path, char *target, size_t len, char *err, size_t errlen);

/* The names in a directory (not "." and ".."), at most max of them (more
 * is an error).  0 with a malloc'd array of malloc'd names, 1 no such
 * directory, -1 error. */
int extfs_list(struct extfs *fs, const char *dir, unsigned max, char ***names, unsigned *n, char *err,
               size_t errlen);
void extfs_list_free(char **names, unsigned n);

#endif

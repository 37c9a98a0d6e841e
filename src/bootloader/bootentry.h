/* The boot-entry finder, pygrub's role: from a guest's disk (read through
 * a bl_disk), the kernel, initrds and command line its boot loader would
 * boot.  In order:
 *   1. pygrub's --kernel PATH (and --ramdisk): those files, no configuration;
 *   2. GRUB 2's grub.cfg in /boot/grub, /grub (a separate /boot),
 *      /boot/grub2 or /grub2 of the first partition that has one;
 *   3. Boot Loader Specification entries in /loader/entries or
 *      /boot/loader/entries;
 *   4. Debian's /vmlinuz and /initrd.img links (or /boot/vmlinuz), with a
 *      link into a separate /boot partition followed there.
 * Partitions are read when they hold ext2/3/4; any other file system is
 * named in the error when nothing bootable was found. */
#ifndef VIREO_BOOTLOADER_BOOTENTRY_H
#define VIREO_BOOTLOADER_BOOTENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bootloader/bl_disk.h"
#include "bootloader/bl_entry.h"
#include "bootloader/bl_host.h"
#include "bootloader/extfs.h"
#include "bootloader/fsprobe.h"
#include "bootloader/parttable.h"

/* What the user asked for (pygrub's options). */
struct bl_request {
    const char *entry;         /* --entry: N, an id, a title or "submenu>entry"; NULL: the default */
    const char *kernel;        /* --kernel: a path in the guest; no configuration is read */
    const char *ramdisk;       /* --ramdisk, with --kernel */
};

struct bl_part {
    unsigned number;           /* 0: the whole disk (no partition table) */
    struct bl_region region;
    struct fs_probe probe;
    struct extfs *fs;          /* opened on first use */
    bool tried;
    char open_err[192];        /* why it could not be opened */
};

struct bl_finder {
    const struct bl_disk *disk;
    struct pt_table pt;
    unsigned nparts;
    struct bl_part parts[PT_MAX_PARTS];
    struct bl_host host;
};

/* Reads the partition table and probes each partition.  -1 with err. */
int bl_finder_open(struct bl_finder *f, const struct bl_disk *d, char *err, size_t errlen);
void bl_finder_close(struct bl_finder *f);

/* The entry to boot; its files exist.  -1 with err naming the problem. */
int bl_find(struct bl_finder *f, const struct bl_request *req, struct bl_entry *e, char *err, size_t errlen);

/* Opens one of the entry's files to read it piece by piece. */
int bl_open(struct bl_finder *f, const struct bl_file_ref *ref, struct extfs_file **file, uint64_t *size,
            char *err, size_t errlen);

#endif

/* Which file system a partition holds, from its signature (what blkid
 * looks at), so that the finder reads ext2/3/4 and names anything else it
 * refuses ("partition 2 holds XFS, which vireo cannot read; ..."). */
#ifndef VIREO_BOOTLOADER_FSPROBE_H
#define VIREO_BOOTLOADER_FSPROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "bootloader/bl_disk.h"

enum fs_kind {
    FS_UNKNOWN,      /* no signature vireo knows (empty, BIOS boot partition, ...) */
    FS_EXT,          /* ext2, ext3 or ext4: read with libext2fs */
    FS_OTHER,        /* a file system or container vireo does not read */
    FS_NOT_FS,       /* swap, LVM PV, LUKS, RAID member: never holds /boot */
};

struct fs_probe {
    enum fs_kind kind;
    const char *name;          /* "ext4", "xfs", "btrfs", "swap", ...; "unknown" */
    bool has_uuid;
    uint8_t uuid[16];          /* ext: s_uuid, as GRUB's search --fs-uuid compares it */
    char label[17];            /* ext: s_volume_name */
};

/* Reads the signatures of a region; -1 with errno only when reading fails. */
int fs_probe(const struct bl_region *r, struct fs_probe *out);

/* The file system UUID as GRUB and blkid print it (lower case, dashes). */
void fs_uuid_format(const uint8_t u[16], char out[37]);

#endif

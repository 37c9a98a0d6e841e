#include "bootloader/fsprobe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define EXT_SB          1024
#define EXT_MAGIC       0xEF53
#define EXT_COMPAT_JOURNAL   0x0004
#define EXT_INCOMPAT_EXT4    (0x0040 | 0x0080 | 0x0200)   /* extents, 64bit, flex_bg */

void fs_uuid_format(const uint8_t u[16], char out[37])
{
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3],
             u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

/* Whether bytes [off, off + len) of the region equal sig; false when the
 * region is too small. */
static int has_sig(const struct bl_region *r, uint64_t off, const void *sig, size_t len, bool *yes)
{
    uint8_t buf[16];
    *yes = false;
    if (off > r->size || len > r->size - off)
        return 0;
    if (bl_region_read(r, off, buf, len) < 0)
        return -1;
    *yes = !memcmp(buf, sig, len);
    return 0;
}

struct sig {
    uint64_t off;
    const char *bytes;
    size_t len;
    enum fs_kind kind;
    const char *name;
};

static const struct sig sigs[] = {
    {0, "XFSB", 4, FS_OTHER, "xfs"},
    {65536 + 64, "_BHRfS_M", 8, FS_OTHER, "btrfs"},
    {0, "LUKS\xba\xbe", 6, FS_NOT_FS, "crypto_LUKS"},
    {512 + 24, "LVM2 001", 8, FS_NOT_FS, "LVM2_member"},
    {4096 - 10, "SWAPSPACE2", 10, FS_NOT_FS, "swap"},
    {4096 - 10, "SWAP-SPACE", 10, FS_NOT_FS, "swap"},
    {4096, "\xfc\x4e\x2b\xa9", 4, FS_NOT_FS, "linux_raid_member"},
    {0, "\xfc\x4e\x2b\xa9", 4, FS_NOT_FS, "linux_raid_member"},
    {3, "NTFS    ", 8, FS_OTHER, "ntfs"},
    {3, "EXFAT   ", 8, FS_OTHER, "exfat"},
    {82, "FAT32   ", 8, FS_OTHER, "vfat"},
    {54, "FAT16   ", 8, FS_OTHER, "vfat"},
    {54, "FAT12   ", 8, FS_OTHER, "vfat"},
    {1024, "\x10\x20\xf5\xf2", 4, FS_OTHER, "f2fs"},
    {1024, "\xe2\xe1\xf5\xe0", 4, FS_OTHER, "erofs"},
    {0, "hsqs", 4, FS_OTHER, "squashfs"},
    {32768, "JFS1", 4, FS_OTHER, "jfs"},
    {65536 + 52, "ReIsEr2Fs", 9, FS_OTHER, "reiserfs"},
    {65536 + 52, "ReIsEr3Fs", 9, FS_OTHER, "reiserfs"},
    {65536 + 52, "ReIsErFs", 8, FS_OTHER, "reiserfs"},
    {4096 + 24, "\xc6\x85\x73\xf6\x4e\x1a\x45\xca\x82\x65\xf5\x7f\x48\xba\x6d\x81", 16, FS_OTHER, "bcachefs"},
    {32769, "CD001", 5, FS_OTHER, "iso9660"},
};

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int fs_probe(const struct bl_region *r, struct fs_probe *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = FS_UNKNOWN;
    out->name = "unknown";
    uint8_t sb[256];
    if (r->size >= EXT_SB + sizeof(sb)) {
        if (bl_region_read(r, EXT_SB, sb, sizeof(sb)) < 0)
            return -1;
        if (le16(sb + 56) == EXT_MAGIC) {
            uint32_t compat = le32(sb + 0x5C), incompat = le32(sb + 0x60);
            out->kind = FS_EXT;
            out->name = incompat & EXT_INCOMPAT_EXT4 ? "ext4" : compat & EXT_COMPAT_JOURNAL ? "ext3" : "ext2";
            out->has_uuid = true;
            memcpy(out->uuid, sb + 0x68, 16);
            memcpy(out->label, sb + 0x78, 16);
            out->label[16] = 0;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        bool yes;
        if (has_sig(r, sigs[i].off, sigs[i].bytes, sigs[i].len, &yes) < 0)
            return -1;
        if (yes) {
            out->kind = sigs[i].kind;
            out->name = sigs[i].name;
            return 0;
        }
    }
    return 0;
}

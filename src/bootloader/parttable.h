/* MBR and GPT partition tables, read through a bl_disk and checked as a
 * hostile guest could have written them: every partition inside the disk
 * (and an MBR logical partition inside its extended one), none
 * overlapping, entry counts and sizes bounded, GPT header and entry CRCs
 * verified with the backup header as the fallback. */
#ifndef VIREO_BOOTLOADER_PARTTABLE_H
#define VIREO_BOOTLOADER_PARTTABLE_H

#include <stdint.h>
#include <stddef.h>

#include "bootloader/bl_disk.h"

#define PT_MAX_PARTS        128    /* partitions kept (GPT's usual array size) */
#define PT_MAX_GPT_ENTRIES  1024   /* entries a GPT header may declare */
#define PT_MAX_GPT_ENTRY    1024   /* bytes per GPT entry */
#define PT_MAX_LOGICAL      64     /* MBR logical partitions (an EBR chain) */

enum pt_scheme {
    PT_NONE,     /* no partition table: the disk is one file system (Xen's 'xvda1' disks) */
    PT_MBR,
    PT_GPT,
};

struct pt_part {
    unsigned number;           /* as GRUB and Linux number them: from 1; MBR logical from 5 */
    uint64_t start, size;      /* bytes */
    uint8_t mbr_type;          /* PT_MBR */
    uint8_t type_guid[16];     /* PT_GPT, as stored (mixed-endian) */
    uint8_t guid[16];          /* PT_GPT: the partition's unique GUID (PARTUUID) */
};

struct pt_table {
    enum pt_scheme scheme;
    unsigned sector;           /* bytes: 512, or 4096 for a GPT made on a 4K-native disk */
    uint32_t mbr_id;           /* PT_MBR: the disk signature (PARTUUID=SSSSSSSS-PP) */
    unsigned n;
    struct pt_part parts[PT_MAX_PARTS];   /* in number order */
    char note[320];            /* something worth a log line (backup GPT used), or "" */
};

/* Reads the disk's partition table.  0, or -1 with the problem in err
 * ("GPT partition 3 ends past the end of the disk (...)"). */
int pt_read(const struct bl_disk *d, struct pt_table *t, char *err, size_t errlen);

/* "msdos" or "gpt", GRUB's names for the schemes (device hd0,msdos1). */
const char *pt_scheme_name(enum pt_scheme s);

/* A GUID as text, the way blkid and the kernel's PARTUUID= write it. */
void pt_guid_format(const uint8_t g[16], char out[37]);

#endif

/* LVM logical volumes through lvm2's own tools (lvs, lvcreate, lvremove),
 * never by writing LVM metadata ourselves: lvm2 keeps its metadata
 * consistent, archived and locked, and an administrator sees our
 * snapshots with the tools they know.
 *
 * A snapshot of a thin volume is a thin snapshot in the same pool (no size;
 * blocks are shared until either side writes).  A snapshot of a plain
 * volume is a classic copy-on-write snapshot: writes to either side copy
 * the old block into the snapshot's COW area, which becomes invalid when it
 * fills up.  Unless told otherwise it is sized to hold every block of the
 * origin (lvm2 trims it to the largest size it can use), so it can never
 * fill: a clone must not die of its origin's writes. */
#ifndef VIREO_IMAGE_LVM_H
#define VIREO_IMAGE_LVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LVM_NAME_MAX 127

struct lvm_lv {
    char vg[LVM_NAME_MAX + 1], name[LVM_NAME_MAX + 1];
    char attr[16];          /* lv_attr: [0] 'V' thin volume, 's' snapshot, 'o' origin, '-' plain, ... */
    char segtype[32];       /* "linear", "thin", "striped", ... */
    char pool[LVM_NAME_MAX + 1];   /* the thin pool of a thin volume; empty otherwise */
    uint64_t size;          /* bytes */
    uint64_t vg_free;       /* bytes free in the volume group */
    uint64_t extent_size;   /* the volume group's */
    int major, minor;       /* the kernel device; -1 when inactive */
};

/* Parses the output of LVM_REPORT_ARGS (lvs --reportformat json): *lvs
 * gets every volume (free()).  0, or -1 with why in err. */
int lvm_report_parse(const char *json, size_t len, struct lvm_lv **lvs, size_t *n, char *err, size_t errlen);

/* The volume whose kernel device is major:minor, or NULL. */
const struct lvm_lv *lvm_report_find_dev(const struct lvm_lv *lvs, size_t n, int major, int minor);
/* The volume vg/name, or NULL. */
const struct lvm_lv *lvm_report_find(const struct lvm_lv *lvs, size_t n, const char *vg, const char *name);

/* What the block device at path is: 1 with *out when it is an active LVM
 * logical volume; 0 when it is not (or lvm2 is not installed), err saying
 * which; -1 when lvs failed.  *all (may be NULL) gets the whole report. */
int lvm_lookup(const char *path, struct lvm_lv *out, struct lvm_lv **all, size_t *nall, char *err,
               size_t errlen);

bool lvm_is_thin(const struct lvm_lv *lv);

/* The COW size of a classic snapshot that can take every block of lv:
 * its size plus the exception store's metadata (16 bytes per chunk, a
 * header) with room to spare, rounded up to whole extents. */
uint64_t lvm_full_cow_size(const struct lvm_lv *lv);

/* The new volume's name in lv's volume group from DST as the user wrote
 * it: "NAME", "VG/NAME" or "/dev/VG/NAME".  -1 (err) for another volume
 * group (a snapshot lives in its origin's) or a name lvm2 refuses. */
int lvm_dst_name(const struct lvm_lv *lv, const char *dst, char *name, size_t len, char *err, size_t errlen);

/* lvcreate: a thin snapshot (thin origin), or a classic one with cow_size
 * bytes of COW space (0: lvm_full_cow_size).  *path gets /dev/VG/NAME once
 * the device node exists.  0, or -1 with lvcreate's reason in err. */
int lvm_snapshot(const struct lvm_lv *lv, const char *name, uint64_t cow_size, char *path, size_t pathlen,
                 char *err, size_t errlen);

/* lvremove of vg/name. */
int lvm_remove(const char *vg, const char *name, char *err, size_t errlen);

#endif

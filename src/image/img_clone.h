/* A new disk that shares an existing one's data, by the fastest way the
 * storage offers (`vireo image clone`, and each disk of `vireo clone` and
 * `vireo backup`):
 *
 *   qcow2 image, not frozen  -> a qcow2 overlay on it (milliseconds)
 *   LVM logical volume       -> an LVM snapshot: thin in a thin pool, else
 *                               classic copy-on-write (see lvm.h for its size)
 *   any other file           -> a reflink (FICLONE: XFS, btrfs), else a
 *                               sparse copy (SEEK_DATA/SEEK_HOLE and
 *                               copy_file_range) with a progress line
 *   other block devices      -> refused
 *
 * A raw file on a file system without reflinks (ext4) is copied, not
 * given a qcow2 overlay: an overlay would make the raw file a base that
 * must never be written again, and nothing in a raw file can say so; its
 * VM's next start would change what the clone reads.  The copy costs time
 * and space, never data.  (Put images on XFS, btrfs or LVM, or use qcow2,
 * to clone in milliseconds.)
 *
 * "Frozen": the source is the disk of a VM paused and flushed for this
 * (`vireo clone` and `backup` of a running VM); it is not locked by us
 * (its VM holds it), and its VM writes on afterwards, so it cannot become
 * a base: a qcow2 image is reflinked, and a file that cannot be reflinked
 * is copied only when the caller accepts that its VM stays paused
 * meanwhile. */
#ifndef VIREO_IMAGE_IMG_CLONE_H
#define VIREO_IMAGE_IMG_CLONE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/image_format.h"
#include "image/lvm.h"

enum img_clone_method {
    IMG_CLONE_OVERLAY,
    IMG_CLONE_REFLINK,
    IMG_CLONE_COPY,
    IMG_CLONE_LVM_THIN,
    IMG_CLONE_LVM_COW,
};

struct img_clone_opts {
    enum img_format fmt;       /* the source's format (from the configuration or -f; never guessed) */
    bool frozen;               /* see above */
    bool copy_ok;              /* frozen: a file that cannot be reflinked may be copied (its VM waits) */
    uint64_t cow_size;         /* classic LVM snapshots: COW bytes; 0: enough for the whole origin */
    bool progress;             /* a progress line for copies (when stderr is a terminal) */
};

struct img_clone_result {
    enum img_clone_method method;
    enum img_format fmt;       /* the new disk's format */
    char path[PATH_MAX];       /* the new disk: a file, or /dev/VG/NAME */
    char vg[LVM_NAME_MAX + 1], lv[LVM_NAME_MAX + 1];   /* LVM methods */
    uint64_t bytes_copied;     /* IMG_CLONE_COPY */
};

/* Makes dst from src.  dst must not exist (a file, or an LV in src's
 * volume group: NAME, VG/NAME or /dev/VG/NAME); nothing is ever
 * overwritten.  0 with *res, or -1 with the reason in err and nothing
 * left behind. */
int img_clone(const char *src, const char *dst, const struct img_clone_opts *o, struct img_clone_result *res,
              char *err, size_t errlen);

/* Removes what img_clone made (the file, or the snapshot LV). */
int img_clone_undo(const struct img_clone_result *res, char *err, size_t errlen);

/* "qcow2 overlay", "reflink", "sparse copy", "LVM thin snapshot",
 * "LVM snapshot". */
const char *img_clone_method_name(enum img_clone_method m);

#endif

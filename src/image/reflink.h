/* Copies that share blocks instead of moving them: FICLONE, which XFS
 * (reflink=1, mkfs.xfs's default since xfsprogs 5.1) and btrfs offer.  A
 * reflinked file costs no space until one side writes, and the clone takes
 * milliseconds whatever the image's size: the file system copies extent
 * references, not data. */
#ifndef VIREO_IMAGE_REFLINK_H
#define VIREO_IMAGE_REFLINK_H

#include <stddef.h>
#include <sys/types.h>

/* Creates dst (never replacing anything: -1 when it exists) with mode and
 * clones the whole of src_fd into it, then makes it durable (fsync of the
 * file and of its folder).  0 done; 1 when the file system cannot clone
 * (ext4, tmpfs, another file system than src's): dst is then removed
 * again; -1 with the reason in err. */
int reflink_file(int src_fd, const char *dst, mode_t mode, char *err, size_t errlen);

#endif

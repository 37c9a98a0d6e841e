#include "block/raw.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

int blk_cache_parse(const char *s, enum blk_cache *out)
{
    if (!strcmp(s, "none"))
        *out = BLK_CACHE_NONE;
    else if (!strcmp(s, "writeback"))
        *out = BLK_CACHE_WRITEBACK;
    else
        return -1;
    return 0;
}

int blk_file_open(struct blk_file *f, const char *path, bool ro, enum blk_cache cache,
                  char *err, size_t err_len)
{
    memset(f, 0, sizeof(*f));
    f->ro = ro;
    f->cache = cache;
    int flags = (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (cache == BLK_CACHE_NONE)
        flags |= O_DIRECT;
    f->fd = open(path, flags);
    if (f->fd < 0 && errno == EINVAL && cache == BLK_CACHE_NONE) {
        snprintf(err, err_len, "disk %s: cache=none needs O_DIRECT, which its file system does not "
                 "support (use cache=writeback)", path);
        return -1;
    }
    if (f->fd < 0) {
        snprintf(err, err_len, "disk %s: %s%s", path, strerror(errno),
                 errno == EACCES || errno == EROFS ? (ro ? "" : " (add ,ro for a read-only disk)") : "");
        return -1;
    }
    struct stat st;
    if (fstat(f->fd, &st) < 0) {
        snprintf(err, err_len, "disk %s: %s", path, strerror(errno));
        goto fail;
    }
    if (S_ISREG(st.st_mode)) {
        f->size = (uint64_t)st.st_size;
        f->logical_block = 512;
    } else if (S_ISBLK(st.st_mode)) {
        int lbs = 0;
        if (ioctl(f->fd, BLKGETSIZE64, &f->size) < 0 || ioctl(f->fd, BLKSSZGET, &lbs) < 0) {
            snprintf(err, err_len, "disk %s: cannot read the block device's size: %s", path, strerror(errno));
            goto fail;
        }
        f->is_bdev = true;
        f->logical_block = lbs >= 512 && lbs <= 65536 && !(lbs & (lbs - 1)) ? (uint32_t)lbs : 512;
    } else {
        snprintf(err, err_len, "disk %s: not a regular file or a block device", path);
        goto fail;
    }
    if (f->size % 512) {
        snprintf(err, err_len, "disk %s: size %llu is not a multiple of 512 bytes", path,
                 (unsigned long long)f->size);
        goto fail;
    }
    if (cache == BLK_CACHE_NONE)
        f->dio_align = f->logical_block;
    /* One writer or any number of readers, across processes (OFD locks
     * are per open file, so they also hold between two disks of one VM). */
    struct flock fl = {.l_type = ro ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(f->fd, F_OFD_SETLK, &fl) < 0) {
        if (errno == EAGAIN || errno == EACCES)
            snprintf(err, err_len, "disk %s: in use by another VM or process, which holds %s lock on it",
                     path, ro ? "a write" : "a");
        else
            snprintf(err, err_len, "disk %s: cannot lock: %s", path, strerror(errno));
        goto fail;
    }
    return 0;
fail:
    close(f->fd);
    f->fd = -1;
    return -1;
}

void blk_file_close(struct blk_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}

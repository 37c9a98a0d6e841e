#include "image/reflink.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/err.h"
#include "util/file.h"

int reflink_file(int src_fd, const char *dst, mode_t mode, char *err, size_t errlen)
{
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0)
        return err_fail(err, errlen, "%s: %s", dst, strerror(errno));
    if (ioctl(fd, FICLONE, src_fd) < 0) {
        int e = errno;
        close(fd);
        unlink(dst);
        /* EXDEV: another file system; EINVAL, EOPNOTSUPP, ENOTTY: this one
         * cannot (or the source is not a regular file). */
        if (e == EOPNOTSUPP || e == EXDEV || e == EINVAL || e == ENOTTY || e == ENOSYS)
            return 1;
        return err_fail(err, errlen, "%s: cannot clone the blocks (FICLONE): %s", dst, strerror(e));
    }
    if (fsync(fd) < 0 || fsync_parent_dir(dst) < 0) {
        int e = errno;
        close(fd);
        unlink(dst);
        return err_fail(err, errlen, "%s: %s", dst, strerror(e));
    }
    close(fd);
    return 0;
}

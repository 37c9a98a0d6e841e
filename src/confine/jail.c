#include "confine/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/err.h"
#include "util/sanitized.h"

/* Where the new root is mounted first: any existing directory will do,
 * the mount is in our namespace only. */
static const char *const mount_points[] = {"/tmp", "/mnt", "/run", "/var/tmp"};

static int proc_instance(int *proc_fd)
{
    *proc_fd = -1;
    if (mkdir("proc", 0555) < 0)
        return -1;
    int r = mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=invisible,subset=pid");
    if (r == 0) {
        *proc_fd = open("proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (SANITIZED)
            return 0;
        /* The descriptor keeps the instance; no path leads to it. */
        umount2("proc", MNT_DETACH);
    }
    rmdir("proc");
    return *proc_fd >= 0 ? 0 : -1;
}

int confine_jail_enter(int *proc_fd, const char **how, char *err, size_t errlen)
{
    *proc_fd = -1;
    *how = "";
    if (unshare(CLONE_NEWNS) < 0)
        return err_fail(err, errlen, "jail: a mount namespace of its own: %s", strerror(errno));
    /* Nothing we do from here propagates to the host's mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return err_fail(err, errlen, "jail: making the mounts private: %s", strerror(errno));
    const char *at = NULL;
    for (size_t i = 0; !at && i < sizeof(mount_points) / sizeof(mount_points[0]); i++) {
        struct stat st;
        if (lstat(mount_points[i], &st) == 0 && S_ISDIR(st.st_mode) &&
            mount("vireo-jail", mount_points[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") == 0)
            at = mount_points[i];
    }
    if (!at)
        return err_fail(err, errlen, "jail: cannot mount its root (tmpfs) on /tmp, /mnt, /run or /var/tmp: %s",
                        strerror(errno));
    if (chdir(at) < 0)
        return err_fail(err, errlen, "jail: %s: %s", at, strerror(errno));
    proc_instance(proc_fd);
    /* pivot_root(".", "."): the old root ends up under the new one, and is
     * then detached (runc's way, no directory for it needed). */
    if (syscall(SYS_pivot_root, ".", ".") == 0) {
        if (umount2(".", MNT_DETACH) < 0)
            return err_fail(err, errlen, "jail: detaching the old root: %s", strerror(errno));
        *how = "pivot_root";
    } else {
        /* The root is the initramfs (rootfs cannot be pivoted away); a
         * chroot holds a process without CAP_SYS_CHROOT just as well, and
         * no descriptor of ours is a directory outside. */
        if (chroot(".") < 0)
            return err_fail(err, errlen, "jail: pivot_root and chroot refused: %s", strerror(errno));
        *how = "chroot";
    }
    if (chdir("/") < 0)
        return err_fail(err, errlen, "jail: chdir /: %s", strerror(errno));
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        return err_fail(err, errlen, "jail: making its root read-only: %s", strerror(errno));
    return 0;
}

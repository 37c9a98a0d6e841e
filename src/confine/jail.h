/* The VM process's file system view once it has opened everything it
 * uses: a private mount namespace whose root is an empty, read-only tmpfs
 * (Firecracker's jailer pivots into a chroot of its own likewise).  No
 * host file can be opened by path from there: images, TAPs, /dev/kvm, the
 * log and the control socket are descriptors opened before. */
#ifndef VIREO_CONFINE_JAIL_H
#define VIREO_CONFINE_JAIL_H

#include <stddef.h>

/* Needs CAP_SYS_ADMIN (root, before dropping privileges).  *proc_fd gets a
 * directory descriptor of /proc/self in a proc instance of the jail's own
 * (hidepid=invisible, subset=pid: the processes this one may ptrace, so
 * itself only once it is unprivileged; no /proc/sys and the like), reached
 * by no path; -1 where the kernel cannot mount such an instance (before
 * Linux 5.8).  *how says "pivot_root" or "chroot" (where pivot_root is
 * refused: the root is the initramfs).  -1 with err. */
int confine_jail_enter(int *proc_fd, const char **how, char *err, size_t errlen);

#endif

/* A file the VMM appends to on the guest's behalf (its log, a serial
 * console written to a file), which root may have to open in a directory
 * others can write, and which the guest must not be able to grow without
 * end.
 *
 * Opening: PATH and PATH.1, each with O_NOFOLLOW (a symbolic link planted
 * there is refused rather than followed to whatever it names), then only a
 * regular file with a single link is accepted (not a FIFO, device or hard
 * link to another file); O_CLOEXEC; created with the given mode.  PATH.1
 * is created at once (empty) if it is not there.
 *
 * Size: when a write would take PATH past max bytes, its content is copied
 * over PATH.1's and PATH is truncated (logrotate's copytruncate), so the
 * two together never exceed 2 * max, as with libvirt's virtlogd.  Both are
 * the descriptors opened at the start: a rotation never resolves a path
 * (nothing planted since is followed, and it works in the VM process's
 * jail, which has none).  Should the copy fail (a full disk), a last line
 * says so and writing stops. */
#ifndef VIREO_UTIL_CAPFILE_H
#define VIREO_UTIL_CAPFILE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CAPFILE_DEFAULT_MAX (2u << 20)   /* virtlogd's max_size */
#define CAPFILE_MIN_MAX     4096u

struct capfile {
    pthread_mutex_t lock;
    int fd;                /* PATH, appended to; -1: closed */
    int old_fd;            /* PATH.1 */
    char path[4096];
    uint64_t size, max;
    bool stopped;          /* rotation failed: writes are dropped */
    bool onto_stdio;       /* the file is also fds 1 and 2 (capfile_onto_stdio) */
    unsigned rotations;
};

/* Opens path (and path.1) as above; -1 with err ("PATH: is a symbolic
 * link...") and errno (ELOOP, EINVAL for a non-regular file, EMLINK for
 * one with several links, or open's). */
int capfile_open(struct capfile *f, const char *path, uint64_t max, mode_t mode, char *err, size_t errlen);

/* Appends n bytes (at most max of them), rotating first if they would not
 * fit.  Never fails: what cannot be written is dropped.  Thread-safe. */
void capfile_write(struct capfile *f, const void *buf, size_t n);

/* Makes fds 1 and 2 the file, so that what bypasses stdio (a sanitizer's
 * report, glibc's abort message) lands in it too (it stays the same file
 * across rotations); stdio itself should write through capfile_write
 * (fopencookie) to be capped. */
void capfile_onto_stdio(struct capfile *f);

void capfile_close(struct capfile *f);

#endif

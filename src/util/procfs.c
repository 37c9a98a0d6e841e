#include "util/procfs.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>

static atomic_int self_fd = -1;

void procfs_set_self(int fd)
{
    atomic_store(&self_fd, fd);
}

int procfs_open_self(const char *rel)
{
    int fd = atomic_load(&self_fd);
    if (fd >= 0)   /* the flags the main thread's seccomp filter allows */
        return openat(fd, rel, O_RDONLY | O_CLOEXEC);
    char path[256];
    snprintf(path, sizeof(path), "/proc/self/%s", rel);
    return open(path, O_RDONLY | O_CLOEXEC);
}

#include "confine/seccomp_bpf.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* libseccomp 2.5 exports a program only to a file descriptor. */
int confine_bpf_export(scmp_filter_ctx f, struct sock_fprog *out)
{
    int fd = memfd_create("vireo-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = seccomp_export_bpf(f, fd);
    off_t size = r == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (r == 0 && (size <= 0 || size % sizeof(struct sock_filter) || size / sizeof(struct sock_filter) > BPF_MAXINSNS))
        r = -E2BIG;
    struct sock_filter *prog = r == 0 ? malloc((size_t)size) : NULL;
    if (r == 0 && (!prog || pread(fd, prog, (size_t)size, 0) != size))
        r = -ENOMEM;
    close(fd);
    if (r < 0) {
        free(prog);
        return r;
    }
    out->len = (unsigned short)(size / sizeof(struct sock_filter));
    out->filter = prog;
    return 0;
}

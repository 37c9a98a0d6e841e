#include "page_dirty.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define KPF_DIRTY 4
#define PFN_MASK ((1ULL << 55) - 1)

int file_range_dirty(const char *path, uint64_t off, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t start = off & ~(uint64_t)(page - 1);
    size_t span = (size_t)(off + len - start);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    int kf = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
    int ret = -1, err = 0;
    uint8_t *p = MAP_FAILED;
    if (fd < 0 || pm < 0 || kf < 0) {
        err = errno;
        goto out;
    }
    p = mmap(NULL, span, PROT_READ, MAP_SHARED, fd, (off_t)start);
    if (p == MAP_FAILED) {
        err = errno;
        goto out;
    }
    ret = 0;
    for (size_t at = 0; at < span; at += (size_t)page) {
        (void)*(volatile uint8_t *)(p + at);   /* maps the page cache's page */
        uint64_t ent, flags;
        if (pread(pm, &ent, 8, (off_t)(((uintptr_t)p + at) / (uint64_t)page * 8)) != 8) {
            err = errno;
            ret = -1;
            break;
        }
        uint64_t pfn = ent & PFN_MASK;
        if (!(ent >> 63) || !pfn) {
            err = EPERM;   /* PFNs are hidden from unprivileged readers */
            ret = -1;
            break;
        }
        if (pread(kf, &flags, 8, (off_t)(pfn * 8)) != 8) {
            err = errno;
            ret = -1;
            break;
        }
        if (flags & (1ULL << KPF_DIRTY))
            ret = 1;
    }
out:
    if (p != MAP_FAILED)
        munmap(p, span);
    if (fd >= 0)
        close(fd);
    if (pm >= 0)
        close(pm);
    if (kf >= 0)
        close(kf);
    errno = err;
    return ret;
}

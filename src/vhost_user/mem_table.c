#include "vhost_user/mem_table.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "vhost_user/sigbus_guard.h"

void *vu_mem_uva_ptr(const struct vu_mem *m, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct vu_region *r = &m->regions[i];
        if (uva >= r->uva && uva - r->uva <= r->size && len <= r->size - (uva - r->uva))
            return r->host + (uva - r->uva);
    }
    return NULL;
}

void vu_mem_unmap(struct vu_mem *m)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        vu_guard_remove(m->regions[i].guard);
        munmap(m->regions[i].map, m->regions[i].map_len);
    }
    memset(m, 0, sizeof(*m));
}

int vu_mem_faulted(const struct vu_mem *m)
{
    for (unsigned i = 0; i < m->nregions; i++)
        if (vu_guard_faulted(m->regions[i].guard))
            return (int)i;
    return -1;
}

static const char *file_kind(mode_t mode)
{
    return S_ISDIR(mode) ? "a directory" : S_ISCHR(mode) ? "a character device" : S_ISBLK(mode) ? "a block device"
         : S_ISFIFO(mode) ? "a pipe" : S_ISSOCK(mode) ? "a socket" : "not a file";
}

/* Maps region k; NULL or why not. */
static const char *map_region(struct vu_mem *m, unsigned k, const struct vhost_user_region *r, int fd,
                              int fault_fd, char *why, size_t why_len)
{
    uint64_t len = r->memory_size + r->mmap_offset;
    if (r->memory_size == 0)
        return "empty memory region";
    if (len < r->mmap_offset || r->userspace_addr + r->memory_size < r->userspace_addr)
        return "memory region wraps around the address space";
    struct stat st;
    if (fstat(fd, &st) < 0)
        return "memory region fd cannot be examined";
    /* Guest memory is a file (memfd, tmpfs, hugetlbfs).  A device's
     * mapping could have side effects, and its size cannot be checked. */
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "memory region %u is %s, not a memfd or a file", k, file_kind(st.st_mode));
        return why;
    }
    /* Pages past the end of the file would SIGBUS us on first touch; if it
     * shrinks later, the guard takes the fault. */
    if (len > (uint64_t)st.st_size) {
        snprintf(why, why_len, "memory region %u ends at byte %llu of a file of %lld bytes", k,
                 (unsigned long long)len, (long long)st.st_size);
        return why;
    }
    void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(why, why_len, "memory region %u cannot be mapped: %s", k, strerror(errno));
        return why;
    }
    struct vu_region *v = &m->regions[k];
    *v = (struct vu_region){r->userspace_addr, r->memory_size, (uint8_t *)p + r->mmap_offset, p, (size_t)len, -1};
    const char *e = NULL;
    if (memmap_add(&m->map, r->guest_phys_addr, r->memory_size, v->host) < 0)
        e = "memory region overlaps another or wraps guest-physical addresses";
    else if ((v->guard = vu_guard_add(p, (size_t)len, fault_fd)) < 0)
        e = "too many memory regions mapped in this process";
    if (e) {
        munmap(p, (size_t)len);
        return e;
    }
    m->nregions = k + 1;
    return NULL;
}

const char *vu_mem_map(struct vu_mem *m, const struct vhost_user_mem *msg, uint32_t size, const int *fds,
                       unsigned nfds, int fault_fd, char *why, size_t why_len)
{
    memset(m, 0, sizeof(*m));
    if (size < 8 || msg->nregions == 0 || msg->nregions > VHOST_USER_MAX_REGIONS) {
        snprintf(why, why_len, "memory table of %u regions (1 to %u)", size < 8 ? 0 : msg->nregions,
                 VHOST_USER_MAX_REGIONS);
        return why;
    }
    if (size != 8 + msg->nregions * sizeof(struct vhost_user_region)) {
        snprintf(why, why_len, "memory table of %u regions in a payload of %u bytes", msg->nregions, size);
        return why;
    }
    if (nfds != msg->nregions) {
        snprintf(why, why_len, "memory table of %u regions with %u file descriptors", msg->nregions, nfds);
        return why;
    }
    for (unsigned k = 0; k < msg->nregions; k++) {
        const char *e = map_region(m, k, &msg->regions[k], fds[k], fault_fd, why, why_len);
        if (e) {
            vu_mem_unmap(m);
            return e;
        }
    }
    return NULL;
}

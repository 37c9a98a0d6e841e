/* A vhost-user front-end's memory table (SET_MEM_TABLE): its regions
 * mapped into this process, with guest-physical (memmap) and front-end
 * virtual (ring addresses) translation.  Each mapping is watched by the
 * SIGBUS guard (sigbus_guard.h): the front-end keeps the files and may
 * shrink them under us. */
#ifndef VIREO_VHOST_USER_MEM_TABLE_H
#define VIREO_VHOST_USER_MEM_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "mem/memmap.h"
#include "vhost_user/protocol.h"

struct vu_region {
    uint64_t uva, size;        /* the front-end's address and length */
    uint8_t *host;             /* where the region starts in our mapping */
    void *map;                 /* the mapping: from file offset 0 */
    size_t map_len;
    int guard;                 /* its SIGBUS guard slot */
};

struct vu_mem {
    struct memmap map;         /* guest-physical -> host, for the device */
    unsigned nregions;
    struct vu_region regions[VHOST_USER_MAX_REGIONS];
};

/* Maps the regions of a SET_MEM_TABLE payload of size bytes, region k from
 * fds[k] (a regular file: memfd, tmpfs, hugetlbfs), into m (which must be
 * empty); a fault in any of them signals fault_fd.  NULL on success; else
 * why not (a literal, or formatted into why), with nothing left mapped.
 * The fds stay the caller's: the mappings hold their own references. */
const char *vu_mem_map(struct vu_mem *m, const struct vhost_user_mem *msg, uint32_t size, const int *fds,
                       unsigned nfds, int fault_fd, char *why, size_t why_len);
/* Only once nothing accesses the regions any more (queues stopped). */
void vu_mem_unmap(struct vu_mem *m);

/* The first region that faulted (its file shrank), or -1. */
int vu_mem_faulted(const struct vu_mem *m);

/* Front-end virtual address to our pointer, for ring addresses: NULL
 * unless [uva, uva+len) lies inside one region. */
void *vu_mem_uva_ptr(const struct vu_mem *m, uint64_t uva, uint64_t len);

#endif

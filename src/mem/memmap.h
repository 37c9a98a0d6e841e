/* Guest memory: the guest-physical ranges that are RAM and the host memory
 * behind each, for everything that touches guest RAM: the boot loader and
 * the ACPI builder (the VMM's own RAM) and the device models (the VMM's
 * RAM, or a vhost-user front-end's shared regions).  Every guest address
 * becomes a host pointer here and nowhere else, after a check that the
 * whole range is RAM; what later needs to see every guest page (dirty
 * tracking for snapshots, ballooning) has one place to hook in. */
#ifndef VIREO_MEM_MEMMAP_H
#define VIREO_MEM_MEMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MEMMAP_MAX_REGIONS 16

struct memmap_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
};

struct memmap {
    unsigned count;
    struct memmap_region r[MEMMAP_MAX_REGIONS];
    uint8_t *owned;            /* memmap_alloc's mapping, NULL when the regions are someone else's */
    uint64_t owned_size;
    bool hugetlb;              /* owned is backed by 2 MiB hugetlb pages (MEMMAP_HUGETLB) */
};

/* A guest-physical range, for memmap_alloc. */
struct memmap_range {
    uint64_t gpa;
    uint64_t size;
};

/* -1 if the table is full, the region is empty, wraps, or overlaps another. */
int memmap_add(struct memmap *m, uint64_t gpa, uint64_t size, void *host);

/* The VMM's own guest RAM: one anonymous host mapping, starting at a
 * multiple of MEMMAP_RAM_ALIGN (a huge page), laid out as the ranges in
 * order, into an empty map.  -1 with errno on failure. */
#define MEMMAP_RAM_ALIGN ((uint64_t)2 << 20)
int memmap_alloc(struct memmap *m, const struct memmap_range *ranges, unsigned n);

/* The same from the host's reserved 2 MiB huge pages (hugetlb, reserved at
 * once: a host with too few fails here, with ENOMEM, not later with
 * SIGBUS); every range must be a multiple of 2 MiB (EINVAL). */
#define MEMMAP_HUGE_PAGE ((uint64_t)2 << 20)
int memmap_alloc_hugetlb(struct memmap *m, const struct memmap_range *ranges, unsigned n);

/* Whether the host has bytes of free 2 MiB huge pages, read from sysfs
 * (sysfs_root, "/sys" but for tests): 0, or -1 with a message naming
 * /proc/sys/vm/nr_hugepages and how many pages are missing. */
int memmap_hugetlb_check(const char *sysfs_root, uint64_t bytes, char *err, size_t errlen);
/* Unmaps what memmap_alloc mapped and empties the map. */
void memmap_free(struct memmap *m);

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL.
 * len 0 is allowed (returns a pointer if gpa is inside or at the end of a
 * region). */
void *memmap_ptr(const struct memmap *m, uint64_t gpa, uint64_t len);

/* Appends host iovecs covering [gpa, gpa+len), split where regions meet
 * (adjacent regions may hold one buffer).  Returns the number of iovecs
 * added; -1 if any byte is outside guest memory, -2 if more than max would
 * be needed. */
int memmap_iov(const struct memmap *m, uint64_t gpa, uint64_t len, struct iovec *iov, unsigned max);

/* Gives the host memory behind [host, host+len), a range of one region's
 * mapping, back to the host (a balloon, free-page reporting): the guest
 * reads zeroes there until it writes again.  Only whole host pages inside
 * the range are discarded (2 MiB ones with hugetlb: a guest's 4 KiB
 * balloon pages free memory only where they fill a whole huge page); returns the bytes discarded (0 if no whole
 * page), -1 if the range is not guest RAM or the kernel refused. */
int64_t memmap_discard(const struct memmap *m, void *host, uint64_t len);

#endif

/* Guest-physical to host-virtual translation for the device models, the
 * same whether guest RAM is the VMM's own (vm/guest_mem) or a vhost-user
 * front-end's shared regions.  Every address a guest hands a device goes
 * through here; nothing else turns a guest address into a pointer. */
#ifndef VIREO_VIRTIO_MEMMAP_H
#define VIREO_VIRTIO_MEMMAP_H

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
};

/* -1 if the table is full, the region is empty, wraps, or overlaps another. */
int memmap_add(struct memmap *m, uint64_t gpa, uint64_t size, void *host);

/* Host pointer for [gpa, gpa+len) if it lies inside one region, else NULL.
 * len 0 is allowed (returns a pointer if gpa is inside or at the end of a
 * region). */
void *memmap_ptr(const struct memmap *m, uint64_t gpa, uint64_t len);

/* Appends host iovecs covering [gpa, gpa+len), split where regions meet
 * (adjacent regions may hold one buffer).  Returns the number of iovecs
 * added; -1 if any byte is outside guest memory, -2 if more than max would
 * be needed. */
int memmap_iov(const struct memmap *m, uint64_t gpa, uint64_t len, struct iovec *iov, unsigned max);

#endif

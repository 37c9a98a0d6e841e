/* virtio-balloon (virtio 1.x, 5.5): the device model, independent of the
 * transport and of the toolstack.  The guest gives pages back through the
 * inflate queue (the host discards them: their memory returns to the
 * host), takes them back through the deflate queue (they fault in again,
 * zeroed, on first touch), reports its memory figures on the statistics
 * queue and, with free-page reporting, hands over ranges it has freed.
 * Every PFN, length and statistic is the guest's: pages outside its RAM,
 * repeats and malformed buffers are counted and ignored, never touched.
 * Queues are served on one event loop (the VM's); the API below may be
 * called from any thread. */
#ifndef VIREO_VIRTIO_BALLOON_H
#define VIREO_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/event_loop.h"
#include "mem/memmap.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_BALLOON 5

#define VIRTIO_BALLOON_F_STATS_VQ       1
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM 2
#define VIRTIO_BALLOON_F_REPORTING      5

#define VBALLOON_PAGE_SIZE  4096u        /* balloon PFNs are 4 KiB whatever the guest's page size */
#define VBALLOON_QUEUE_SIZE 128

/* Statistic tags (5.5.6.3). */
enum {
    VBALLOON_S_SWAP_IN, VBALLOON_S_SWAP_OUT, VBALLOON_S_MAJFLT, VBALLOON_S_MINFLT, VBALLOON_S_MEMFREE,
    VBALLOON_S_MEMTOT, VBALLOON_S_AVAIL, VBALLOON_S_CACHES, VBALLOON_S_HTLB_PGALLOC, VBALLOON_S_HTLB_PGFAIL,
    VBALLOON_S_NR
};

struct vballoon_opts {
    const char *name;          /* for log lines: "balloon" */
    bool stats;                /* offer the statistics queue */
    bool deflate_on_oom;
    bool reporting;            /* free-page reporting */
};

/* The guest's last statistics, as it sent them (bytes for the memory
 * figures, counts for the rest); valid has bit i set for tag i. */
struct vballoon_guest_stats {
    uint64_t val[VBALLOON_S_NR];
    uint32_t valid;
    uint64_t updates;          /* statistics buffers received */
};

/* What the device did and refused, never silently. */
struct vballoon_counters {
    uint64_t target_pages;     /* the host's num_pages */
    uint64_t actual_pages;     /* what the guest wrote in config space (its claim) */
    uint64_t ballooned_pages;  /* pages in the balloon now, as the device counted them */
    uint64_t inflated, deflated;        /* pages taken in and given back */
    uint64_t bad_pfns;         /* outside guest RAM or in a hole */
    uint64_t inflate_repeats;  /* already in the balloon */
    uint64_t deflate_unknown;  /* not in the balloon */
    uint64_t discard_errors;   /* madvise refused */
    uint64_t bad_buffers;      /* odd lengths, wrong direction, too long */
    uint64_t stats_unknown_tags;
    uint64_t reports, reported_bytes;   /* free-page reporting */
    uint64_t report_small;     /* reported ranges without one whole page */
};

struct vballoon;

/* The device for guest RAM mem (which must outlive it); loop serves its
 * queues.  On failure err says why. */
struct vballoon *vballoon_new(const struct vballoon_opts *opts, const struct memmap *mem, struct event_loop *loop,
                              char *err, size_t errlen);
void vballoon_free(struct vballoon *b);
struct virtio_dev *vballoon_dev(struct vballoon *b);

/* Asks the guest to hold pages 4 KiB pages in its balloon (config space
 * num_pages, then a configuration-change interrupt).  -1 if that is more
 * than its RAM.  The guest may take its time, refuse, or (with
 * DEFLATE_ON_OOM) deflate under memory pressure: read the counters. */
int vballoon_set_target(struct vballoon *b, uint64_t pages);
void vballoon_get_counters(struct vballoon *b, struct vballoon_counters *c);
void vballoon_get_guest_stats(struct vballoon *b, struct vballoon_guest_stats *s);
/* Gives the guest its statistics buffer back so that it sends fresh
 * figures (the driver refills it at once).  False if it holds none. */
bool vballoon_request_stats(struct vballoon *b);
/* Whether the 4 KiB page at gpa is in the balloon (for dirty tracking and
 * snapshots: its content is zero and need not be copied). */
bool vballoon_page_ballooned(struct vballoon *b, uint64_t gpa);

#endif

/* The qcow2 core's state, shared by its files (qcow2_*.c); not for
 * callers, who use qcow2.h. */
#ifndef VIREO_BLOCK_QCOW2_INT_H
#define VIREO_BLOCK_QCOW2_INT_H

#include <pthread.h>

#include "block/qcow2.h"
#include "block/qcow2_header.h"

#define L1E_OFFSET_MASK 0x00fffffffffffe00ull
#define L2E_OFFSET_MASK 0x00fffffffffffe00ull
#define RTE_OFFSET_MASK 0xfffffffffffffe00ull
#define OFLAG_COPIED (1ull << 63)
#define OFLAG_COMPRESSED (1ull << 62)
#define OFLAG_ZERO 1ull

/* A cache of metadata slices (L2 tables or refcount blocks, read and
 * written in pieces of `size` bytes), CLOCK replacement, write-back. */
struct q2_slot {
    uint64_t off;          /* file offset of the slice; 0: free slot */
    uint8_t *buf;
    int32_t next;          /* hash chain */
    uint16_t pins;
    uint8_t dirty, ref;
};

struct q2_cache {
    struct q2_slot *s;
    uint32_t cap, used;    /* slots allowed, slots with a buffer */
    int32_t *bucket;
    uint32_t nbucket;
    uint32_t hand;
    uint32_t size;
    uint32_t ndirty;
    bool is_l2;
};

/* A refcount decrease waiting until the reference it drops is gone on
 * disk (meta_gen) and no I/O mapped before it is in flight (epoch). */
struct q2_pending {
    uint64_t c, n;         /* clusters [c, c+n) */
    uint64_t gen, epoch;
};

struct q2_region {         /* clusters [start, end) holding fixed metadata */
    uint64_t start, end;
};

struct q2_clset {          /* a set of cluster numbers (open addressing) */
    uint64_t *slot;        /* cluster + 1; 0 is empty */
    uint32_t cap, n;
};

enum q2_type { Q2_UNALLOC, Q2_ZERO_PLAIN, Q2_ZERO_ALLOC, Q2_NORMAL, Q2_COMPRESSED };

struct qcow2 {
    pthread_mutex_t lock;
    struct bfile *file;
    char *path;
    bool ro, inspect;
    bool broken;               /* corruption found: every request fails */
    struct qcow2_header h;
    char unsupported[512];     /* inspect mode: why a normal open refuses */
    char *chain_error;

    /* geometry */
    uint32_t cb;               /* cluster bits */
    uint64_t cs;
    uint32_t l2_bits;          /* log2 of entries per L2 table */
    uint32_t slice;            /* bytes per cached slice */
    uint32_t slice_bits;       /* log2 of L2 entries per slice */
    uint32_t rb_bits;          /* log2 of refcounts per refcount block */
    uint64_t rc_max;
    uint32_t csize_shift;
    uint64_t csize_mask, coff_mask;

    /* tables held in memory, host byte order, dirty per 512-byte sector */
    uint64_t *l1;
    uint32_t l1_size;
    uint8_t *l1_dirty;
    uint64_t *rt;
    uint32_t rt_size;
    uint8_t *rt_dirty;
    bool rt_changed, l1_changed;   /* some sector of the table is dirty */

    struct q2_cache l2c, rcc;
    struct qcow2_snap *snaps;
    uint64_t snap_bytes;

    /* what data must never overwrite and allocation never hand out */
    struct q2_region *reg;
    uint32_t nreg;
    struct q2_clset meta;      /* L2 tables of the active L1, refcount blocks */

    /* allocation */
    uint64_t free_hint;        /* no free cluster below it */
    uint64_t zero_from;        /* bytes from here on were never written: they read as zeroes */
    uint64_t file_size;        /* the file is at least this long */
    struct q2_pending *pend;
    uint32_t npend, cap_pend;
    bool pend_full_logged;
    uint64_t meta_gen;         /* write-backs completed */
    uint64_t epoch, drained;   /* tickets: all with epoch <= drained have ended */
    uint32_t ecount[2];
    struct qcow2_wplan *inflight;
    /* Writes since the last fdatasync: a generation per write, and the
     * newest generation an fdatasync covered.  A flush run outside the
     * lock (qcow2_bdev's async one) reports its generation back, so a
     * write that completed while it ran still counts as unsynced. */
    uint64_t write_gen, sync_gen;
    /* Linux reports a write-back error to one of two fdatasyncs that
     * overlap on one open file, so none may: one asynchronous FLUSH
     * fdatasync at a time (the others wait for its end), and the
     * synchronous ones, which run under the lock while it may be in
     * flight, on a second open file of their own (qcow2_set_sync_file)
     * that Linux tells of every error once more. */
    bool sync_running;
    struct qcow2_wait *sync_waiters;
    struct bfile *sync_file;   /* NULL: the synchronous ones use file */

    struct qcow2_link backing;
    char *backing_path;
};

typedef unsigned long long ull;

/* qcow2_open.c */
void q2_lock(struct qcow2 *q);
void q2_unlock(struct qcow2 *q);
/* Marks the image corrupt (the bit in a version 3 header, QEMU's way) and
 * broken; the message goes to stderr once.  Returns -EIO. */
int q2_corrupt(struct qcow2 *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int q2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);
int q2_sync(struct qcow2 *q);
/* Data or metadata was written since the last fdatasync. */
static inline bool q2_unsynced(const struct qcow2 *q)
{
    return q->write_gen != q->sync_gen;
}
static inline void q2_mark_written(struct qcow2 *q)
{
    q->write_gen++;
}
/* Wakes a list of waiters taken off the image under the lock, after it
 * was released (a wake may run the waiter at once). */
static inline void q2_wake_all(struct qcow2_wait *w)
{
    while (w) {
        struct qcow2_wait *next = w->next;
        w->wake(w);
        w = next;
    }
}
/* An fdatasync that began after generation gen ended with r (0 or
 * -errno); the lock is held. */
int q2_synced(struct qcow2 *q, uint64_t gen, int r);
/* Writes header bytes [off, off+len) from the in-memory header. */
int q2_header_write(struct qcow2 *q, unsigned off, unsigned len);
bool q2_is_metadata(const struct qcow2 *q, uint64_t cluster);
int q2_regions_build(struct qcow2 *q);
int q2_clset_add(struct q2_clset *s, uint64_t c);
void q2_clset_del(struct q2_clset *s, uint64_t c);
bool q2_clset_has(const struct q2_clset *s, uint64_t c);
/* The file covers [0, end) (grown in steps, so allocation rarely
 * truncates). */
int q2_file_cover(struct qcow2 *q, uint64_t end);

/* qcow2_cache.c */
int q2c_init(struct q2_cache *c, uint32_t cap, uint32_t size, bool is_l2);
void q2c_free(struct q2_cache *c);
/* The slice at off, pinned; read from the file on a miss, or zeroes when
 * `zero` (a slice known to read as zeroes). */
int q2c_get(struct qcow2 *q, struct q2_cache *c, uint64_t off, bool zero, struct q2_slot **out);
void q2c_put(struct q2_cache *c, struct q2_slot *s);
void q2c_dirty(struct q2_cache *c, struct q2_slot *s);
int q2c_write_dirty(struct qcow2 *q, struct q2_cache *c);
/* Cached slices in [off, off+len) become zeroes and clean: the clusters
 * were freed and now hold a new, empty table. */
void q2c_forget(struct q2_cache *c, uint64_t off, uint64_t len);
/* Cached slices in [off, off+len) take the bytes just written there from
 * buf (clean): a table was copied into clusters that may have held
 * another one. */
void q2c_fill(struct q2_cache *c, uint64_t off, const uint8_t *buf, uint64_t len);
/* Forgets every slice (they must be clean). */
void q2c_reset(struct q2_cache *c);

/* qcow2_refcount.c */
/* A refcount of `order` at bit offset `bit` of a refcount block's bytes. */
uint64_t q2_rc_load(const uint8_t *p, uint64_t bit, unsigned order);
void q2_rc_store(uint8_t *p, uint64_t bit, unsigned order, uint64_t v);
int q2_rc_get(struct qcow2 *q, uint64_t c, uint64_t *v);
int q2_rc_set(struct qcow2 *q, uint64_t c, uint64_t v);
/* Reserves up to `want` contiguous free clusters (refcount 1): the first
 * `*got` from `*start`.  *fresh: they were never written (read as zeroes). */
int q2_alloc(struct qcow2 *q, uint64_t want, uint64_t *start, uint64_t *got, bool *fresh);
/* Exactly n contiguous clusters, past everything in use. */
int q2_alloc_end(struct qcow2 *q, uint64_t n, uint64_t *start);
/* Drops one reference to each cluster the byte range [off, off+len)
 * touches: later (q2_pending) or now (nothing on disk refers to them and
 * no I/O can be in flight there). */
int q2_unref_later(struct qcow2 *q, uint64_t off, uint64_t len);
int q2_unref_now(struct qcow2 *q, uint64_t c, uint64_t n);
int q2_apply_pending(struct qcow2 *q);
/* A cluster about to hold a new table: no slice of the table it held
 * before it was freed may be found with stale contents. */
void q2_forget_cluster(struct qcow2 *q, uint64_t c);
/* n clusters from `off` on are about to hold new tables: zeroes on disk
 * (written unless they never were). */
int q2_zero_new(struct qcow2 *q, uint64_t off, uint64_t n);
/* The reftable entries [0, rt_size) as a table on disk at a new place
 * (grown to at least `entries`); writes it and switches the header to it. */
int q2_reftable_grow(struct qcow2 *q, uint64_t entries);

/* qcow2_map.c */
enum q2_type q2_type_of(const struct qcow2 *q, uint64_t e);
/* Checks an L2 entry; -EIO (corrupt) if it is malformed. */
int q2_entry_check(struct qcow2 *q, uint64_t e, uint64_t gc);
/* The compressed cluster's bytes in the file. */
void q2_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len);
int q2_l2_slice(struct qcow2 *q, uint64_t l2_off, uint64_t gc, struct q2_slot **s, uint64_t **entry);

/* qcow2_flush.c */
int q2_writeback(struct qcow2 *q);
void q2_epoch_advance(struct qcow2 *q);
uint64_t q2_ticket(struct qcow2 *q);

/* qcow2_repair.c */
int q2_repair(struct qcow2 *q, char *err, size_t errlen);

/* qcow2_backing.c */
int q2_open_backing(struct qcow2 *q, const struct qcow2_open_opts *o, unsigned depth, const char *chain,
                    const struct bfile **ancestors, char *err, size_t errlen);
void q2_close_backing(struct qcow2 *q);

/* shared with qcow2_backing.c: open with the chain's context */
int q2_open_depth(struct qcow2 **out, struct bfile *file, const char *path, const struct qcow2_open_opts *o,
                  unsigned depth, const char *chain, const struct bfile **ancestors, char *err, size_t errlen);

static inline uint64_t q2_min(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t q2_max(uint64_t a, uint64_t b) { return a > b ? a : b; }

#endif

/* The qcow2 format (QEMU's docs/interop/qcow2.txt): versions 2 and 3,
 * clusters of 512 B to 2 MiB, refcounts of any width QEMU writes,
 * compressed clusters (zlib, zstd), internal snapshots (kept intact by
 * copy-on-write), backing chains of raw and qcow2 images.
 *
 * Synchronous metadata, asynchronous data.  The core maps a guest range
 * to host extents and keeps the metadata (L1, cached L2 slices, refcounts);
 * the caller moves the data, synchronously (qcow2_sync.c) or with an
 * asynchronous engine:
 *
 *   read:  qcow2_map_read -> for each extent: DATA: read the image file at
 *          `host`; ZERO: zeroes; BACKING: read the backing image (same
 *          guest offsets); COMPRESSED: read qcow2_compressed_span and
 *          qcow2_decompress it -> qcow2_io_end(ticket)
 *   write: qcow2_write_prepare -> read the copy-on-write sources of
 *          head/tail (like a read) -> write head | data | tail to the file
 *          at host - head.len -> qcow2_write_done(result)
 *   discard, write-zeroes: qcow2_zero (cluster-aligned part; metadata only)
 *   flush: qcow2_flush, or qcow2_writeback then fdatasync of the file
 *
 * Threads and locking.  Every function takes the image's mutex itself;
 * callers hold no lock.  Any thread may call; an L2-cache hit costs a
 * mutex round trip and no system call.  Metadata I/O (cache misses,
 * allocation, write-back) is done synchronously by the calling thread
 * while it holds the image's mutex, so allocation is serialized per image
 * (a backing image has its own mutex).  Data I/O is never done under the
 * mutex.  Wait callbacks (qcow2_wait) run on the thread that calls
 * qcow2_write_done, after the mutex is released.
 *
 * Crash consistency (QEMU's ordering): data before the L2 entry pointing
 * to it, refcount increases before the L2/L1 entries using them, an L2
 * table before the L1 entry pointing to it, a new refcount block before
 * the reftable entry; a cleared L2 entry reaches the disk before the
 * refcount decrease that frees its cluster, and a freed cluster is reused
 * only once no I/O mapped before the free is in flight (tickets).  After a
 * crash at any moment the image has at most leaked clusters. */
#ifndef VIREO_BLOCK_QCOW2_H
#define VIREO_BLOCK_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/bfile.h"
#include "block/image_format.h"

/* Longest backing chain below an image (the overlay not counted). */
#define QCOW2_MAX_CHAIN 32
/* Extents one qcow2_map_read returns at most. */
#define QCOW2_MAX_EXTENTS 16

struct qcow2;

/* Opens a backing file read-only; `path` is already resolved against the
 * overlay's folder.  0, or -1 with a message. */
struct qcow2_opener {
    int (*open)(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen);
    void *ctx;
};

struct qcow2_open_opts {
    bool read_only;
    /* Refuse an image that names a backing file (a disk's backing=off). */
    bool no_backing;
    /* For `vireo image info`: read-only, accepts the dirty and corrupt
     * bits and unsupported features (reported by qcow2_get_info), never
     * writes; a broken backing chain does not fail the open (see
     * qcow2_get_info's chain_error). */
    bool inspect;
    /* L2 cache bound; 0: enough for the whole disk, at most 32 MiB (8 MiB
     * for backing images); slices are allocated as they are used. */
    uint64_t l2_cache_bytes;
    /* How backing files are opened; NULL: bfile_fd_open(read-only, shared
     * lock). */
    const struct qcow2_opener *opener;
};

/* Validates the header and every table, opens the backing chain.  On
 * success the image owns `file` (closed by qcow2_close); on failure the
 * caller still does.  `path` names the image in messages and is where
 * relative backing names are resolved from.  A read-write open of an
 * image with the dirty bit rebuilds its refcounts first (as QEMU does). */
int qcow2_open(struct qcow2 **out, struct bfile *file, const char *path, const struct qcow2_open_opts *o,
               char *err, size_t errlen);
/* Writes everything back (read-write images), closes the chain and the
 * file.  Every ticket must have ended.  0 or -errno of the write-back. */
int qcow2_close(struct qcow2 *q);

/* One image of a backing chain. */
struct qcow2_link {
    enum img_format fmt;    /* IMG_FORMAT_NONE: no backing file */
    struct bfile *file;
    struct qcow2 *qcow2;    /* when fmt is qcow2 */
    uint64_t size;          /* virtual size; beyond it the chain reads zeroes */
    const char *path;
};

const struct qcow2_link *qcow2_backing(const struct qcow2 *q);
struct bfile *qcow2_file(const struct qcow2 *q);
uint64_t qcow2_size(const struct qcow2 *q);
uint32_t qcow2_cluster_size(const struct qcow2 *q);
bool qcow2_read_only(const struct qcow2 *q);

/* --- reading ------------------------------------------------------- */

enum qcow2_kind {
    QCOW2_DATA,        /* in the image file at `host` */
    QCOW2_ZERO,        /* reads as zeroes */
    QCOW2_BACKING,     /* read the backing image at the same guest offsets */
    QCOW2_COMPRESSED,  /* part of one compressed cluster; `host` is its descriptor */
};

struct qcow2_extent {
    enum qcow2_kind kind;
    uint64_t off, len;      /* guest range */
    uint64_t host;
};

struct qcow2_map {
    struct qcow2_extent ext[QCOW2_MAX_EXTENTS];
    unsigned n;
    uint64_t len;           /* bytes mapped: a prefix of the request */
    uint64_t ticket;        /* pass to qcow2_io_end once the data I/O is done */
};

/* Maps a prefix (at least one byte) of [off, off+len), which must lie in
 * the disk.  A data extent may end past the end of the image file; those
 * bytes read as zeroes.  0, or -errno (-EIO: the image is corrupt, and
 * says why once on stderr; every later request fails too). */
int qcow2_map_read(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_map *m);
/* The data I/O mapped under `ticket` is over: clusters freed meanwhile
 * may be reused. */
void qcow2_io_end(struct qcow2 *q, uint64_t ticket);

/* The bytes of a compressed extent's cluster in the file; reading them and
 * qcow2_decompress give the whole guest cluster (cluster_size bytes into
 * out), of which the extent is the part at off % cluster_size. */
int qcow2_compressed_span(const struct qcow2 *q, const struct qcow2_extent *e, uint64_t *host, uint32_t *len);
int qcow2_decompress(const struct qcow2 *q, const void *in, size_t inlen, void *out);

/* --- writing ------------------------------------------------------- */

/* A request that must wait for a cluster allocation in flight (another
 * write to the same guest cluster): wake() is called once that allocation
 * is done; then prepare again. */
struct qcow2_wait {
    void (*wake)(struct qcow2_wait *w);
    struct qcow2_wait *next;    /* private */
};

/* Old content to copy into the part of a newly allocated cluster that the
 * write does not cover. */
struct qcow2_cow {
    uint64_t off, len;                /* guest range; len 0: nothing */
    struct qcow2_extent src[2];       /* where it is, as qcow2_map_read says */
    unsigned nsrc;
    /* The old content is zeroes and so is the file there already: the
     * caller may leave this part unwritten. */
    bool skip;
};

struct qcow2_wplan {
    uint64_t off, len;      /* the prefix of the request this plan covers */
    uint64_t host;          /* file offset of guest `off`; the data goes there */
    struct qcow2_cow head;  /* goes to host - head.len */
    struct qcow2_cow tail;  /* goes to host + len */
    /* private */
    uint64_t ticket;
    bool alloc, reuse;
    uint64_t gc, nc, hc;
    struct qcow2_wait *waiters;
    struct qcow2_wplan *next;
};

/* Plans a prefix of the write [off, off+len): in place where the clusters
 * are allocated and unshared, else a contiguous run of newly reserved
 * clusters (refcounts raised in the cache) with the copy-on-write regions
 * to fill.  0; -EAGAIN when a cluster is being allocated by another
 * request (w is queued, see qcow2_wait); -EROFS, -ENOSPC, -EIO (corrupt
 * image), or another -errno.  Every 0 must be followed by
 * qcow2_write_done once the data I/O is over. */
int qcow2_write_prepare(struct qcow2 *q, uint64_t off, uint64_t len, struct qcow2_wplan *p, struct qcow2_wait *w);
/* result: 0 if head, data and tail were all written, else -errno: then the
 * reserved clusters are released and the guest cluster is unchanged.
 * Sets the L2 entries (commit); returns 0 or -errno (metadata I/O). */
int qcow2_write_done(struct qcow2 *q, struct qcow2_wplan *p, int result);

/* Discard (discard=true) or write zeroes on whole clusters of
 * [off, off+len): off cluster-aligned, len a multiple of the cluster size
 * or reaching the end of the disk.  Deallocates: the clusters read as
 * zeroes afterwards (L2 entry 0, or the zero flag when a backing file
 * would show through), except that a discard in a version 2 image with a
 * backing file shows the backing file.  Write-zeroes there is -ENOTSUP
 * (the caller writes zeroes).  Freed clusters are punched out of the file
 * (FALLOC_FL_PUNCH_HOLE) once their refcount reaches zero, i.e. after the
 * next write-back and when no I/O mapped before is in flight.  Returns the
 * bytes done (a prefix; at most one L2 table), -EAGAIN (w queued), or
 * -errno. */
int64_t qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool discard, struct qcow2_wait *w);

/* A guest FLUSH's part: writes all dirty metadata back in dependency
 * order, with fdatasync barriers between the levels.  *need: 0 at the
 * FLUSH's first call, which records there what it must make stable (the
 * writes completed so far); pass it back unchanged on later calls.
 * *sync_gen: 0 when that is stable already; otherwise the caller runs an
 * fdatasync on the file and must report its end with qcow2_synced(q,
 * *sync_gen, result).  One such runs at a time: -EAGAIN when this FLUSH
 * needs to wait for the one in flight, w queued and woken at its end
 * (then call again: it may have covered this FLUSH, or failed). */
int qcow2_writeback(struct qcow2 *q, uint64_t *need, uint64_t *sync_gen, struct qcow2_wait *w);
/* The image's own fdatasyncs (barriers, qcow2_flush) go to f, another
 * open file of the same file, which the image owns from now on (closes
 * it): they may run while the caller's asynchronous one is in flight, and
 * Linux tells a write-back error to only one of two overlapping calls on
 * one open file, but to each open file. */
void qcow2_set_sync_file(struct qcow2 *q, struct bfile *f);
/* The fdatasync a qcow2_writeback asked for ended with result (0 or
 * -errno).  A failure breaks the image, as one of its own does (the pages
 * Linux failed to write are clean now, and a retry would not write them).
 * Returns result. */
int qcow2_synced(struct qcow2 *q, uint64_t sync_gen, int result);
/* A guest FLUSH: qcow2_writeback, then fdatasync if needed. */
int qcow2_flush(struct qcow2 *q);

/* --- images -------------------------------------------------------- */

struct qcow2_info {
    uint32_t version;
    uint64_t size;
    uint32_t cluster_size;
    uint32_t refcount_bits;
    const char *compression;      /* "zlib" or "zstd" */
    bool dirty, corrupt, lazy_refcounts;
    uint32_t snapshots;
    const char *backing_name;     /* as recorded; NULL: none */
    const char *backing_fmt;      /* NULL: not recorded */
    const char *backing_path;     /* resolved; NULL: none */
    const char *unsupported;      /* inspect: why a normal open would refuse it; NULL: it would not */
    const char *chain_error;      /* inspect: the backing chain could not be opened; NULL: fine */
};
void qcow2_get_info(const struct qcow2 *q, struct qcow2_info *i);

struct qcow2_create_opts {
    uint64_t size;
    uint32_t cluster_bits;        /* 0: 16 (64 KiB) */
    uint32_t version;             /* 0: 3 */
    uint32_t refcount_bits;       /* 1, 2, 4, ... 64; 0: 16 (version 2: always 16) */
    const char *backing;          /* recorded as given; NULL: none */
    const char *backing_fmt;      /* required with backing */
};
/* Writes a new, empty image into the empty file f. */
int qcow2_create(struct bfile *f, const struct qcow2_create_opts *o, char *err, size_t errlen);

/* Grows the virtual size (never shrinks); the image must have no internal
 * snapshots. */
int qcow2_grow(struct qcow2 *q, uint64_t size, char *err, size_t errlen);

/* Consistency check, as `qemu-img check` counts: references the refcounts
 * do not cover (corruptions) and refcounts with no reference (leaks).
 * Writes back first. */
struct qcow2_check_result {
    uint64_t corruptions, leaks;
    char first[256];              /* the first corruption found */
};
int qcow2_check(struct qcow2 *q, struct qcow2_check_result *r);

/* Where a backing name recorded in the image at `overlay` points: as is
 * when absolute, else relative to the overlay's folder (QEMU's rule).
 * Names with a protocol prefix other than "file:" are refused. */
int qcow2_backing_resolve(const char *overlay, const char *name, char *out, size_t outlen, char *err,
                          size_t errlen);

#endif

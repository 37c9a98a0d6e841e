/* The qcow2 header: parsed and validated from the image's first cluster
 * before anything else is read.  Separate from the core so the validation
 * is tested on its own with hostile headers. */
#ifndef VIREO_BLOCK_QCOW2_HEADER_H
#define VIREO_BLOCK_QCOW2_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER 72u
#define QCOW2_V3_HEADER 104u
#define QCOW2_MIN_CLUSTER_BITS 9u
#define QCOW2_MAX_CLUSTER_BITS 21u
/* QEMU's implementation limits, so every image QEMU opens opens here. */
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_MAX_SNAPSHOT_TABLE (64u << 20)
#define QCOW2_MAX_SNAPSHOT_EXTRA 1024u
#define QCOW2_MAX_BACKING_NAME 1023u
/* L1/L2 entries can only point below 2^56. */
#define QCOW2_MAX_HOST_OFFSET (1ull << 56)

#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1full
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)

#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

#define QCOW2_COMPRESSION_ZLIB 0
#define QCOW2_COMPRESSION_ZSTD 1

/* Byte offsets of the fields the core rewrites. */
#define QCOW2_OFF_SIZE 24
#define QCOW2_OFF_L1_SIZE 36
#define QCOW2_OFF_REFTABLE 48
#define QCOW2_OFF_INCOMPAT 72
#define QCOW2_OFF_AUTOCLEAR 88

struct qcow2_feature_name {
    uint8_t type, bit;
    char name[47];
};

struct qcow2_header {
    uint32_t version;
    uint64_t backing_offset;
    uint32_t backing_len;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_offset;
    uint64_t reftable_offset;
    uint32_t reftable_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompat, compat, autoclear;
    uint32_t refcount_order;
    uint32_t header_length;
    uint8_t compression_type;
    /* extensions */
    bool has_backing;             /* a non-empty backing file name */
    char backing[QCOW2_MAX_BACKING_NAME + 1];
    bool has_backing_fmt;
    char backing_fmt[16];
    bool has_bitmaps, has_crypto_ext, has_data_file_ext;
    struct qcow2_feature_name features[64];
    unsigned nfeatures;
};

/* Parses and validates the header in buf, the image's first cluster
 * (zero-padded where the file is shorter; buf_len at least the cluster
 * size the header declares, or 4096 for the first call: then, if the
 * cluster is bigger, *need says how much to read and 1 is returned).
 * file_size bounds every table.  0, or -1 with a precise message. */
int qcow2_header_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size, struct qcow2_header *h,
                       size_t *need, char *err, size_t errlen);

/* Refuses what the core does not implement, naming the feature:
 * encryption, external data files, extended L2 entries, unknown
 * compression types and incompatible feature bits, and (unless
 * `inspect`) the corrupt bit.  0 or -1. */
int qcow2_header_features(const struct qcow2_header *h, bool inspect, char *err, size_t errlen);

/* snprintf into err, then -1: the qcow2 files' error returns. */
int qcow2_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Rewrites a message that quotes names from an image (backing file and
 * format names, feature names: hostile bytes) so that it is safe to print
 * (util/printable.h).  Returns -1, as qcow2_errf. */
int qcow2_err_printable(char *err, size_t errlen);

/* The fixed header fields of h as on disk: 72 bytes for version 2, 104
 * for version 3 (buf holds 104). */
void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf);

/* qcow2 is big-endian throughout. */
static inline uint16_t qcow2_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t qcow2_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t qcow2_be64(const uint8_t *p) { return (uint64_t)qcow2_be32(p) << 32 | qcow2_be32(p + 4); }
static inline void qcow2_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void qcow2_put32(uint8_t *p, uint32_t v)
{
    qcow2_put16(p, (uint16_t)(v >> 16));
    qcow2_put16(p + 2, (uint16_t)v);
}
static inline void qcow2_put64(uint8_t *p, uint64_t v)
{
    qcow2_put32(p, (uint32_t)(v >> 32));
    qcow2_put32(p + 4, (uint32_t)v);
}

/* The cluster numbers [start, end) a byte range occupies. */
static inline void qcow2_clusters_of(uint64_t off, uint64_t len, uint32_t cluster_bits, uint64_t *start,
                                     uint64_t *end)
{
    *start = off >> cluster_bits;
    *end = (off + len + (1ull << cluster_bits) - 1) >> cluster_bits;
}

/* One snapshot's L1 table (all the core needs of a snapshot). */
struct qcow2_snap {
    uint64_t l1_offset;
    uint32_t l1_size;
};

/* Parses the snapshot table in buf (buf_len bytes read from the table's
 * offset; the table may be shorter).  *table_len: its real length.
 * *snaps is allocated (h->nb_snapshots entries).  0, or -1 and a message;
 * -2 when the table runs past buf_len (read more, up to
 * QCOW2_MAX_SNAPSHOT_TABLE and the end of the file, and parse again). */
int qcow2_snapshots_parse(const uint8_t *buf, size_t buf_len, const struct qcow2_header *h, uint64_t file_size,
                          struct qcow2_snap **snaps, uint64_t *table_len, char *err, size_t errlen);

#endif

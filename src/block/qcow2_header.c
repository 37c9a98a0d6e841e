#include "block/qcow2_header.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/printable.h"

#define ERR(...) qcow2_errf(err, errlen, __VA_ARGS__)

typedef unsigned long long ull;

int qcow2_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int qcow2_err_printable(char *err, size_t errlen)
{
    char *raw = strdup(err);
    if (raw)
        printable(err, errlen, raw);
    else
        snprintf(err, errlen, "out of memory");
    free(raw);
    return -1;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
    return (v + to - 1) & ~(to - 1);
}

static int parse_extensions(const uint8_t *buf, uint64_t start, uint64_t end, struct qcow2_header *h, char *err,
                            size_t errlen)
{
    uint64_t off = start;
    while (off + 8 <= end) {
        uint32_t type = qcow2_be32(buf + off), len = qcow2_be32(buf + off + 4);
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - off - 8)
            return ERR("header extension 0x%08x at byte %llu: its %u bytes run past the end of the header area "
                       "(byte %llu)", type, (ull)off, len, (ull)end);
        const uint8_t *data = buf + off + 8;
        switch (type) {
        case QCOW2_EXT_BACKING_FMT:
            if (len >= sizeof(h->backing_fmt))
                return ERR("backing format name of %u bytes is too long", len);
            if (memchr(data, 0, len))
                return ERR("backing format name contains a NUL byte");
            memcpy(h->backing_fmt, data, len);
            h->backing_fmt[len] = 0;
            h->has_backing_fmt = true;
            break;
        case QCOW2_EXT_FEATURES:
            for (uint32_t i = 0; i + 48 <= len && h->nfeatures < sizeof(h->features) / sizeof(h->features[0]);
                 i += 48) {
                struct qcow2_feature_name *f = &h->features[h->nfeatures++];
                f->type = data[i];
                f->bit = data[i + 1];
                memcpy(f->name, data + i + 2, 46);
                f->name[46] = 0;
            }
            break;
        case QCOW2_EXT_BITMAPS:
            h->has_bitmaps = true;
            break;
        case QCOW2_EXT_CRYPTO:
            h->has_crypto_ext = true;
            break;
        case QCOW2_EXT_DATA_FILE:
            h->has_data_file_ext = true;
            break;
        default:
            break;   /* unknown extensions may be ignored */
        }
        off += 8 + round_up(len, 8);
    }
    return 0;
}

int qcow2_header_parse(const uint8_t *buf, size_t buf_len, uint64_t file_size, struct qcow2_header *h,
                       size_t *need, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    *need = 0;
    if (file_size < QCOW2_V2_HEADER || buf_len < QCOW2_V2_HEADER)
        return ERR("%llu bytes: too small for a qcow2 header", (ull)file_size);
    if (qcow2_be32(buf) != QCOW2_MAGIC)
        return ERR("not a qcow2 image (no QFI\\xfb magic)");
    h->version = qcow2_be32(buf + 4);
    if (h->version != 2 && h->version != 3)
        return ERR("qcow2 version %u is not supported (2 and 3 are)", h->version);
    h->backing_offset = qcow2_be64(buf + 8);
    h->backing_len = qcow2_be32(buf + 16);
    h->cluster_bits = qcow2_be32(buf + 20);
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
        return ERR("cluster_bits %u: the cluster size must be 512 B to 2 MiB (cluster_bits 9 to 21)",
                   h->cluster_bits);
    uint64_t cs = 1ull << h->cluster_bits;
    if (buf_len < cs) {
        *need = cs;
        return 1;
    }
    h->size = qcow2_be64(buf + 24);
    h->crypt_method = qcow2_be32(buf + 32);
    h->l1_size = qcow2_be32(buf + 36);
    h->l1_offset = qcow2_be64(buf + 40);
    h->reftable_offset = qcow2_be64(buf + 48);
    h->reftable_clusters = qcow2_be32(buf + 56);
    h->nb_snapshots = qcow2_be32(buf + 60);
    h->snapshots_offset = qcow2_be64(buf + 64);
    if (h->version == 2) {
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER;
    } else {
        h->incompat = qcow2_be64(buf + 72);
        h->compat = qcow2_be64(buf + 80);
        h->autoclear = qcow2_be64(buf + 88);
        h->refcount_order = qcow2_be32(buf + 96);
        h->header_length = qcow2_be32(buf + 100);
        if (h->header_length < QCOW2_V3_HEADER || h->header_length % 8 || h->header_length > cs)
            return ERR("header_length %u: a version 3 header is 104 bytes or more, a multiple of 8, within the "
                       "first cluster", h->header_length);
        if (h->header_length > QCOW2_V3_HEADER)
            h->compression_type = buf[104];
    }
    if (h->refcount_order > 6)
        return ERR("refcount_order %u: refcounts are 1 to 64 bits wide (order 0 to 6)", h->refcount_order);

    /* The backing file name, then the extensions before it. */
    uint64_t ext_end = cs;
    if (h->backing_offset) {
        if (h->backing_len > QCOW2_MAX_BACKING_NAME)
            return ERR("backing file name of %u bytes is longer than %u", h->backing_len, QCOW2_MAX_BACKING_NAME);
        if (h->backing_offset < h->header_length || h->backing_offset > cs ||
            h->backing_len > cs - h->backing_offset)
            return ERR("backing file name at byte %llu (%u bytes) is not in the header cluster after the header",
                       (ull)h->backing_offset, h->backing_len);
        if (h->backing_len) {
            const uint8_t *name = buf + h->backing_offset;
            if (memchr(name, 0, h->backing_len))
                return ERR("backing file name contains a NUL byte");
            memcpy(h->backing, name, h->backing_len);
            h->backing[h->backing_len] = 0;
            h->has_backing = true;
        }
        ext_end = h->backing_offset;
    }
    if (parse_extensions(buf, h->header_length, ext_end, h, err, errlen) < 0)
        return -1;

    /* The active L1 table. */
    uint64_t l1_bytes = (uint64_t)h->l1_size * 8;
    if (h->l1_offset & (cs - 1))
        return ERR("L1 table offset 0x%llx is not aligned to the cluster size (%llu)", (ull)h->l1_offset, (ull)cs);
    if (l1_bytes > QCOW2_MAX_L1_BYTES)
        return ERR("L1 table of %u entries is over QEMU's 32 MiB limit", h->l1_size);
    if (h->l1_size) {
        if (h->l1_offset < cs)
            return ERR("L1 table at 0x%llx overlaps the header cluster", (ull)h->l1_offset);
        if (h->l1_offset > file_size || l1_bytes > file_size - h->l1_offset)
            return ERR("L1 table at 0x%llx (%u entries) extends past the end of the file (%llu bytes)",
                       (ull)h->l1_offset, h->l1_size, (ull)file_size);
    }
    unsigned per_entry_bits = 2 * h->cluster_bits - 3;    /* guest bytes one L1 entry maps */
    uint64_t l1_need = (h->size >> per_entry_bits) + ((h->size & ((1ull << per_entry_bits) - 1)) != 0);
    if (l1_need > h->l1_size)
        return ERR("L1 table of %u entries is too small for the virtual size of %llu bytes (it needs %llu)",
                   h->l1_size, (ull)h->size, (ull)l1_need);

    /* The refcount table. */
    uint64_t rt_bytes = (uint64_t)h->reftable_clusters << h->cluster_bits;
    if (!h->reftable_clusters)
        return ERR("refcount table of 0 clusters");
    if (h->reftable_offset & (cs - 1))
        return ERR("refcount table offset 0x%llx is not aligned to the cluster size (%llu)",
                   (ull)h->reftable_offset, (ull)cs);
    if (rt_bytes > QCOW2_MAX_REFTABLE_BYTES)
        return ERR("refcount table of %u clusters is over QEMU's 8 MiB limit", h->reftable_clusters);
    if (h->reftable_offset < cs)
        return ERR("refcount table at 0x%llx overlaps the header cluster", (ull)h->reftable_offset);
    if (h->reftable_offset > file_size || rt_bytes > file_size - h->reftable_offset)
        return ERR("refcount table at 0x%llx (%u clusters) extends past the end of the file (%llu bytes)",
                   (ull)h->reftable_offset, h->reftable_clusters, (ull)file_size);
    if (overlaps(h->l1_offset, round_up(l1_bytes, cs), h->reftable_offset, rt_bytes))
        return ERR("L1 table at 0x%llx and refcount table at 0x%llx overlap", (ull)h->l1_offset,
                   (ull)h->reftable_offset);
    unsigned rb_bits = h->cluster_bits + 3 - h->refcount_order;    /* refcounts per block, log2 */
    uint64_t covered = (rt_bytes / 8) << rb_bits;                  /* clusters the table can describe */
    uint64_t rt_last = (h->reftable_offset + rt_bytes) / cs - 1;
    if (rt_last >= covered)
        return ERR("refcount table at 0x%llx (%u clusters) cannot hold the refcounts of its own clusters",
                   (ull)h->reftable_offset, h->reftable_clusters);

    /* Where the snapshot table starts (its length comes with its parse). */
    if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return ERR("%u snapshots: over QEMU's limit of %u", h->nb_snapshots, QCOW2_MAX_SNAPSHOTS);
    if (h->nb_snapshots) {
        if (h->snapshots_offset & (cs - 1))
            return ERR("snapshot table offset 0x%llx is not aligned to the cluster size", (ull)h->snapshots_offset);
        if (h->snapshots_offset < cs)
            return ERR("snapshot table at 0x%llx overlaps the header cluster", (ull)h->snapshots_offset);
        if (h->snapshots_offset >= file_size)
            return ERR("snapshot table at 0x%llx is past the end of the file (%llu bytes)",
                       (ull)h->snapshots_offset, (ull)file_size);
    }
    return 0;
}

void qcow2_header_encode(const struct qcow2_header *h, uint8_t *buf)
{
    memset(buf, 0, QCOW2_V3_HEADER);
    qcow2_put32(buf, QCOW2_MAGIC);
    qcow2_put32(buf + 4, h->version);
    qcow2_put64(buf + 8, h->backing_offset);
    qcow2_put32(buf + 16, h->backing_len);
    qcow2_put32(buf + 20, h->cluster_bits);
    qcow2_put64(buf + 24, h->size);
    qcow2_put32(buf + 32, h->crypt_method);
    qcow2_put32(buf + 36, h->l1_size);
    qcow2_put64(buf + 40, h->l1_offset);
    qcow2_put64(buf + 48, h->reftable_offset);
    qcow2_put32(buf + 56, h->reftable_clusters);
    qcow2_put32(buf + 60, h->nb_snapshots);
    qcow2_put64(buf + 64, h->snapshots_offset);
    if (h->version >= 3) {
        qcow2_put64(buf + 72, h->incompat);
        qcow2_put64(buf + 80, h->compat);
        qcow2_put64(buf + 88, h->autoclear);
        qcow2_put32(buf + 96, h->refcount_order);
        qcow2_put32(buf + 100, h->header_length);
    }
}

static const char *feature_name(const struct qcow2_header *h, unsigned type, unsigned bit)
{
    for (unsigned i = 0; i < h->nfeatures; i++)
        if (h->features[i].type == type && h->features[i].bit == bit && h->features[i].name[0])
            return h->features[i].name;
    return NULL;
}

int qcow2_header_features(const struct qcow2_header *h, bool inspect, char *err, size_t errlen)
{
    if (h->crypt_method == 1)
        return ERR("encrypted image (AES): encryption is not supported");
    if (h->crypt_method == 2)
        return ERR("encrypted image (LUKS): encryption is not supported");
    if (h->crypt_method)
        return ERR("unknown encryption method %u: encryption is not supported", h->crypt_method);
    uint64_t unknown = h->incompat & ~QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        unsigned bit = (unsigned)__builtin_ctzll(unknown);
        const char *name = feature_name(h, 0, bit);
        if (name) {
            ERR("unsupported incompatible feature '%s' (bit %u)", name, bit);
            return qcow2_err_printable(err, errlen);
        }
        return ERR("unknown incompatible feature bit %u", bit);
    }
    if (h->incompat & QCOW2_INCOMPAT_DATA_FILE)
        return ERR("external data file (incompatible feature bit 2): not supported");
    if (h->incompat & QCOW2_INCOMPAT_EXTL2)
        return ERR("extended L2 entries (subclusters, incompatible feature bit 4): not supported");
    if (h->incompat & QCOW2_INCOMPAT_COMPRESSION) {
        if (h->header_length <= QCOW2_V3_HEADER || h->compression_type == QCOW2_COMPRESSION_ZLIB)
            return ERR("the compression-type feature bit is set but no compression type is given");
        if (h->compression_type != QCOW2_COMPRESSION_ZSTD)
            return ERR("unknown compression type %u (zlib and zstd are supported)", h->compression_type);
    } else if (h->compression_type != QCOW2_COMPRESSION_ZLIB) {
        return ERR("compression type %u without the compression-type feature bit", h->compression_type);
    }
    if ((h->incompat & QCOW2_INCOMPAT_CORRUPT) && !inspect)
        return ERR("the image is marked corrupt (incompatible feature bit 1); repair it with "
                   "'qemu-img check -r all'");
    return 0;
}

int qcow2_snapshots_parse(const uint8_t *buf, size_t buf_len, const struct qcow2_header *h, uint64_t file_size,
                          struct qcow2_snap **snaps, uint64_t *table_len, char *err, size_t errlen)
{
    uint64_t cs = 1ull << h->cluster_bits;
    *snaps = NULL;
    *table_len = 0;
    if (!h->nb_snapshots)
        return 0;
    struct qcow2_snap *s = calloc(h->nb_snapshots, sizeof(*s));
    if (!s)
        return ERR("out of memory for %u snapshots", h->nb_snapshots);
    uint64_t off = 0, l1_total = 0;
    for (uint32_t i = 0; i < h->nb_snapshots; i++) {
        if (buf_len - off < 40) {
            free(s);
            snprintf(err, errlen, "snapshot %u runs past the end of the snapshot table", i);
            return -2;
        }
        const uint8_t *e = buf + off;
        uint64_t l1_off = qcow2_be64(e);
        uint32_t l1_size = qcow2_be32(e + 8);
        uint32_t id_len = qcow2_be16(e + 12), name_len = qcow2_be16(e + 14);
        uint32_t extra = qcow2_be32(e + 36);
        if (extra > QCOW2_MAX_SNAPSHOT_EXTRA) {
            free(s);
            return ERR("snapshot %u: %u bytes of extra data (at most %u)", i, extra, QCOW2_MAX_SNAPSHOT_EXTRA);
        }
        uint64_t len = round_up(40ull + extra + id_len + name_len, 8);
        if (len > buf_len - off) {
            free(s);
            snprintf(err, errlen, "snapshot %u runs past the end of the snapshot table", i);
            return -2;
        }
        if (l1_off & (cs - 1)) {
            free(s);
            return ERR("snapshot %u: L1 table offset 0x%llx is not aligned to the cluster size", i, (ull)l1_off);
        }
        if ((uint64_t)l1_size * 8 > QCOW2_MAX_L1_BYTES) {
            free(s);
            return ERR("snapshot %u: L1 table of %u entries is over QEMU's 32 MiB limit", i, l1_size);
        }
        if (l1_size && (l1_off < cs || l1_off > file_size || (uint64_t)l1_size * 8 > file_size - l1_off)) {
            free(s);
            return ERR("snapshot %u: L1 table at 0x%llx (%u entries) is not inside the file", i, (ull)l1_off, l1_size);
        }
        /* Each snapshot has a table of its own in the file: together
         * they fit in it.  (Else a few MiB of snapshot table could make
         * every count of the references walk one table 65536 times.) */
        l1_total += (uint64_t)l1_size * 8;
        if (l1_total > file_size) {
            free(s);
            return ERR("snapshot %u: the snapshots' L1 tables add up to more than the file's %llu bytes", i,
                       (ull)file_size);
        }
        s[i].l1_offset = l1_off;
        s[i].l1_size = l1_size;
        off += len;
    }
    *snaps = s;
    *table_len = off;
    return 0;
}

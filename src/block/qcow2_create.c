/* A new, empty qcow2 image, laid out as QEMU lays one out: the header
 * cluster (header, extensions, backing file name), the refcount table,
 * the refcount blocks covering all of it, the L1 table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

#define ERR(...) qcow2_errf(err, errlen, __VA_ARGS__)

int qcow2_create(struct bfile *f, const struct qcow2_create_opts *o, char *err, size_t errlen)
{
    uint32_t cb = o->cluster_bits ? o->cluster_bits : 16;
    uint32_t version = o->version ? o->version : 3;
    uint32_t bits = o->refcount_bits ? o->refcount_bits : 16;
    if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS)
        return ERR("cluster size must be 512 B to 2 MiB");
    if (version != 2 && version != 3)
        return ERR("qcow2 version %u: 2 (compat 0.10) or 3 (compat 1.1)", version);
    if (bits > 64 || (bits & (bits - 1)) || (version == 2 && bits != 16))
        return ERR("refcount width %u: a power of two up to 64 (16 for version 2)", bits);
    if (o->size % 512)
        return ERR("size %llu is not a multiple of 512 bytes", (ull)o->size);
    if (o->backing && !o->backing_fmt)
        return ERR("a backing file needs its format");
    uint32_t order = (uint32_t)__builtin_ctz(bits);
    uint64_t cs = 1ull << cb;
    unsigned per_entry = 2 * cb - 3;
    uint64_t l1_size = (o->size >> per_entry) + ((o->size & ((1ull << per_entry) - 1)) != 0);
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES)
        return ERR("%llu bytes is too large for %llu-byte clusters (an L1 table over 32 MiB)", (ull)o->size,
                   (ull)cs);

    uint8_t *hdr = calloc(1, cs);
    if (!hdr)
        return ERR("out of memory");
    struct qcow2_header h = {0};
    h.version = version;
    h.cluster_bits = cb;
    h.size = o->size;
    h.refcount_order = order;
    h.header_length = version == 3 ? QCOW2_V3_HEADER : QCOW2_V2_HEADER;
    uint64_t p = h.header_length;
    if (o->backing) {
        size_t flen = strlen(o->backing_fmt), blen = strlen(o->backing);
        if (flen >= sizeof(h.backing_fmt) || blen > QCOW2_MAX_BACKING_NAME || !blen) {
            free(hdr);
            return ERR("backing file name or format too long");
        }
        qcow2_put32(hdr + p, QCOW2_EXT_BACKING_FMT);
        qcow2_put32(hdr + p + 4, (uint32_t)flen);
        memcpy(hdr + p + 8, o->backing_fmt, flen);
        p += 8 + ((flen + 7) & ~7ull);
        p += 8;   /* end of the extensions */
        if (p + blen > cs) {
            free(hdr);
            return ERR("backing file name of %zu bytes does not fit in a %llu-byte header cluster", blen, (ull)cs);
        }
        memcpy(hdr + p, o->backing, blen);
        h.backing_offset = p;
        h.backing_len = (uint32_t)blen;
    }

    /* Header, refcount table, refcount blocks, L1: the blocks must
     * count themselves too. */
    uint64_t epb = 1ull << (cb + 3 - order);
    uint64_t l1c = (l1_size * 8 + cs - 1) >> cb, nb = 1, rtc = 1, total = 0;
    for (;;) {
        total = 1 + rtc + nb + l1c;
        uint64_t nnb = (total + epb - 1) / epb, nrtc = (nnb * 8 + cs - 1) >> cb;
        if (nnb == nb && nrtc == rtc)
            break;
        nb = nnb;
        rtc = nrtc;
    }
    h.reftable_offset = cs;
    h.reftable_clusters = (uint32_t)rtc;
    h.l1_offset = l1c ? (1 + rtc + nb) << cb : 0;
    h.l1_size = (uint32_t)l1_size;
    uint8_t fixed[QCOW2_V3_HEADER];
    qcow2_header_encode(&h, fixed);
    memcpy(hdr, fixed, h.header_length);

    uint8_t *buf = calloc(1, cs);
    int r = buf ? bfile_truncate(f, total << cb) : -ENOMEM;
    if (!r)
        r = bfile_pwrite(f, hdr, cs, 0);
    for (uint64_t t = 0; !r && t < rtc; t++) {   /* refcount table */
        memset(buf, 0, cs);
        for (uint64_t k = 0; k < cs / 8; k++) {
            uint64_t i = t * (cs / 8) + k;
            if (i < nb)
                qcow2_put64(buf + k * 8, (1 + rtc + i) << cb);
        }
        r = bfile_pwrite(f, buf, cs, (1 + t) << cb);
    }
    for (uint64_t b = 0; !r && b < nb; b++) {    /* refcount blocks: 1 for every cluster in use */
        memset(buf, 0, cs);
        for (uint64_t c = b * epb; c < total && c < (b + 1) * epb; c++)
            q2_rc_store(buf, (c - b * epb) << order, order, 1);
        r = bfile_pwrite(f, buf, cs, (1 + rtc + b) << cb);
    }
    if (!r)
        r = bfile_sync(f);
    free(buf);
    free(hdr);
    if (r < 0)
        return ERR("%s", strerror(-r));
    return 0;
}

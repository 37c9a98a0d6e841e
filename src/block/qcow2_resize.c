/* Growing the virtual disk: a bigger L1 table where the old one cannot
 * map the new size, written in full before the header switches to it (one
 * sector write carrying the size and the L1 table's place). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

#define ERR(...) qcow2_errf(err, errlen, __VA_ARGS__)

static int grow_l1(struct qcow2 *q, uint64_t need, char *err, size_t errlen)
{
    uint64_t n = (need * 8 + q->cs - 1) >> q->cb;
    uint64_t entries = q2_min((n << q->cb) / 8, QCOW2_MAX_L1_BYTES / 8);
    uint64_t c;
    int r = q2_writeback(q);
    if (!r)
        r = q2_alloc_end(q, n, &c);
    if (r < 0)
        return ERR("%s", strerror(-r));
    uint8_t *buf = calloc(1, n << q->cb);
    uint64_t *l1 = calloc(entries, sizeof(*l1));
    uint8_t *dirty = calloc((entries + 511) / 512 + 1, 1);
    if (!buf || !l1 || !dirty) {
        free(buf);
        free(l1);
        free(dirty);
        return ERR("out of memory");
    }
    for (uint32_t i = 0; i < q->l1_size; i++) {
        l1[i] = q->l1[i];
        qcow2_put64(buf + (uint64_t)i * 8, q->l1[i]);
    }
    /* Its refcounts (and the refcount blocks and table entries they
     * needed), then the table, then (stable) the header. */
    r = q2_writeback(q);
    if (!r)
        r = q2_pwrite(q, buf, n << q->cb, c << q->cb);
    if (!r)
        r = q2_sync(q);
    free(buf);
    if (r < 0) {
        free(l1);
        free(dirty);
        return ERR("%s", strerror(-r));
    }
    uint64_t old_off = q->h.l1_offset, old_bytes = (uint64_t)q->l1_size * 8;
    q->h.l1_offset = c << q->cb;
    q->h.l1_size = (uint32_t)entries;
    r = q2_header_write(q, QCOW2_OFF_SIZE, 24);
    if (!r)
        r = q2_sync(q);
    if (r < 0) {
        q->broken = true;
        free(l1);
        free(dirty);
        return ERR("cannot update the header: %s", strerror(-r));
    }
    free(q->l1);
    free(q->l1_dirty);
    q->l1 = l1;
    q->l1_dirty = dirty;
    q->l1_size = (uint32_t)entries;
    r = q2_regions_build(q);
    if (!r && old_bytes)
        r = q2_unref_now(q, old_off >> q->cb, (old_bytes + q->cs - 1) >> q->cb);
    return r < 0 ? ERR("%s", strerror(-r)) : 0;
}

int qcow2_grow(struct qcow2 *q, uint64_t size, char *err, size_t errlen)
{
    q2_lock(q);
    int r = 0;
    if (q->ro || q->broken)
        r = ERR("the image is %s", q->ro ? "read-only" : "broken");
    else if (size < q->h.size)
        r = ERR("shrinking (from %llu to %llu bytes) is not supported", (ull)q->h.size, (ull)size);
    else if (size % 512)
        r = ERR("size %llu is not a multiple of 512 bytes", (ull)size);
    else if (q->h.nb_snapshots && size != q->h.size)
        r = ERR("the image has internal snapshots; resize it with qemu-img");
    if (r || size == q->h.size)
        goto out;
    unsigned per_entry = 2 * q->cb - 3;
    uint64_t need = (size >> per_entry) + ((size & ((1ull << per_entry) - 1)) != 0);
    if (need * 8 > QCOW2_MAX_L1_BYTES) {
        r = ERR("%llu bytes is too large for %llu-byte clusters", (ull)size, (ull)q->cs);
        goto out;
    }
    uint64_t old = q->h.size;
    q->h.size = size;
    if (need > q->l1_size) {
        r = grow_l1(q, need, err, errlen);
        if (r < 0)
            q->h.size = old;
    } else {
        r = q2_header_write(q, QCOW2_OFF_SIZE, 8);
        if (!r)
            r = q2_sync(q);
        if (r < 0) {
            q->h.size = old;
            r = ERR("cannot update the header: %s", strerror(-r));
        }
    }
    if (!r && (r = q2_writeback(q)) < 0)
        r = ERR("%s", strerror(-r));
out:
    q2_unlock(q);
    return r;
}

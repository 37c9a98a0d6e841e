/* Write-back of the metadata, in the order that keeps the image
 * consistent at every instant (QEMU's dependency between its refcount and
 * L2 caches, made explicit):
 *   refcount blocks  (increases; decreases only once safe)
 *   -- fdatasync --  new blocks and data are stable
 *   refcount table   (entries for new blocks)
 *   -- fdatasync --
 *   L2 slices        (entries for new clusters, whose data and refcounts are stable)
 *   -- fdatasync --
 *   L1 table         (entries for new L2 tables, which are stable)
 *   -- fdatasync --
 * Each barrier is issued only when something was written since the last
 * one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

/* Writes the dirty 512-byte sectors of a table held in memory. */
static int write_table(struct qcow2 *q, const uint64_t *t, uint64_t n, uint8_t *dirty, uint64_t disk_off,
                       bool *wrote)
{
    uint64_t sectors = (n + 63) / 64;
    uint8_t buf[512];
    for (uint64_t s = 0; s < sectors; s++) {
        if (!(dirty[s / 8] & (1u << (s % 8))))
            continue;
        uint64_t first = s * 64, cnt = q2_min(64, n - first);
        for (uint64_t i = 0; i < cnt; i++)
            qcow2_put64(buf + i * 8, t[first + i]);
        int r = q2_pwrite(q, buf, cnt * 8, disk_off + first * 8);
        if (r < 0)
            return r;
        dirty[s / 8] &= (uint8_t)~(1u << (s % 8));
        *wrote = true;
    }
    return 0;
}

static int barrier(struct qcow2 *q)
{
    return q2_unsynced(q) ? q2_sync(q) : 0;
}

int q2_writeback(struct qcow2 *q)
{
    if (q->broken)
        return -EIO;
    if (q->ro)
        return 0;
    bool wrote = false;
    int r = q2c_write_dirty(q, &q->rcc);
    if (!r && q->rt_changed) {
        r = barrier(q);
        if (!r)
            r = write_table(q, q->rt, q->rt_size, q->rt_dirty, q->h.reftable_offset, &wrote);
        if (!r)
            q->rt_changed = false;
    }
    if (!r && q->l2c.ndirty) {
        r = barrier(q);
        if (!r) {
            r = q2c_write_dirty(q, &q->l2c);
            wrote = true;
        }
    }
    if (!r && q->l1_changed) {
        r = barrier(q);
        if (!r)
            r = write_table(q, q->l1, q->l1_size, q->l1_dirty, q->h.l1_offset, &wrote);
        if (!r)
            q->l1_changed = false;
    }
    if (!r && wrote)
        r = q2_sync(q);
    if (r < 0)
        return r;
    /* Every reference dropped so far is gone on disk. */
    q->meta_gen++;
    return 0;
}

static void wait_for_sync(struct qcow2 *q, struct qcow2_wait *w)
{
    w->next = q->sync_waiters;
    q->sync_waiters = w;
}

/* Everything a FLUSH must make stable is: no metadata waits to be
 * written, and an fdatasync began after the writes up to need - 1. */
static bool covered(const struct qcow2 *q, uint64_t need)
{
    return !q->broken && q->sync_gen + 1 >= need && !q->l2c.ndirty && !q->rcc.ndirty && !q->rt_changed &&
           !q->l1_changed;
}

int qcow2_writeback(struct qcow2 *q, uint64_t *need, uint64_t *sync_gen, struct qcow2_wait *w)
{
    *sync_gen = 0;
    q2_lock(q);
    /* Every write the guest saw complete before this FLUSH has counted. */
    if (!*need)
        *need = q->write_gen + 1;
    if (covered(q, *need)) {
        q2_unlock(q);
        return 0;
    }
    /* Without an open file of their own, the write-back's barriers would
     * overlap the fdatasync in flight. */
    if (q->sync_running && !q->sync_file) {
        wait_for_sync(q, w);
        q2_unlock(q);
        return -EAGAIN;
    }
    int r = q2_writeback(q);
    if (!r && !q->ro)
        r = q2_apply_pending(q);
    if (!r && q->sync_gen + 1 < *need) {
        if (q->sync_running) {
            /* It may cover this FLUSH's writes; if not, go next. */
            wait_for_sync(q, w);
            r = -EAGAIN;
        } else {
            *sync_gen = q->write_gen;
            q->sync_running = true;
        }
    }
    q2_unlock(q);
    return r;
}

int qcow2_synced(struct qcow2 *q, uint64_t sync_gen, int result)
{
    q2_lock(q);
    int r = q2_synced(q, sync_gen, result);
    q->sync_running = false;
    struct qcow2_wait *waiters = q->sync_waiters;
    q->sync_waiters = NULL;
    q2_unlock(q);
    q2_wake_all(waiters);
    return r;
}

int qcow2_flush(struct qcow2 *q)
{
    q2_lock(q);
    int r = q2_writeback(q);
    if (!r && q2_unsynced(q))
        r = q2_sync(q);
    if (!r && !q->ro)
        r = q2_apply_pending(q);
    q2_unlock(q);
    return r;
}

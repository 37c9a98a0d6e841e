#include "virtio/virtqueue.h"

#include <string.h>

/* Ring words are little-endian; x86 and the other hosts we build for are
 * too, so they are read in place. */
static inline uint16_t ld16_acquire(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_ACQUIRE);
}

static inline uint16_t ld16(const void *p)
{
    return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static inline void st16(void *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

#define AVAIL_FLAGS(vq)      ((vq)->avail)
#define AVAIL_IDX(vq)        ((vq)->avail + 2)
#define AVAIL_RING(vq, i)    ((vq)->avail + 4 + 2 * (i))
#define USED_EVENT(vq)       AVAIL_RING(vq, (vq)->size)
#define USED_FLAGS(vq)       ((vq)->used)
#define USED_IDX(vq)         ((vq)->used + 2)
#define USED_RING(vq, i)     ((vq)->used + 4 + 8 * (i))
#define AVAIL_EVENT(vq)      ((vq)->used + 4 + 8 * (vq)->size)

static bool valid_size(uint16_t n)
{
    return n && n <= VQ_MAX_SIZE && !(n & (n - 1));
}

int vq_init(struct vq *vq, const struct memmap *mem, uint16_t n, void *desc, void *avail,
            void *used, bool event_idx)
{
    memset(vq, 0, sizeof(*vq));
    if (!valid_size(n) || !desc || !avail || !used ||
        ((uintptr_t)desc & 15) || ((uintptr_t)avail & 1) || ((uintptr_t)used & 3))
        return -1;
    vq->mem = mem;
    vq->size = n;
    vq->event_idx = event_idx;
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->used_idx = ld16(USED_IDX(vq));
    return 0;
}

int vq_map(struct vq *vq, const struct memmap *mem, uint16_t n, uint64_t desc, uint64_t avail,
           uint64_t used, bool event_idx)
{
    if (!valid_size(n) || (desc & 15) || (avail & 1) || (used & 3)) {
        memset(vq, 0, sizeof(*vq));
        return -1;
    }
    return vq_init(vq, mem, n, memmap_ptr(mem, desc, VQ_DESC_BYTES(n)),
                   memmap_ptr(mem, avail, VQ_AVAIL_BYTES(n)), memmap_ptr(mem, used, VQ_USED_BYTES(n)),
                   event_idx);
}

void vq_set_base(struct vq *vq, uint16_t last_avail)
{
    vq->last_avail = last_avail;
    vq->used_idx = last_avail;
    vq->signalled_valid = false;
}

static int broken(struct vq *vq, const char *why)
{
    vq->broken = true;
    vq->why = why;
    return -1;
}

/* Adds one descriptor's buffer to e, enforcing readable-before-writable. */
static int add_buffer(struct vq *vq, struct vq_elem *e, const struct virtq_desc *d)
{
    bool writable = d->flags & VIRTQ_DESC_F_WRITE;
    if (!writable && e->writable_seen)
        return broken(vq, "device-readable descriptor after a device-writable one");
    e->writable_seen |= writable;
    unsigned used = e->out_num + e->in_num;
    int k = memmap_iov(vq->mem, d->addr, d->len, e->iov + used, VQ_ELEM_MAX_IOV - used);
    if (k == -1)
        return broken(vq, "descriptor buffer outside guest memory");
    if (k < 0)
        return broken(vq, "descriptor chain has too many buffers");
    if (writable) {
        e->in_num += (unsigned)k;
        e->in_len += d->len;
    } else {
        e->out_num += (unsigned)k;
        e->out_len += d->len;
    }
    /* Lengths are 32-bit each; the sum of a chain stays far below 2^64
     * but must fit the 32-bit used length. */
    if (e->in_len > UINT32_MAX || e->out_len > UINT32_MAX)
        return broken(vq, "descriptor chain longer than 4 GiB");
    return 0;
}

/* Walks an indirect table: its own chain, no nesting, count bounded by the
 * table. */
static int walk_indirect(struct vq *vq, struct vq_elem *e, const struct virtq_desc *d)
{
    if (d->flags & VIRTQ_DESC_F_NEXT)
        return broken(vq, "indirect descriptor with NEXT set");
    if (d->len == 0 || d->len % sizeof(struct virtq_desc))
        return broken(vq, "indirect table length is not a multiple of 16");
    uint32_t count = d->len / sizeof(struct virtq_desc);
    if (count > VQ_MAX_SIZE * 4u)
        return broken(vq, "indirect table too long");
    /* The spec sets no alignment for indirect tables; entries are copied
     * out with memcpy, so none is needed. */
    const uint8_t *table = memmap_ptr(vq->mem, d->addr, d->len);
    if (!table)
        return broken(vq, "indirect table outside guest memory");
    uint32_t i = 0, seen = 0;
    for (;;) {
        struct virtq_desc id;
        memcpy(&id, table + (size_t)i * sizeof(id), sizeof(id));
        if (id.flags & VIRTQ_DESC_F_INDIRECT)
            return broken(vq, "nested indirect descriptor");
        if (add_buffer(vq, e, &id) < 0)
            return -1;
        if (!(id.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        if (id.next >= count)
            return broken(vq, "indirect descriptor next index out of range");
        if (++seen >= count)
            return broken(vq, "indirect descriptor chain loops");
        i = id.next;
    }
}

int vq_pop(struct vq *vq, struct vq_elem *e)
{
    if (vq->broken)
        return -1;
    uint16_t avail_idx = ld16_acquire(AVAIL_IDX(vq));
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->size)
        return broken(vq, "available index moved by more than the queue size");
    uint16_t head = ld16(AVAIL_RING(vq, vq->last_avail & (vq->size - 1)));
    if (head >= vq->size)
        return broken(vq, "available ring entry out of range");

    e->head = head;
    e->out_num = e->in_num = 0;
    e->out_len = e->in_len = 0;
    e->writable_seen = false;
    uint16_t i = head;
    unsigned seen = 0;
    for (;;) {
        struct virtq_desc d;
        memcpy(&d, &vq->desc[i], sizeof(d));
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            /* An indirect descriptor stands alone in its chain (2.7.5.3.1). */
            if (seen != 0)
                return broken(vq, "indirect descriptor inside a chain");
            if (walk_indirect(vq, e, &d) < 0)
                return -1;
            break;
        }
        if (add_buffer(vq, e, &d) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            break;
        if (d.next >= vq->size)
            return broken(vq, "descriptor next index out of range");
        if (++seen >= vq->size)
            return broken(vq, "descriptor chain loops or is longer than the queue");
        i = d.next;
    }
    vq->last_avail++;
    return 1;
}

void vq_fill(struct vq *vq, unsigned off, uint16_t head, uint32_t len)
{
    uint8_t *slot = USED_RING(vq, (uint16_t)(vq->used_idx + off) & (vq->size - 1));
    struct virtq_used_elem u = {.id = head, .len = len};
    memcpy(slot, &u, sizeof(u));
}

void vq_flush(struct vq *vq, unsigned n)
{
    vq->used_idx = (uint16_t)(vq->used_idx + n);
    /* The elements must be visible before the index that publishes them. */
    __atomic_store_n((uint16_t *)USED_IDX(vq), vq->used_idx, __ATOMIC_RELEASE);
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    vq_fill(vq, 0, head, len);
    vq_flush(vq, 1);
}

void vq_unpop(struct vq *vq, unsigned n)
{
    vq->last_avail = (uint16_t)(vq->last_avail - n);
}

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

bool vq_should_notify(struct vq *vq)
{
    /* The used index store must be ordered before reading the driver's
     * suppression fields, or an interrupt can be lost. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!vq->event_idx)
        return !(ld16(AVAIL_FLAGS(vq)) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint16_t old = vq->signalled_used, now = vq->used_idx;
    bool valid = vq->signalled_valid;
    vq->signalled_used = now;
    vq->signalled_valid = true;
    if (!valid)
        return true;
    return need_event(ld16(USED_EVENT(vq)), now, old);
}

void vq_disable_kicks(struct vq *vq)
{
    if (!vq->event_idx)
        st16(USED_FLAGS(vq), VIRTQ_USED_F_NO_NOTIFY);
}

bool vq_enable_kicks(struct vq *vq)
{
    if (vq->event_idx)
        st16(AVAIL_EVENT(vq), vq->last_avail);
    else
        st16(USED_FLAGS(vq), 0);
    /* Publish the re-arm before looking again, pairing with the driver's
     * barrier between its avail index update and its kick decision. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return vq_has_work(vq);
}

bool vq_wait_for_more(struct vq *vq)
{
    uint16_t seen = ld16_acquire(AVAIL_IDX(vq));
    if (vq->event_idx)
        st16(AVAIL_EVENT(vq), seen);
    else
        st16(USED_FLAGS(vq), 0);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !vq->broken && ld16_acquire(AVAIL_IDX(vq)) != seen;
}

bool vq_has_work(struct vq *vq)
{
    return !vq->broken && ld16_acquire(AVAIL_IDX(vq)) != vq->last_avail;
}

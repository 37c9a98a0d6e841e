#include "vq_driver.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/* Each queue's rings take 0x3000 bytes from the start of RAM; buffers
 * come after all of them. */
#define RING_SPAN 0x3000
#define FIRST_BUF (VQD_GPA + VQD_MAX_QUEUES * RING_SPAN)

static void on_notify(void *t, unsigned q)
{
    (void)q;
    ((struct vqd *)t)->notified++;
}

static void on_broken(void *t, const char *why)
{
    (void)why;
    ((struct vqd *)t)->broken++;
}

void vqd_init(struct vqd *d)
{
    memset(d, 0, sizeof(*d));
    d->ram = mmap(NULL, VQD_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(d->ram != MAP_FAILED);
    assert_int_equal(memmap_add(&d->map, VQD_GPA, VQD_RAM, d->ram), 0);
    assert_int_equal(event_loop_init(&d->loop), 0);
    event_loop_set_owner(&d->loop);
    d->next_buf = FIRST_BUF;
}

void vqd_attach(struct vqd *d, struct virtio_dev *dev, unsigned nq)
{
    assert_true(nq <= VQD_MAX_QUEUES);
    d->dev = dev;
    d->nq = nq;
    dev->transport = d;
    dev->notify = on_notify;
    dev->broken = on_broken;
    dev->features = dev->host_features;
    for (unsigned i = 0; i < nq; i++) {
        struct vqd_queue *q = &d->q[i];
        q->desc = VQD_GPA + i * RING_SPAN;
        q->avail = q->desc + 0x1000;
        q->used = q->desc + 0x2000;
        assert_int_equal(vq_map(&q->vq, &d->map, VQD_QSIZE, q->desc, q->avail, q->used,
                                !!(dev->features & BIT(VIRTIO_F_EVENT_IDX))), 0);
        vq_set_base(&q->vq, 0);
        q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(q->kick >= 0);
        assert_int_equal(dev->ops->queue_start(dev, i, &q->vq, q->kick), 0);
    }
}

void vqd_detach(struct vqd *d)
{
    for (unsigned i = 0; i < d->nq; i++) {
        d->dev->ops->queue_stop(d->dev, i);
        close(d->q[i].kick);
    }
    d->nq = 0;
}

void vqd_fini(struct vqd *d)
{
    event_loop_destroy(&d->loop);
    munmap(d->ram, VQD_RAM);
}

void *vqd_gpa(struct vqd *d, uint64_t gpa)
{
    assert_true(gpa >= VQD_GPA && gpa < VQD_GPA + VQD_RAM);
    return d->ram + (gpa - VQD_GPA);
}

uint64_t vqd_alloc(struct vqd *d, size_t len)
{
    uint64_t a = d->next_buf;
    d->next_buf += (len + 15) & ~15ULL;
    assert_true(d->next_buf <= VQD_GPA + VQD_RAM);
    return a;
}

uint16_t vqd_post(struct vqd *d, unsigned qi, const struct vqd_seg *s, unsigned n)
{
    struct vqd_queue *q = &d->q[qi];
    struct virtq_desc *desc = vqd_gpa(d, q->desc);
    uint16_t head = q->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t k = (uint16_t)((head + i) % VQD_QSIZE);
        desc[k].addr = s[i].gpa;
        desc[k].len = s[i].len;
        desc[k].flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        desc[k].next = (uint16_t)((k + 1) % VQD_QSIZE);
    }
    q->next_desc = (uint16_t)((head + n) % VQD_QSIZE);
    uint16_t *ring = vqd_gpa(d, q->avail + 4);
    ring[q->avail_idx % VQD_QSIZE] = head;
    q->avail_idx++;
    __atomic_store_n((uint16_t *)vqd_gpa(d, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(q->kick, &one, 8), 8);
    return head;
}

void vqd_spin(struct vqd *d, int turns, int timeout_ms)
{
    for (int i = 0; i < turns; i++)
        event_loop_run_once(&d->loop, timeout_ms);
}

uint16_t vqd_used_idx(struct vqd *d, unsigned qi)
{
    return __atomic_load_n((uint16_t *)vqd_gpa(d, d->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

struct virtq_used_elem vqd_used(struct vqd *d, unsigned qi, uint16_t i)
{
    struct virtq_used_elem *ring = vqd_gpa(d, d->q[qi].used + 4);
    return ring[i % VQD_QSIZE];
}

/* The virtio-balloon device model against a driver played by the test:
 * guest RAM in two anonymous mappings with a hole between them (the rings
 * and buffers in the first, the pages to balloon in the second), the
 * queues served on the test thread's loop.  Whether a page went back to
 * the host is asked of the kernel (mincore), not of the device. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/balloon.h"
#include "virtio/virtqueue.h"

#define A_GPA   0x10000ULL            /* rings and buffers */
#define A_SIZE  (1024 * 1024)
#define B_GPA   0x200000ULL           /* pages to balloon, after a hole */
#define B_SIZE  (2 * 1024 * 1024)
#define B_PFN   (B_GPA / 4096)
#define HOLE_PFN ((A_GPA + A_SIZE) / 4096 + 1)
#define QSIZE   64
#define BUF_GPA (A_GPA + 0x10000)
#define PG      4096u

struct dq {
    uint64_t desc, avail, used;
    uint16_t avail_idx, next_desc;
    struct vq vq;
    int kick;
};

struct fx {
    uint8_t *a, *b;
    struct memmap map;
    struct event_loop loop;
    struct vballoon *bal;
    struct virtio_dev *dev;
    struct dq q[4];
    unsigned nq;
    int notified, broken, config_changes;
    uint64_t next_buf;
};

static void *gpa(struct fx *f, uint64_t a)
{
    if (a >= B_GPA)
        return f->b + (a - B_GPA);
    return f->a + (a - A_GPA);
}

static void on_notify(void *t, unsigned q)
{
    (void)q;
    ((struct fx *)t)->notified++;
}

static void on_broken(void *t, const char *why)
{
    (void)why;
    ((struct fx *)t)->broken++;
}

static void on_config(void *t)
{
    ((struct fx *)t)->config_changes++;
}

static uint64_t alloc_buf(struct fx *f, size_t len)
{
    uint64_t a = f->next_buf;
    f->next_buf += (len + 15) & ~15ULL;
    assert_true(f->next_buf <= A_GPA + A_SIZE);
    return a;
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

static uint16_t post(struct fx *f, unsigned qi, const struct seg *s, unsigned n)
{
    struct dq *q = &f->q[qi];
    struct virtq_desc *d = gpa(f, q->desc);
    uint16_t head = q->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t k = (uint16_t)((head + i) % QSIZE);
        d[k].addr = s[i].gpa;
        d[k].len = s[i].len;
        d[k].flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        d[k].next = (uint16_t)((k + 1) % QSIZE);
    }
    q->next_desc = (uint16_t)((head + n) % QSIZE);
    uint16_t *ring = gpa(f, q->avail + 4);
    ring[q->avail_idx % QSIZE] = head;
    q->avail_idx++;
    __atomic_store_n((uint16_t *)gpa(f, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
    uint64_t one = 1;
    assert_int_equal(write(q->kick, &one, 8), 8);
    return head;
}

static void spin(struct fx *f)
{
    for (int i = 0; i < 3; i++)
        event_loop_run_once(&f->loop, 10);
}

static uint16_t used_idx(struct fx *f, unsigned qi)
{
    return __atomic_load_n((uint16_t *)gpa(f, f->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

/* Posts one buffer of PFNs on queue qi (0 inflate, 1 deflate). */
static void send_pfns(struct fx *f, unsigned qi, const uint32_t *pfns, unsigned n, uint32_t len, bool write)
{
    uint64_t buf = alloc_buf(f, (size_t)n * 4 + 4);
    memcpy(gpa(f, buf), pfns, (size_t)n * 4);
    struct seg s = {buf, len, write};
    uint16_t before = used_idx(f, qi);
    post(f, qi, &s, 1);
    spin(f);
    assert_int_equal(used_idx(f, qi), (uint16_t)(before + 1));   /* always returned */
}

static bool resident(struct fx *f, uint64_t a)
{
    unsigned char v;
    uint8_t *p = gpa(f, a);
    assert_int_equal(mincore((void *)((uintptr_t)p & ~(uintptr_t)(PG - 1)), PG, &v), 0);
    return v & 1;
}

static struct vballoon_counters counters(struct fx *f)
{
    struct vballoon_counters c;
    vballoon_get_counters(f->bal, &c);
    return c;
}

/* Set by setup_split: B is two regions end to end in the host's mapping,
 * the second at 4 GiB, as memmap_alloc lays out RAM below and above the
 * 32-bit PCI window. */
#define HIGH_GPA 0x100000000ULL
static bool split_b;

static int setup_with(void **state, uint64_t drop_features)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->a = mmap(NULL, A_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    f->b = mmap(NULL, B_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(f->a != MAP_FAILED && f->b != MAP_FAILED);
    /* 4 KiB pages, so that one discarded page shows as one page. */
    madvise(f->b, B_SIZE, MADV_NOHUGEPAGE);
    assert_int_equal(memmap_add(&f->map, A_GPA, A_SIZE, f->a), 0);
    if (split_b) {
        assert_int_equal(memmap_add(&f->map, B_GPA, B_SIZE / 2, f->b), 0);
        assert_int_equal(memmap_add(&f->map, HIGH_GPA, B_SIZE / 2, f->b + B_SIZE / 2), 0);
    } else {
        assert_int_equal(memmap_add(&f->map, B_GPA, B_SIZE, f->b), 0);
    }
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    struct vballoon_opts o = {.name = "balloon test", .stats = true, .deflate_on_oom = true, .reporting = true};
    char err[256];
    f->bal = vballoon_new(&o, &f->map, &f->loop, err, sizeof(err));
    assert_non_null(f->bal);
    f->dev = vballoon_dev(f->bal);
    f->dev->transport = f;
    f->dev->notify = on_notify;
    f->dev->broken = on_broken;
    f->dev->config_changed = on_config;
    f->dev->features = f->dev->host_features & ~drop_features;
    f->nq = 2 + !!(f->dev->features & BIT(VIRTIO_BALLOON_F_STATS_VQ)) +
            !!(f->dev->features & BIT(VIRTIO_BALLOON_F_REPORTING));
    for (unsigned i = 0; i < f->nq; i++) {
        struct dq *q = &f->q[i];
        q->desc = A_GPA + i * 0x3000;
        q->avail = q->desc + 0x1000;
        q->used = q->desc + 0x2000;
        assert_int_equal(vq_map(&q->vq, &f->map, QSIZE, q->desc, q->avail, q->used, false), 0);
        vq_set_base(&q->vq, 0);
        q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(f->dev->ops->queue_start(f->dev, i, &q->vq, q->kick), 0);
    }
    f->next_buf = BUF_GPA;
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 0); }
static int setup_nostats(void **state) { return setup_with(state, BIT(VIRTIO_BALLOON_F_STATS_VQ)); }
static int setup_split(void **state)
{
    split_b = true;
    int r = setup_with(state, 0);
    split_b = false;
    return r;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < f->nq; i++) {
        f->dev->ops->queue_stop(f->dev, i);
        close(f->q[i].kick);
    }
    vballoon_free(f->bal);
    event_loop_destroy(&f->loop);
    munmap(f->a, A_SIZE);
    munmap(f->b, B_SIZE);
    free(f);
    return 0;
}

/* ---- tests ---- */

static void test_features_and_config(void **state)
{
    struct fx *f = *state;
    uint64_t hf = f->dev->host_features;
    assert_true(hf & BIT(VIRTIO_F_VERSION_1));
    assert_true(hf & BIT(VIRTIO_BALLOON_F_STATS_VQ));
    assert_true(hf & BIT(VIRTIO_BALLOON_F_DEFLATE_ON_OOM));
    assert_true(hf & BIT(VIRTIO_BALLOON_F_REPORTING));
    assert_int_equal(f->dev->device_id, VIRTIO_ID_BALLOON);
    assert_int_equal(f->dev->num_queues, 4);
    assert_int_equal(f->dev->config_len, 8);

    uint32_t cfg[2] = {1, 1};
    f->dev->ops->config_read(f->dev, 0, cfg, 8);
    assert_int_equal(cfg[0], 0);
    assert_int_equal(cfg[1], 0);
    assert_int_equal(vballoon_set_target(f->bal, 100), 0);
    assert_int_equal(f->config_changes, 1);
    f->dev->ops->config_read(f->dev, 0, cfg, 4);
    assert_int_equal(cfg[0], 100);
    /* More than the guest's RAM (256 + 512 pages) is refused. */
    assert_int_equal(vballoon_set_target(f->bal, 769), -1);
    assert_int_equal(vballoon_set_target(f->bal, 768), 0);
    assert_int_equal(f->config_changes, 2);

    /* The driver writes actual; num_pages is not its to write. */
    uint32_t v = 42, junk = 7;
    f->dev->ops->config_write(f->dev, 4, &v, 4);
    f->dev->ops->config_write(f->dev, 0, &junk, 4);
    uint16_t hi = 1;
    f->dev->ops->config_write(f->dev, 6, &hi, 2);   /* a partial write */
    f->dev->ops->config_read(f->dev, 0, cfg, 8);
    assert_int_equal(cfg[0], 768);
    assert_int_equal(cfg[1], 42 | 1u << 16);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.target_pages, 768);
    assert_int_equal(c.actual_pages, 42 | 1u << 16);
    /* Out of range accesses: no effect, reads zero. */
    f->dev->ops->config_write(f->dev, 6, &v, 4);
    f->dev->ops->config_write(f->dev, UINT32_MAX - 1, &v, 4);
    uint32_t z = 5;
    f->dev->ops->config_read(f->dev, 8, &z, 4);
    assert_int_equal(z, 0);
    f->dev->ops->config_read(f->dev, UINT32_MAX, &z, 4);
    assert_int_equal(z, 0);
    assert_int_equal(counters(f).actual_pages, 42 | 1u << 16);
}

static void test_inflate_discards(void **state)
{
    struct fx *f = *state;
    /* 8 contiguous pages and 2 apart, all written. */
    uint32_t pfns[10];
    for (unsigned i = 0; i < 8; i++)
        pfns[i] = (uint32_t)(B_PFN + 16 + i);
    pfns[8] = (uint32_t)(B_PFN + 100);
    pfns[9] = (uint32_t)(B_PFN + 3);
    for (unsigned i = 0; i < 10; i++)
        memset(gpa(f, (uint64_t)pfns[i] * PG), 0xAA, PG);
    memset(gpa(f, (B_PFN + 15) * PG), 0x55, PG);   /* neighbours stay */
    memset(gpa(f, (B_PFN + 24) * PG), 0x55, PG);
    for (unsigned i = 0; i < 10; i++)
        assert_true(resident(f, (uint64_t)pfns[i] * PG));

    send_pfns(f, 0, pfns, 10, sizeof(pfns), false);
    for (unsigned i = 0; i < 10; i++) {
        assert_false(resident(f, (uint64_t)pfns[i] * PG));
        assert_true(vballoon_page_ballooned(f->bal, (uint64_t)pfns[i] * PG));
        assert_int_equal(*(uint8_t *)gpa(f, (uint64_t)pfns[i] * PG + 100), 0);
    }
    assert_true(resident(f, (B_PFN + 15) * PG));
    assert_true(resident(f, (B_PFN + 24) * PG));
    assert_int_equal(*(uint8_t *)gpa(f, (B_PFN + 15) * PG + PG - 1), 0x55);
    assert_int_equal(*(uint8_t *)gpa(f, (B_PFN + 24) * PG), 0x55);
    assert_false(vballoon_page_ballooned(f->bal, (B_PFN + 15) * PG));
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.inflated, 10);
    assert_int_equal(c.ballooned_pages, 10);
    assert_int_equal(c.bad_pfns, 0);
    assert_int_equal(c.bad_buffers, 0);
    assert_true(f->notified > 0);
}

static void test_deflate(void **state)
{
    struct fx *f = *state;
    uint32_t in[4] = {(uint32_t)B_PFN, (uint32_t)B_PFN + 1, (uint32_t)B_PFN + 2, (uint32_t)B_PFN + 3};
    send_pfns(f, 0, in, 4, sizeof(in), false);
    uint32_t out[3] = {(uint32_t)B_PFN + 1, (uint32_t)B_PFN + 3, (uint32_t)B_PFN + 50 /* never inflated */};
    send_pfns(f, 1, out, 3, sizeof(out), false);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.inflated, 4);
    assert_int_equal(c.deflated, 2);
    assert_int_equal(c.deflate_unknown, 1);
    assert_int_equal(c.ballooned_pages, 2);
    assert_true(vballoon_page_ballooned(f->bal, B_GPA));
    assert_false(vballoon_page_ballooned(f->bal, B_GPA + PG));
    /* The guest uses a deflated page again: it is its memory. */
    memset(gpa(f, B_GPA + PG), 0x77, PG);
    assert_int_equal(*(uint8_t *)gpa(f, B_GPA + PG + 5), 0x77);
    /* Deflated again: not in the balloon any more. */
    send_pfns(f, 1, out, 1, 4, false);
    assert_int_equal(counters(f).deflate_unknown, 2);
}

static void test_hostile_pfns(void **state)
{
    struct fx *f = *state;
    /* RAM region A holds the rings: a canary page there stays, as does
     * everything outside both regions (nothing to look at there: it is
     * not mapped, and ASan would see a touch). */
    uint64_t canary = A_GPA + A_SIZE - PG;
    memset(gpa(f, canary), 0x5A, PG);
    uint32_t bad[6] = {
        0xFFFFFFFFu,                          /* far beyond RAM */
        (uint32_t)HOLE_PFN,                   /* between the regions */
        0,                                    /* below RAM */
        (uint32_t)((B_GPA + B_SIZE) / PG),    /* just past the end */
        (uint32_t)(B_PFN + 7),
        (uint32_t)(B_PFN + 7),                /* a repeat */
    };
    send_pfns(f, 0, bad, 6, sizeof(bad), false);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.bad_pfns, 4);
    assert_int_equal(c.inflate_repeats, 1);
    assert_int_equal(c.inflated, 1);
    assert_int_equal(c.ballooned_pages, 1);
    assert_int_equal(*(uint8_t *)gpa(f, canary + 9), 0x5A);
    assert_int_equal(f->broken, 0);

    /* An odd length: the whole PFNs are taken, the rest counted. */
    uint32_t two[2] = {(uint32_t)B_PFN + 8, (uint32_t)B_PFN + 9};
    send_pfns(f, 0, two, 2, 6, false);
    c = counters(f);
    assert_int_equal(c.bad_buffers, 1);
    assert_int_equal(c.inflated, 2);
    /* A device-writable buffer on the inflate queue: refused, counted. */
    send_pfns(f, 0, two + 1, 1, 4, true);
    c = counters(f);
    assert_int_equal(c.bad_buffers, 2);
    assert_int_equal(c.inflated, 2);
    /* An empty buffer. */
    send_pfns(f, 0, two, 0, 0, false);
    assert_int_equal(counters(f).inflated, 2);

    /* A huge count: the first 4096 PFNs are looked at, no more. */
    unsigned n = 5000;
    uint32_t *many = calloc(n, 4);
    for (unsigned i = 0; i < n; i++)
        many[i] = (uint32_t)(B_PFN + i % 512);   /* the whole region, again and again */
    send_pfns(f, 0, many, n, n * 4, false);
    free(many);
    c = counters(f);
    assert_int_equal(c.bad_buffers, 3);
    /* A balloon larger than RAM is not possible: each page counts once. */
    assert_int_equal(c.ballooned_pages, 512);
    assert_int_equal(c.inflated, 512);
    assert_int_equal(c.inflate_repeats, 1 + 4096 - (512 - 2));
    assert_int_equal(*(uint8_t *)gpa(f, canary + 9), 0x5A);
    assert_int_equal(f->broken, 0);
}

static void test_bad_chain_breaks_queue(void **state)
{
    struct fx *f = *state;
    /* A buffer outside guest RAM is a broken ring, not data. */
    struct seg s = {HOLE_PFN * PG, 4, false};
    post(f, 0, &s, 1);
    spin(f);
    assert_int_equal(f->broken, 1);
    assert_int_equal(counters(f).inflated, 0);
    /* Reported once; later kicks wait for the reset. */
    post(f, 0, &s, 1);
    spin(f);
    assert_int_equal(f->broken, 1);
}

static void put_stat(uint8_t *p, uint16_t tag, uint64_t val)
{
    memcpy(p, &tag, 2);
    memcpy(p + 2, &val, 8);
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    static const uint16_t tags[] = {VBALLOON_S_SWAP_IN, VBALLOON_S_SWAP_OUT, VBALLOON_S_MAJFLT,
                                    VBALLOON_S_MINFLT,  VBALLOON_S_MEMFREE,  VBALLOON_S_MEMTOT,
                                    VBALLOON_S_AVAIL,   VBALLOON_S_CACHES,   99};
    unsigned n = sizeof(tags) / sizeof(tags[0]);
    uint64_t buf = alloc_buf(f, n * 10);
    for (unsigned i = 0; i < n; i++)
        put_stat(gpa(f, buf + i * 10), tags[i], 1000 + i);
    struct seg s = {buf, n * 10, false};
    post(f, 2, &s, 1);
    spin(f);
    struct vballoon_guest_stats gs;
    vballoon_get_guest_stats(f->bal, &gs);
    assert_int_equal(gs.updates, 1);
    for (unsigned i = 0; i + 1 < n; i++) {
        assert_true(gs.valid & 1u << tags[i]);
        assert_int_equal(gs.val[tags[i]], 1000 + i);
    }
    assert_false(gs.valid & 1u << VBALLOON_S_HTLB_PGALLOC);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.stats_unknown_tags, 1);
    assert_int_equal(c.bad_buffers, 0);
    /* The device keeps the buffer until it wants fresh figures. */
    assert_int_equal(used_idx(f, 2), 0);
    assert_true(vballoon_request_stats(f->bal));
    assert_int_equal(used_idx(f, 2), 1);
    assert_false(vballoon_request_stats(f->bal));   /* none held now */

    /* The driver refills it: an odd length (two whole entries and a
     * half) updates what is whole. */
    put_stat(gpa(f, buf), VBALLOON_S_MEMFREE, 5);
    put_stat(gpa(f, buf + 10), VBALLOON_S_MEMTOT, 6);
    s.len = 25;
    post(f, 2, &s, 1);
    spin(f);
    vballoon_get_guest_stats(f->bal, &gs);
    assert_int_equal(gs.updates, 2);
    assert_int_equal(gs.valid, 1u << VBALLOON_S_MEMFREE | 1u << VBALLOON_S_MEMTOT);
    assert_int_equal(gs.val[VBALLOON_S_MEMFREE], 5);
    assert_int_equal(gs.val[VBALLOON_S_MEMTOT], 6);
    assert_int_equal(counters(f).bad_buffers, 1);
    /* A second buffer while one is held: the first goes back. */
    s.len = 20;
    post(f, 2, &s, 1);
    spin(f);
    assert_int_equal(used_idx(f, 2), 2);
    /* A huge one is cut at 64 entries. */
    uint64_t big = alloc_buf(f, 1000 * 10);
    for (unsigned i = 0; i < 1000; i++)
        put_stat(gpa(f, big + i * 10), (uint16_t)(i % 20), i);
    struct seg sb = {big, 1000 * 10, false};
    post(f, 2, &sb, 1);
    spin(f);
    c = counters(f);
    assert_int_equal(c.bad_buffers, 2);
    vballoon_get_guest_stats(f->bal, &gs);
    assert_int_equal(gs.val[VBALLOON_S_MEMFREE], 44);   /* entry 44 is the last tag 4 in the first 64 */
}

static void test_reporting(void **state)
{
    struct fx *f = *state;
    memset(f->b, 0x33, 32 * PG);
    for (unsigned i = 0; i < 32; i++)
        assert_true(resident(f, B_GPA + i * PG));
    /* Linux reports device-writable ranges: 8 pages, then 4 pages in a
     * chain of two, and a tiny range that holds no whole page. */
    struct seg big = {B_GPA, 8 * PG, true};
    post(f, 3, &big, 1);
    struct seg two[2] = {{B_GPA + 16 * PG, 2 * PG, true}, {B_GPA + 20 * PG, 2 * PG, true}};
    post(f, 3, two, 2);
    struct seg tiny = {B_GPA + 30 * PG + 8, 100, true};
    post(f, 3, &tiny, 1);
    spin(f);
    assert_int_equal(used_idx(f, 3), 3);
    for (unsigned i = 0; i < 8; i++)
        assert_false(resident(f, B_GPA + i * PG));
    for (unsigned i = 8; i < 16; i++)
        assert_true(resident(f, B_GPA + i * PG));
    assert_false(resident(f, B_GPA + 16 * PG));
    assert_false(resident(f, B_GPA + 21 * PG));
    assert_true(resident(f, B_GPA + 18 * PG));
    assert_true(resident(f, B_GPA + 30 * PG));
    assert_int_equal(*(uint8_t *)gpa(f, B_GPA + 30 * PG + 50), 0x33);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.reports, 3);
    assert_int_equal(c.reported_bytes, 12 * PG);
    assert_int_equal(c.report_small, 1);
    /* Reported pages are the guest's, not the balloon's. */
    assert_int_equal(c.ballooned_pages, 0);
    assert_false(vballoon_page_ballooned(f->bal, B_GPA));

    /* A flood of tiny reports: each one answered, counted, nothing else. */
    for (unsigned i = 0; i < 200; i++) {
        struct seg t = {B_GPA + 40 * PG + i, 1, true};
        post(f, 3, &t, 1);
        if (i % 32 == 31)
            spin(f);
    }
    spin(f);
    assert_int_equal(used_idx(f, 3), 203);
    assert_int_equal(counters(f).report_small, 201);
    assert_int_equal(f->broken, 0);
}

static void test_queue_numbers_follow_features(void **state)
{
    /* Without the statistics queue, queue 2 is the reporting queue. */
    struct fx *f = *state;
    assert_int_equal(f->nq, 3);
    memset(f->b, 0x11, 4 * PG);
    struct seg r = {B_GPA, 4 * PG, true};
    post(f, 2, &r, 1);
    spin(f);
    assert_int_equal(counters(f).reported_bytes, 4 * PG);
    assert_false(resident(f, B_GPA));
    /* And there is no queue 3. */
    struct vq vq;
    assert_int_equal(vq_map(&vq, &f->map, QSIZE, A_GPA + 0x9000, A_GPA + 0xA000, A_GPA + 0xB000, false), 0);
    int kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 3, &vq, kick), -1);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 200, &vq, kick), -1);
    close(kick);
}

static void test_reset_empties_balloon(void **state)
{
    struct fx *f = *state;
    uint32_t p[2] = {(uint32_t)B_PFN + 1, (uint32_t)B_PFN + 2};
    send_pfns(f, 0, p, 2, 8, false);
    uint32_t actual = 2;
    f->dev->ops->config_write(f->dev, 4, &actual, 4);
    assert_int_equal(counters(f).ballooned_pages, 2);
    /* The transport stops the queues on a reset; the next driver starts
     * with an empty balloon. */
    f->dev->ops->queue_stop(f->dev, 0);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.ballooned_pages, 0);
    assert_int_equal(c.actual_pages, 0);
    assert_false(vballoon_page_ballooned(f->bal, B_GPA + PG));
    vq_set_base(&f->q[0].vq, f->q[0].avail_idx);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 0, &f->q[0].vq, f->q[0].kick), 0);
    send_pfns(f, 0, p, 2, 8, false);
    c = counters(f);
    assert_int_equal(c.ballooned_pages, 2);
    assert_int_equal(c.inflate_repeats, 0);
}

static void test_regions_end_to_end(void **state)
{
    /* The last page below the hole and the first above it are neighbours
     * in the host's mapping: each is discarded within its own region. */
    struct fx *f = *state;
    uint8_t *last = f->b + B_SIZE / 2 - PG, *first = f->b + B_SIZE / 2;
    memset(last, 0x66, 2 * PG);
    uint32_t p[2] = {(uint32_t)((B_GPA + B_SIZE / 2) / PG - 1), (uint32_t)(HIGH_GPA / PG)};
    send_pfns(f, 0, p, 2, 8, false);
    struct vballoon_counters c = counters(f);
    assert_int_equal(c.inflated, 2);
    assert_int_equal(c.discard_errors, 0);
    unsigned char v[2];
    assert_int_equal(mincore(last, 2 * PG, v), 0);
    assert_false(v[0] & 1);
    assert_false(v[1] & 1);
    assert_int_equal(first[7], 0);
    assert_true(vballoon_page_ballooned(f->bal, HIGH_GPA));
}

static void test_discard_bounds(void **state)
{
    struct fx *f = *state;
    /* memmap_discard refuses host ranges outside guest RAM. */
    uint8_t local[64];
    assert_int_equal(memmap_discard(&f->map, local, sizeof(local)), -1);
    assert_int_equal(memmap_discard(&f->map, f->b + B_SIZE - PG, 2 * PG), -1);
    assert_int_equal(memmap_discard(&f->map, f->b + B_SIZE - PG, PG), PG);
    assert_int_equal(memmap_discard(&f->map, f->b + 1, PG), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inflate_discards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_pfns, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_chain_breaks_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reporting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_numbers_follow_features, setup_nostats, teardown),
        cmocka_unit_test_setup_teardown(test_reset_empties_balloon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regions_end_to_end, setup_split, teardown),
        cmocka_unit_test_setup_teardown(test_discard_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

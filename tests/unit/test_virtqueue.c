/* Split virtqueues and guest-memory translation, seen from a hostile
 * driver.  Guest RAM is an exactly-sized heap buffer, so the ASan build
 * turns any access past it into a failure, and every rejected chain must
 * also leave the queue broken with a reason for the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "mem/memmap.h"
#include "virtio/virtqueue.h"

#define MEM_GPA   0x100000ULL
#define MEM_SIZE  0x10000ULL
/* Ring offsets leave room for a VQ_MAX_SIZE queue. */
#define DESC_GPA  (MEM_GPA + 0x0000)
#define AVAIL_GPA (MEM_GPA + 0x4000)
#define USED_GPA  (MEM_GPA + 0x5000)
#define TABLE_GPA (MEM_GPA + 0x8000) /* indirect tables, up to 8 KiB */
#define BUF_GPA   (MEM_GPA + 0xa000) /* data buffers, to the end */
#define QSIZE     16

struct fx {
    uint8_t *ram;
    struct memmap mem;
    struct vq vq;
    struct vq_elem e;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = aligned_alloc(4096, MEM_SIZE);
    assert_non_null(f->ram);
    memset(f->ram, 0, MEM_SIZE);
    assert_int_equal(memmap_add(&f->mem, MEM_GPA, MEM_SIZE, f->ram), 0);
    assert_int_equal(vq_map(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static void *host(struct fx *f, uint64_t gpa)
{
    assert_true(gpa >= MEM_GPA && gpa < MEM_GPA + MEM_SIZE);
    return f->ram + (gpa - MEM_GPA);
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v) { memcpy(host(f, gpa), &v, 2); }
static uint16_t get16(struct fx *f, uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, host(f, gpa), 2);
    return v;
}

static void set_desc_at(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next)
{
    struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
    memcpy(host(f, table + 16ULL * i), &d, sizeof(d));
}

static void set_desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    set_desc_at(f, DESC_GPA, i, addr, len, flags, next);
}

/* Publishes head the way a driver does: ring slot first, then the index. */
static void offer(struct fx *f, uint16_t head)
{
    uint16_t idx = get16(f, AVAIL_GPA + 2);
    put16(f, AVAIL_GPA + 4 + 2ULL * (idx % f->vq.size), head);
    put16(f, AVAIL_GPA + 2, (uint16_t)(idx + 1));
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned slot)
{
    struct virtq_used_elem u;
    memcpy(&u, host(f, USED_GPA + 4 + 8ULL * slot), sizeof(u));
    return u;
}

static bool iov_in_ram(struct fx *f, const struct iovec *v)
{
    const uint8_t *p = v->iov_base;
    return p >= f->ram && p <= f->ram + MEM_SIZE && v->iov_len <= (size_t)(f->ram + MEM_SIZE - p);
}

static void assert_broken(struct fx *f, const char *why_part)
{
    assert_true(f->vq.broken);
    assert_non_null(f->vq.why);
    assert_non_null(strstr(f->vq.why, why_part));
    /* Once broken, nothing more is taken from the queue. */
    assert_int_equal(vq_pop(&f->vq, &f->e), -1);
    assert_false(vq_has_work(&f->vq));
}

static void pop_fails(struct fx *f, const char *why_part)
{
    assert_int_equal(vq_pop(&f->vq, &f->e), -1);
    assert_broken(f, why_part);
}

/* ---- memmap ---- */

static void memmap_add_rejects_bad_regions(void **state)
{
    (void)state;
    static uint8_t h[64];
    struct memmap m = {0};
    assert_int_equal(memmap_add(&m, 0x1000, 0x1000, h), 0);
    assert_int_equal(memmap_add(&m, 0x1000, 0x1000, h), -1);   /* same range */
    assert_int_equal(memmap_add(&m, 0x800, 0x1000, h), -1);    /* overlaps the start */
    assert_int_equal(memmap_add(&m, 0x1fff, 0x10, h), -1);     /* overlaps the end */
    assert_int_equal(memmap_add(&m, 0x1100, 0x10, h), -1);     /* inside */
    assert_int_equal(memmap_add(&m, 0x0, 0x10000, h), -1);     /* contains it */
    assert_int_equal(memmap_add(&m, 0x3000, 0, h), -1);        /* empty */
    assert_int_equal(memmap_add(&m, UINT64_MAX - 0xf, 0x20, h), -1);  /* wraps */
    /* Ending exactly at 2^64 is also a wrap of gpa + size. */
    assert_int_equal(memmap_add(&m, UINT64_MAX - 0xf, 0x10, h), -1);
    assert_int_equal(memmap_add(&m, 0x3000, 0x10, NULL), -1);
    assert_int_equal(m.count, 1);
    /* Touching neighbours on both sides are fine. */
    assert_int_equal(memmap_add(&m, 0x0, 0x1000, h), 0);
    assert_int_equal(memmap_add(&m, 0x2000, 0x1000, h), 0);
    assert_int_equal(m.count, 3);
    for (uint64_t i = 3; i < MEMMAP_MAX_REGIONS; i++)
        assert_int_equal(memmap_add(&m, 0x10000 * i, 0x10, h), 0);
    assert_int_equal(memmap_add(&m, 0x10000 * MEMMAP_MAX_REGIONS, 0x10, h), -1);  /* full */
    assert_int_equal(m.count, MEMMAP_MAX_REGIONS);
}

static void memmap_ptr_bounds(void **state)
{
    (void)state;
    static uint8_t h[0x1000];
    struct memmap m = {0};
    assert_int_equal(memmap_add(&m, 0x10000, sizeof(h), h), 0);
    assert_ptr_equal(memmap_ptr(&m, 0x10000, sizeof(h)), h);
    assert_ptr_equal(memmap_ptr(&m, 0x10ff0, 0x10), h + 0xff0);   /* ends exactly at the end */
    assert_null(memmap_ptr(&m, 0x10ff0, 0x11));                   /* one past */
    assert_null(memmap_ptr(&m, 0x10000, sizeof(h) + 1));
    assert_ptr_equal(memmap_ptr(&m, 0x11000, 0), h + sizeof(h));  /* empty, at the end */
    assert_null(memmap_ptr(&m, 0x11000, 1));
    assert_null(memmap_ptr(&m, 0x11001, 0));
    assert_null(memmap_ptr(&m, 0xffff, 1));
    assert_null(memmap_ptr(&m, 0xffff, 2));                       /* starts before */
    assert_null(memmap_ptr(&m, 0x10800, UINT64_MAX));             /* gpa + len wraps */
    assert_null(memmap_ptr(&m, UINT64_MAX, 2));
}

static void memmap_iov_splits_and_fails(void **state)
{
    (void)state;
    uint8_t *a = malloc(0x100), *b = malloc(0x100);
    assert_non_null(a);
    assert_non_null(b);
    struct memmap m = {0};
    /* Adjacent in guest-physical space, unrelated on the host. */
    assert_int_equal(memmap_add(&m, 0x2000, 0x100, a), 0);
    assert_int_equal(memmap_add(&m, 0x2100, 0x100, b), 0);
    struct iovec v[4];

    assert_int_equal(memmap_iov(&m, 0x20f0, 0x20, v, 4), 2);
    assert_ptr_equal(v[0].iov_base, a + 0xf0);
    assert_int_equal(v[0].iov_len, 0x10);
    assert_ptr_equal(v[1].iov_base, b);
    assert_int_equal(v[1].iov_len, 0x10);

    assert_int_equal(memmap_iov(&m, 0x2000, 0x200, v, 4), 2);     /* both, whole */
    assert_int_equal(v[0].iov_len + v[1].iov_len, 0x200);
    assert_int_equal(memmap_iov(&m, 0x2010, 0x20, v, 4), 1);      /* one region */
    assert_ptr_equal(v[0].iov_base, a + 0x10);
    assert_int_equal(memmap_iov(&m, 0x2010, 0, v, 0), 0);

    assert_int_equal(memmap_iov(&m, 0x1000, 0x10, v, 4), -1);     /* outside */
    assert_int_equal(memmap_iov(&m, 0x1ff0, 0x20, v, 4), -1);     /* starts before */
    assert_int_equal(memmap_iov(&m, 0x21f0, 0x11, v, 4), -1);     /* runs past the end */
    assert_int_equal(memmap_iov(&m, 0x2000, 0xffffffff, v, 4), -1);
    assert_int_equal(memmap_iov(&m, UINT64_MAX - 4, 0x10, v, 4), -1);
    assert_int_equal(memmap_iov(&m, 0x20f0, 0x20, v, 1), -2);     /* needs two */
    assert_int_equal(memmap_iov(&m, 0x20f0, 0x20, v, 0), -2);
    free(a);
    free(b);
}

/* ---- vq_map ---- */

static void vq_map_rejects_bad_layouts(void **state)
{
    struct fx *f = *state;
    struct vq q;
    const uint16_t bad_sizes[] = {0, 3, 6, 100, 1023, VQ_MAX_SIZE * 2, VQ_MAX_SIZE + 1, 0x8000};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++)
        assert_int_equal(vq_map(&q, &f->mem, bad_sizes[i], DESC_GPA, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 1, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
    assert_int_equal(vq_map(&q, &f->mem, VQ_MAX_SIZE, DESC_GPA, AVAIL_GPA, USED_GPA, true), 0);
    assert_int_equal(q.size, VQ_MAX_SIZE);

    /* Alignment: 16 for the table, 2 for avail, 4 for used (2.7). */
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA + 8, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA + 1, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA + 1, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 2, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA, USED_GPA + 1, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA + 16, AVAIL_GPA + 2, USED_GPA + 4, false), 0);

    /* Each ring must lie entirely in guest memory, its EVENT_IDX word included. */
    const uint64_t end = MEM_GPA + MEM_SIZE;
    assert_int_equal(vq_map(&q, &f->mem, 16, end - 16 * 16, AVAIL_GPA, USED_GPA, false), 0);
    assert_int_equal(vq_map(&q, &f->mem, 16, end - 16 * 15, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, end - 38, USED_GPA, false), 0);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, end - 36, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA, end - 136, false), 0);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA, end - 132, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, MEM_GPA - 16, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, 0, AVAIL_GPA, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, 0, USED_GPA, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, DESC_GPA, AVAIL_GPA, 0, false), -1);
    assert_int_equal(vq_map(&q, &f->mem, 16, UINT64_MAX & ~15ULL, AVAIL_GPA, USED_GPA, false), -1);
}

/* ---- vq_pop / vq_push ---- */

static void empty_queue(void **state)
{
    struct fx *f = *state;
    assert_false(vq_has_work(&f->vq));
    assert_int_equal(vq_pop(&f->vq, &f->e), 0);
    assert_false(f->vq.broken);
    assert_null(f->vq.why);
}

static void simple_chain(void **state)
{
    struct fx *f = *state;
    static const char hdr[16] = "request header!";
    memcpy(host(f, BUF_GPA), hdr, sizeof(hdr));
    memset(host(f, BUF_GPA + 0x100), 0xaa, 512);
    set_desc(f, 3, BUF_GPA, sizeof(hdr), VIRTQ_DESC_F_NEXT, 7);
    set_desc(f, 7, BUF_GPA + 0x100, 512, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 3);
    assert_true(vq_has_work(&f->vq));

    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_false(f->vq.broken);
    assert_int_equal(f->e.head, 3);
    assert_int_equal(f->e.out_num, 1);
    assert_int_equal(f->e.in_num, 1);
    assert_int_equal(f->e.out_len, sizeof(hdr));
    assert_int_equal(f->e.in_len, 512);
    assert_ptr_equal(f->e.iov[0].iov_base, host(f, BUF_GPA));
    assert_int_equal(f->e.iov[0].iov_len, sizeof(hdr));
    assert_ptr_equal(f->e.iov[1].iov_base, host(f, BUF_GPA + 0x100));
    assert_int_equal(f->e.iov[1].iov_len, 512);
    assert_memory_equal(f->e.iov[0].iov_base, hdr, sizeof(hdr));
    memset(f->e.iov[1].iov_base, 0x55, 100);
    assert_int_equal(*(uint8_t *)host(f, BUF_GPA + 0x100 + 99), 0x55);

    assert_false(vq_has_work(&f->vq));
    assert_int_equal(vq_pop(&f->vq, &f->e), 0);

    vq_push(&f->vq, 3, 100);
    assert_int_equal(get16(f, USED_GPA + 2), 1);
    struct virtq_used_elem u = used_elem(f, 0);
    assert_int_equal(u.id, 3);
    assert_int_equal(u.len, 100);
    assert_false(f->vq.broken);
}

/* The 16-bit indices wrap; the ring slot is the index modulo the size. */
static void indices_wrap(void **state)
{
    struct fx *f = *state;
    vq_set_base(&f->vq, 0xfffe);
    put16(f, AVAIL_GPA + 2, 0xfffe);
    put16(f, USED_GPA + 2, 0xfffe);
    for (uint16_t i = 0; i < 3; i++) {
        set_desc(f, i, BUF_GPA + 0x10 * i, 0x10, 0, 0);
        offer(f, i);
    }
    assert_int_equal(get16(f, AVAIL_GPA + 2), 1);
    for (uint16_t i = 0; i < 3; i++) {
        assert_int_equal(vq_pop(&f->vq, &f->e), 1);
        assert_int_equal(f->e.head, i);
        assert_ptr_equal(f->e.iov[0].iov_base, host(f, BUF_GPA + 0x10 * i));
        vq_push(&f->vq, f->e.head, 0);
    }
    assert_int_equal(vq_pop(&f->vq, &f->e), 0);
    assert_int_equal(get16(f, USED_GPA + 2), 1);
    assert_int_equal(used_elem(f, 14).id, 0);
    assert_int_equal(used_elem(f, 15).id, 1);
    assert_int_equal(used_elem(f, 0).id, 2);
}

/* A full ring (as many pending as the queue size) is legal. */
static void full_ring(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < QSIZE; i++) {
        set_desc(f, i, BUF_GPA, 1, 0, 0);
        offer(f, (uint16_t)(QSIZE - 1 - i));
    }
    for (uint16_t i = 0; i < QSIZE; i++) {
        assert_int_equal(vq_pop(&f->vq, &f->e), 1);
        assert_int_equal(f->e.head, QSIZE - 1 - i);
    }
    assert_int_equal(vq_pop(&f->vq, &f->e), 0);
}

/* A chain using every descriptor of the table is as long as one may be. */
static void chain_of_queue_size(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < QSIZE; i++)
        set_desc(f, i, BUF_GPA + i, 1, i + 1 < QSIZE ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    offer(f, 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.out_num, QSIZE);
    assert_int_equal(f->e.out_len, QSIZE);
}

static void indirect_chain(void **state)
{
    struct fx *f = *state;
    /* Table order differs from chain order: 0 -> 2 -> 1. */
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(f, TABLE_GPA, 2, BUF_GPA + 0x100, 64, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(f, TABLE_GPA, 1, BUF_GPA + 0x200, 32, VIRTQ_DESC_F_WRITE, 0);
    set_desc(f, 5, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    memcpy(host(f, BUF_GPA), "indirect", 8);
    offer(f, 5);

    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_false(f->vq.broken);
    assert_int_equal(f->e.head, 5);
    assert_int_equal(f->e.out_num, 1);
    assert_int_equal(f->e.in_num, 2);
    assert_int_equal(f->e.out_len, 8);
    assert_int_equal(f->e.in_len, 96);
    assert_ptr_equal(f->e.iov[0].iov_base, host(f, BUF_GPA));
    assert_memory_equal(f->e.iov[0].iov_base, "indirect", 8);
    assert_ptr_equal(f->e.iov[1].iov_base, host(f, BUF_GPA + 0x100));
    assert_int_equal(f->e.iov[1].iov_len, 64);
    assert_ptr_equal(f->e.iov[2].iov_base, host(f, BUF_GPA + 0x200));
    assert_int_equal(f->e.iov[2].iov_len, 32);

    vq_push(&f->vq, 5, 96);
    assert_int_equal(used_elem(f, 0).id, 5);
    assert_int_equal(used_elem(f, 0).len, 96);
    assert_int_equal(get16(f, USED_GPA + 2), 1);
}

static void indirect_with_next(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    set_desc(f, 0, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF_GPA, 8, 0, 0);
    offer(f, 0);
    pop_fails(f, "NEXT");
}

static void indirect_nested(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(f, TABLE_GPA, 1, TABLE_GPA + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
    set_desc_at(f, TABLE_GPA + 0x100, 0, BUF_GPA, 8, 0, 0);
    set_desc(f, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "nested");
}

static void indirect_bad_length(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    set_desc(f, 0, TABLE_GPA, 24, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "multiple of 16");
}

static void indirect_zero_length(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, TABLE_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "multiple of 16");
}

static void indirect_table_outside_memory(void **state)
{
    struct fx *f = *state;
    /* The last entry would lie one descriptor past the end of RAM. */
    set_desc(f, 0, MEM_GPA + MEM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

static void indirect_loop(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(f, TABLE_GPA, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "loops");
}

static void indirect_next_out_of_range(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
    set_desc_at(f, TABLE_GPA, 2, BUF_GPA, 8, 0, 0);  /* present in RAM, but not in the table */
    set_desc(f, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "out of range");
}

static void indirect_not_at_head(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, 0, 0);
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, TABLE_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "inside a chain");
}

static void indirect_readable_after_writable(void **state)
{
    struct fx *f = *state;
    set_desc_at(f, TABLE_GPA, 0, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc_at(f, TABLE_GPA, 1, BUF_GPA + 8, 8, 0, 0);
    set_desc(f, 0, TABLE_GPA, 32, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "readable descriptor after");
}

/* Exactly VQ_ELEM_MAX_IOV buffers fit; one more breaks the queue. */
static void indirect_max_iov(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < VQ_ELEM_MAX_IOV; i++)
        set_desc_at(f, TABLE_GPA, i, BUF_GPA + i, 1, i + 1 < VQ_ELEM_MAX_IOV ? VIRTQ_DESC_F_NEXT : 0,
                    (uint16_t)(i + 1));
    set_desc(f, 0, TABLE_GPA, 16 * VQ_ELEM_MAX_IOV, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.out_num, VQ_ELEM_MAX_IOV);
    assert_int_equal(f->e.out_len, VQ_ELEM_MAX_IOV);
    for (unsigned i = 0; i < VQ_ELEM_MAX_IOV; i++)
        assert_ptr_equal(f->e.iov[i].iov_base, host(f, BUF_GPA + i));
}

static void indirect_too_many_buffers(void **state)
{
    struct fx *f = *state;
    enum { N = 300 };
    for (unsigned i = 0; i < N; i++)
        set_desc_at(f, TABLE_GPA, i, BUF_GPA + i, 1, i + 1 < N ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
    set_desc(f, 0, TABLE_GPA, 16 * N, VIRTQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    pop_fails(f, "too many buffers");
    /* Nothing was written past the element's iovec array (ASan would say). */
    assert_true(f->e.out_num + f->e.in_num <= VQ_ELEM_MAX_IOV);
}

static void desc_loop(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    offer(f, 0);
    pop_fails(f, "loops");
}

static void desc_self_loop(void **state)
{
    struct fx *f = *state;
    set_desc(f, 4, BUF_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 4);
    offer(f, 4);
    pop_fails(f, "loops");
}

static void desc_next_out_of_range(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, QSIZE);
    offer(f, 0);
    pop_fails(f, "out of range");
}

static void head_out_of_range(void **state)
{
    struct fx *f = *state;
    offer(f, QSIZE);
    pop_fails(f, "out of range");
}

static void avail_idx_too_far(void **state)
{
    struct fx *f = *state;
    for (uint16_t i = 0; i < QSIZE; i++)
        set_desc(f, i, BUF_GPA, 1, 0, 0);
    put16(f, AVAIL_GPA + 2, QSIZE + 1);
    pop_fails(f, "more than the queue size");
}

/* An index that moved backwards looks like one that moved almost 2^16. */
static void avail_idx_backwards(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 1, 0, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    put16(f, AVAIL_GPA + 2, 0);
    pop_fails(f, "more than the queue size");
}

static void buffer_outside_memory(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, MEM_GPA - 0x1000, 8, 0, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

static void buffer_straddles_end(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, MEM_GPA + MEM_SIZE - 8, 9, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

static void buffer_straddles_start(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, MEM_GPA - 1, 2, 0, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

static void huge_len_wraps(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, UINT64_MAX - 15, UINT32_MAX, 0, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

static void huge_len_inside_memory(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, UINT32_MAX, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    pop_fails(f, "outside guest memory");
}

/* The used length is 32 bits, so a chain's total must be too.  The 4 GiB
 * region is reserved address space only: nothing reads or writes it. */
static void chain_longer_than_4g(void **state)
{
    struct fx *f = *state;
    const uint64_t big_gpa = 1ULL << 40, big_size = 1ULL << 32;
    void *big = mmap(NULL, big_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (big == MAP_FAILED)
        skip();
    assert_int_equal(memmap_add(&f->mem, big_gpa, big_size, big), 0);
    set_desc(f, 0, big_gpa, 0x80000000u, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, big_gpa + 0x80000000u, 0x80000000u, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    pop_fails(f, "4 GiB");
    munmap(big, big_size);
}

static void readable_after_writable(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF_GPA + 8, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, 2, BUF_GPA + 16, 8, 0, 0);
    offer(f, 0);
    pop_fails(f, "readable descriptor after");
}

/* A good chain offered after the bad one is not taken either. */
static void broken_stays_broken(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
    set_desc(f, 1, BUF_GPA, 8, 0, 0);
    offer(f, 0);
    offer(f, 1);
    pop_fails(f, "loops");
    const char *why = f->vq.why;
    set_desc(f, 0, BUF_GPA, 8, 0, 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vq_pop(&f->vq, &f->e), -1);
    assert_false(vq_has_work(&f->vq));
    assert_ptr_equal(f->vq.why, why);
    assert_int_equal(get16(f, USED_GPA + 2), 0);
}

/* Earlier chains are still delivered; the bad one is where it stops. */
static void good_then_bad(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 8, 0, 0);
    set_desc(f, 1, BUF_GPA, 8, VIRTQ_DESC_F_NEXT, 99);
    offer(f, 0);
    offer(f, 1);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_int_equal(f->e.head, 0);
    assert_false(f->vq.broken);
    pop_fails(f, "out of range");
}

/* ---- notifications ---- */

static void notify_without_event_idx(void **state)
{
    struct fx *f = *state;
    vq_push(&f->vq, 0, 0);
    assert_true(vq_should_notify(&f->vq));
    put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    vq_push(&f->vq, 0, 0);
    assert_false(vq_should_notify(&f->vq));
    assert_false(vq_should_notify(&f->vq));
    put16(f, AVAIL_GPA, 0);
    assert_true(vq_should_notify(&f->vq));
    /* used_event means nothing without the feature. */
    put16(f, AVAIL_GPA + 4 + 2 * QSIZE, 100);
    assert_true(vq_should_notify(&f->vq));
}

static void notify_with_event_idx(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vq_map(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, true), 0);
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;
    /* The flag is ignored under EVENT_IDX. */
    put16(f, AVAIL_GPA, VIRTQ_AVAIL_F_NO_INTERRUPT);
    put16(f, used_event, 0x7000);

    /* Nothing is known about what the driver saw: always notify first. */
    vq_push(&f->vq, 0, 0);                       /* used idx 1 */
    assert_true(vq_should_notify(&f->vq));

    put16(f, used_event, 1);                     /* wants one once idx passes 1 */
    vq_push(&f->vq, 0, 0);                       /* 2 */
    assert_true(vq_should_notify(&f->vq));
    vq_push(&f->vq, 0, 0);                       /* 3: already notified past 1 */
    assert_false(vq_should_notify(&f->vq));

    put16(f, used_event, 5);
    vq_push(&f->vq, 0, 0);                       /* 4 */
    assert_false(vq_should_notify(&f->vq));
    vq_push(&f->vq, 0, 0);                       /* 5 */
    assert_false(vq_should_notify(&f->vq));
    vq_push(&f->vq, 0, 0);                       /* 6: crosses 5 */
    assert_true(vq_should_notify(&f->vq));

    /* A batch that jumps over used_event still notifies once. */
    put16(f, used_event, 7);
    vq_push(&f->vq, 0, 0);                       /* 7 */
    vq_push(&f->vq, 0, 0);                       /* 8 */
    vq_push(&f->vq, 0, 0);                       /* 9 */
    assert_true(vq_should_notify(&f->vq));
    assert_false(vq_should_notify(&f->vq));      /* nothing new */

    /* And across the 16-bit wrap. */
    vq_set_base(&f->vq, 0xfffe);
    assert_true(vq_should_notify(&f->vq));       /* base reset forgets the last one */
    put16(f, used_event, 0xffff);
    vq_push(&f->vq, 0, 0);                       /* 0xffff */
    assert_false(vq_should_notify(&f->vq));
    vq_push(&f->vq, 0, 0);                       /* 0 */
    assert_true(vq_should_notify(&f->vq));
    assert_int_equal(get16(f, USED_GPA + 2), 0);
}

static void kicks_without_event_idx(void **state)
{
    struct fx *f = *state;
    vq_disable_kicks(&f->vq);
    assert_int_equal(get16(f, USED_GPA), VIRTQ_USED_F_NO_NOTIFY);
    assert_false(vq_enable_kicks(&f->vq));
    assert_int_equal(get16(f, USED_GPA), 0);

    vq_disable_kicks(&f->vq);
    set_desc(f, 0, BUF_GPA, 8, 0, 0);
    offer(f, 0);
    assert_true(vq_enable_kicks(&f->vq));        /* arrived while disabled */
    assert_int_equal(get16(f, USED_GPA), 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_false(vq_enable_kicks(&f->vq));
    /* avail_event is not touched without the feature. */
    assert_int_equal(get16(f, USED_GPA + 4 + 8 * QSIZE), 0);
}

static void kicks_with_event_idx(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vq_map(&f->vq, &f->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, true), 0);
    const uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;
    put16(f, avail_event, 0x1234);
    vq_disable_kicks(&f->vq);
    assert_int_equal(get16(f, USED_GPA), 0);     /* flags are not used under EVENT_IDX */
    assert_int_equal(get16(f, avail_event), 0x1234);

    assert_false(vq_enable_kicks(&f->vq));
    assert_int_equal(get16(f, avail_event), 0);
    assert_int_equal(get16(f, USED_GPA), 0);

    set_desc(f, 0, BUF_GPA, 8, 0, 0);
    offer(f, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_true(vq_enable_kicks(&f->vq));        /* one still pending */
    assert_int_equal(get16(f, avail_event), 1);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    assert_false(vq_enable_kicks(&f->vq));
    assert_int_equal(get16(f, avail_event), 2);
}

/* ---- iovec helpers ---- */

struct three {
    uint8_t a[3], b[5], c[7];
    struct iovec v[4];
};

static void three_init(struct three *t)
{
    for (unsigned i = 0; i < 3; i++)
        t->a[i] = (uint8_t)i;
    for (unsigned i = 0; i < 5; i++)
        t->b[i] = (uint8_t)(3 + i);
    for (unsigned i = 0; i < 7; i++)
        t->c[i] = (uint8_t)(8 + i);
    t->v[0] = (struct iovec){t->a, 3};
    t->v[1] = (struct iovec){t->b, 5};
    t->v[2] = (struct iovec){NULL, 0};  /* empty ones are legal and skipped */
    t->v[3] = (struct iovec){t->c, 7};
}

static void iov_to_from_buf(void **state)
{
    (void)state;
    struct three t;
    three_init(&t);
    uint8_t buf[32];

    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(iov_to_buf(t.v, 4, 0, buf, 15), 15);
    for (unsigned i = 0; i < 15; i++)
        assert_int_equal(buf[i], i);
    assert_int_equal(buf[15], 0xff);

    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(iov_to_buf(t.v, 4, 2, buf, 8), 8);
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(buf[i], 2 + i);
    assert_int_equal(buf[8], 0xff);

    assert_int_equal(iov_to_buf(t.v, 4, 10, buf, 32), 5);   /* short: runs out */
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(buf[i], 10 + i);
    assert_int_equal(iov_to_buf(t.v, 4, 15, buf, 1), 0);
    assert_int_equal(iov_to_buf(t.v, 4, 100, buf, 1), 0);
    assert_int_equal(iov_to_buf(t.v, 4, 3, buf, 0), 0);
    assert_int_equal(iov_to_buf(t.v, 0, 0, buf, 4), 0);

    uint8_t src[16];
    for (unsigned i = 0; i < 16; i++)
        src[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(iov_from_buf(t.v, 4, 1, src, 9), 9);
    assert_int_equal(t.a[0], 0);
    assert_int_equal(t.a[1], 0xa0);
    assert_int_equal(t.a[2], 0xa1);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(t.b[i], 0xa2 + i);
    assert_int_equal(t.c[0], 0xa7);
    assert_int_equal(t.c[1], 0xa8);
    assert_int_equal(t.c[2], 10);
    assert_int_equal(iov_from_buf(t.v, 4, 12, src, 16), 3);
    assert_int_equal(t.c[4], 0xa0);
    assert_int_equal(t.c[6], 0xa2);
    assert_int_equal(iov_from_buf(t.v, 4, 15, src, 16), 0);
}

static void iov_slice_ranges(void **state)
{
    (void)state;
    struct three t;
    three_init(&t);
    struct iovec out[4];

    assert_int_equal(iov_slice(t.v, 4, 2, 8, out, 4), 3);
    assert_ptr_equal(out[0].iov_base, t.a + 2);
    assert_int_equal(out[0].iov_len, 1);
    assert_ptr_equal(out[1].iov_base, t.b);
    assert_int_equal(out[1].iov_len, 5);
    assert_ptr_equal(out[2].iov_base, t.c);
    assert_int_equal(out[2].iov_len, 2);

    assert_int_equal(iov_slice(t.v, 4, 4, 3, out, 1), 1);    /* inside one */
    assert_ptr_equal(out[0].iov_base, t.b + 1);
    assert_int_equal(out[0].iov_len, 3);
    assert_int_equal(iov_slice(t.v, 4, 3, 12, out, 2), 2);   /* exactly to the end */
    assert_int_equal(out[1].iov_len, 7);
    assert_int_equal(iov_slice(t.v, 4, 15, 0, out, 0), 0);

    assert_int_equal(iov_slice(t.v, 4, 2, 8, out, 2), -1);   /* out of room */
    assert_int_equal(iov_slice(t.v, 4, 0, 1, out, 0), -1);
    assert_int_equal(iov_slice(t.v, 4, 10, 6, out, 4), -1);  /* one byte short */
    assert_int_equal(iov_slice(t.v, 4, 15, 1, out, 4), -1);
    assert_int_equal(iov_slice(t.v, 4, 100, 1, out, 4), -1);
    assert_int_equal(iov_slice(t.v, 0, 0, 1, out, 4), -1);
}

/* An element's in-part sliced past a header, the way device models use it. */
static void iov_slice_of_popped_chain(void **state)
{
    struct fx *f = *state;
    set_desc(f, 0, BUF_GPA, 4, VIRTQ_DESC_F_NEXT, 1);
    set_desc(f, 1, BUF_GPA + 0x100, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    set_desc(f, 2, BUF_GPA + 0x200, 10, VIRTQ_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->vq, &f->e), 1);
    for (unsigned i = 0; i < f->e.out_num + f->e.in_num; i++)
        assert_true(iov_in_ram(f, &f->e.iov[i]));
    struct iovec out[2];
    const struct iovec *in = f->e.iov + f->e.out_num;
    assert_int_equal(iov_slice(in, f->e.in_num, 5, 10, out, 2), 2);
    assert_ptr_equal(out[0].iov_base, host(f, BUF_GPA + 0x105));
    assert_int_equal(out[0].iov_len, 5);
    assert_ptr_equal(out[1].iov_base, host(f, BUF_GPA + 0x200));
    assert_int_equal(out[1].iov_len, 5);
    assert_int_equal(iov_from_buf(in, f->e.in_num, 0, "0123456789abcdefghij", 20), 20);
    assert_memory_equal(host(f, BUF_GPA + 0x100), "0123456789", 10);
    assert_memory_equal(host(f, BUF_GPA + 0x200), "abcdefghij", 10);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memmap_add_rejects_bad_regions),
        cmocka_unit_test(memmap_ptr_bounds),
        cmocka_unit_test(memmap_iov_splits_and_fails),
        T(vq_map_rejects_bad_layouts),
        T(empty_queue),
        T(simple_chain),
        T(indices_wrap),
        T(full_ring),
        T(chain_of_queue_size),
        T(indirect_chain),
        T(indirect_with_next),
        T(indirect_nested),
        T(indirect_bad_length),
        T(indirect_zero_length),
        T(indirect_table_outside_memory),
        T(indirect_loop),
        T(indirect_next_out_of_range),
        T(indirect_not_at_head),
        T(indirect_readable_after_writable),
        T(indirect_max_iov),
        T(indirect_too_many_buffers),
        T(desc_loop),
        T(desc_self_loop),
        T(desc_next_out_of_range),
        T(head_out_of_range),
        T(avail_idx_too_far),
        T(avail_idx_backwards),
        T(buffer_outside_memory),
        T(buffer_straddles_end),
        T(buffer_straddles_start),
        T(huge_len_wraps),
        T(huge_len_inside_memory),
        T(chain_longer_than_4g),
        T(readable_after_writable),
        T(broken_stays_broken),
        T(good_then_bad),
        T(notify_without_event_idx),
        T(notify_with_event_idx),
        T(kicks_without_event_idx),
        T(kicks_with_event_idx),
        cmocka_unit_test(iov_to_from_buf),
        cmocka_unit_test(iov_slice_ranges),
        T(iov_slice_of_popped_chain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* blk_req_parse on its own: chains laid out in memory, every reason a
 * request is refused, and what an accepted one describes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "virtio/blk_req.h"

#define CAP (1024 * 1024)

static uint8_t mem[65536];

struct chain {
    struct vq_elem e;
    struct iovec data[VQ_ELEM_MAX_IOV];
    struct blk_req r;
};

/* Appends a buffer of len bytes at mem+at to the chain. */
static void add(struct chain *c, size_t at, size_t len, bool writable)
{
    struct vq_elem *e = &c->e;
    e->iov[e->out_num + e->in_num] = (struct iovec){mem + at, len};
    if (writable) {
        e->in_num++;
        e->in_len += len;
    } else {
        e->out_num++;
        e->out_len += len;
    }
}

static void hdr(uint32_t type, uint64_t sector)
{
    uint32_t t[2] = {type, 0};
    memcpy(mem, t, 8);
    memcpy(mem + 8, &sector, 8);
}

static enum blk_reason parse(struct chain *c, const struct blk_limits *lim)
{
    c->r.data = c->data;
    return blk_req_parse(&c->e, lim, &c->r);
}

static const struct blk_limits rw = {.capacity = CAP, .align = 512,
                                     .features = 1u << VIRTIO_BLK_F_FLUSH | 1u << VIRTIO_BLK_F_DISCARD |
                                                 1u << VIRTIO_BLK_F_WRITE_ZEROES};

static void reads_and_writes(void **state)
{
    (void)state;
    struct chain c = {0};
    hdr(VIRTIO_BLK_T_IN, 3);
    add(&c, 0, 16, false);
    add(&c, 4096, 1024, true);
    add(&c, 8192, 513, true);   /* data and status share the last buffer */
    assert_int_equal(parse(&c, &rw), BLK_REQ_OK);
    assert_int_equal(c.r.offset, 3 * 512);
    assert_int_equal(c.r.len, 1536);
    assert_int_equal(c.r.ndata, 2);
    assert_ptr_equal(c.r.data[1].iov_base, mem + 8192);
    assert_int_equal(c.r.data[1].iov_len, 512);
    assert_ptr_equal(c.r.status, mem + 8192 + 512);

    memset(&c, 0, sizeof(c));
    hdr(VIRTIO_BLK_T_OUT, 8);
    add(&c, 0, 8, false);       /* the header split in two */
    add(&c, 8, 8, false);
    add(&c, 4096, 4096, false);
    add(&c, 12000, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OK);
    assert_int_equal(c.r.offset, 4096);
    assert_int_equal(c.r.len, 4096);
    assert_ptr_equal(c.r.data[0].iov_base, mem + 4096);

    struct blk_limits ro = rw;
    ro.ro = true;
    assert_int_equal(parse(&c, &ro), BLK_REQ_READ_ONLY);
    struct blk_limits direct = rw;
    direct.align = 4096;
    assert_int_equal(parse(&c, &direct), BLK_REQ_OK);
    hdr(VIRTIO_BLK_T_OUT, 9);
    assert_int_equal(parse(&c, &direct), BLK_REQ_MISALIGNED);
    assert_ptr_equal(c.r.status, mem + 12000);   /* refused, but answerable */
}

static void refused_with_a_reason(void **state)
{
    (void)state;
    struct chain c = {0};
    /* No header, no status. */
    add(&c, 0, 8, false);
    add(&c, 100, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_NO_HEADER);
    memset(&c, 0, sizeof(c));
    hdr(VIRTIO_BLK_T_FLUSH, 0);
    add(&c, 0, 16, false);
    add(&c, 100, 0, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_NO_STATUS);
    assert_null(c.r.status);
    /* A read into readable buffers; a write from writable ones. */
    memset(&c, 0, sizeof(c));
    hdr(VIRTIO_BLK_T_IN, 0);
    add(&c, 0, 16, false);
    add(&c, 4096, 512, false);
    add(&c, 100, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_BAD_DIRECTION);
    hdr(VIRTIO_BLK_T_OUT, 0);
    memset(&c, 0, sizeof(c));
    add(&c, 0, 16, false);
    add(&c, 4096, 513, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_BAD_DIRECTION);
    /* Past the end, wrapping, not whole sectors. */
    memset(&c, 0, sizeof(c));
    add(&c, 0, 16, false);
    add(&c, 4096, 1025, true);
    hdr(VIRTIO_BLK_T_IN, CAP / 512 - 1);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OUT_OF_RANGE);
    hdr(VIRTIO_BLK_T_IN, UINT64_MAX / 256);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OUT_OF_RANGE);
    memset(&c, 0, sizeof(c));
    add(&c, 0, 16, false);
    add(&c, 4096, 101, true);
    hdr(VIRTIO_BLK_T_IN, 0);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OUT_OF_RANGE);
    /* Unknown type; FLUSH not negotiated. */
    hdr(99, 0);
    assert_int_equal(parse(&c, &rw), BLK_REQ_UNSUPPORTED);
    hdr(VIRTIO_BLK_T_FLUSH, 0);
    struct blk_limits none = rw;
    none.features = 0;
    assert_int_equal(parse(&c, &none), BLK_REQ_UNSUPPORTED);
    assert_int_equal(blk_reason_status(BLK_REQ_UNSUPPORTED), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(blk_reason_status(BLK_REQ_OUT_OF_RANGE), VIRTIO_BLK_S_IOERR);
    assert_string_equal(blk_reason_name(BLK_REQ_MISALIGNED), "misaligned");
}

static void discard_segments(void **state)
{
    (void)state;
    struct chain c = {0};
    uint64_t seg[2] = {16, 8 | (uint64_t)1 << 32};   /* sector 16, 8 sectors, UNMAP */
    memcpy(mem + 16, seg, 16);
    hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0);
    add(&c, 0, 32, false);
    add(&c, 100, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OK);
    assert_int_equal(c.r.offset, 16 * 512);
    assert_int_equal(c.r.len, 8 * 512);
    assert_true(c.r.unmap);
    hdr(VIRTIO_BLK_T_DISCARD, 0);
    assert_int_equal(parse(&c, &rw), BLK_REQ_UNSUPPORTED);   /* no flags on discard */
    seg[1] = 8;
    memcpy(mem + 16, seg, 16);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OK);
    assert_false(c.r.unmap);
    struct blk_limits nodiscard = rw;
    nodiscard.features &= ~(1u << VIRTIO_BLK_F_DISCARD);
    assert_int_equal(parse(&c, &nodiscard), BLK_REQ_UNSUPPORTED);
    seg[1] = (uint64_t)VBLK_MAX_DISCARD_SECTORS + 1;
    memcpy(mem + 16, seg, 16);
    assert_int_equal(parse(&c, &rw), BLK_REQ_BAD_SEGMENT);
    seg[0] = CAP / 512;
    seg[1] = 1;
    memcpy(mem + 16, seg, 16);
    assert_int_equal(parse(&c, &rw), BLK_REQ_OUT_OF_RANGE);
    memset(&c, 0, sizeof(c));
    add(&c, 0, 24, false);      /* half a segment */
    add(&c, 100, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_BAD_SEGMENT);
    memset(&c, 0, sizeof(c));
    add(&c, 0, 48, false);      /* two segments: max_discard_seg is 1 */
    add(&c, 100, 1, true);
    assert_int_equal(parse(&c, &rw), BLK_REQ_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_and_writes),
        cmocka_unit_test(refused_with_a_reason),
        cmocka_unit_test(discard_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

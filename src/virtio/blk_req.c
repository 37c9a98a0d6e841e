#include "virtio/blk_req.h"

#include <string.h>

#include "util/iov.h"

struct blk_hdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct blk_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};
#define SEG_F_UNMAP 1

/* The status byte is the last byte of the device-writable part. */
static uint8_t *status_byte(const struct vq_elem *e)
{
    for (unsigned i = e->out_num + e->in_num; i > e->out_num; i--) {
        const struct iovec *v = &e->iov[i - 1];
        if (v->iov_len)
            return (uint8_t *)v->iov_base + v->iov_len - 1;
    }
    return NULL;
}

/* [sector, +bytes) inside the disk, whole sectors, without overflow. */
static enum blk_reason range(const struct blk_limits *lim, uint64_t sector, uint64_t bytes, struct blk_req *r)
{
    uint64_t cap = lim->capacity / VBLK_SECTOR;
    if (sector > cap || bytes / VBLK_SECTOR > cap - sector || bytes % VBLK_SECTOR)
        return BLK_REQ_OUT_OF_RANGE;
    r->offset = sector * VBLK_SECTOR;
    r->len = bytes;
    return BLK_REQ_OK;
}

static enum blk_reason data(const struct iovec *iov, unsigned n, size_t off, uint64_t len, struct blk_req *r)
{
    int k = iov_slice(iov, n, off, (size_t)len, r->data, VQ_ELEM_MAX_IOV);
    if (k < 0)
        return BLK_REQ_TOO_MANY_SEGMENTS;
    r->ndata = (unsigned)k;
    return BLK_REQ_OK;
}

static enum blk_reason read_write(const struct vq_elem *e, const struct blk_limits *lim, uint64_t sector,
                                  struct blk_req *r)
{
    uint64_t out_data = e->out_len - VBLK_HDR_LEN;
    bool write = r->type == VIRTIO_BLK_T_OUT;
    /* A read's data buffers must be device-writable, a write's readable. */
    if (write ? r->in_data != 0 : out_data != 0)
        return BLK_REQ_BAD_DIRECTION;
    if (write && lim->ro)
        return BLK_REQ_READ_ONLY;
    enum blk_reason why = write ? data(e->iov, e->out_num, VBLK_HDR_LEN, out_data, r)
                                : data(e->iov + e->out_num, e->in_num, 0, r->in_data, r);
    if (why == BLK_REQ_OK)
        why = range(lim, sector, write ? out_data : r->in_data, r);
    /* O_DIRECT wants aligned offsets and lengths: a request that is not
     * cannot be done without read-modify-write. */
    if (why == BLK_REQ_OK && ((r->offset | r->len) & (lim->align - 1)))
        why = BLK_REQ_MISALIGNED;
    return why;
}

static enum blk_reason discard(const struct vq_elem *e, const struct blk_limits *lim, struct blk_req *r)
{
    uint64_t payload = e->out_len - VBLK_HDR_LEN;
    bool zeroes = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
    if (r->in_data)
        return BLK_REQ_BAD_DIRECTION;
    if (!(lim->features & (1ULL << (zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))))
        return BLK_REQ_UNSUPPORTED;
    if (lim->ro)
        return BLK_REQ_READ_ONLY;
    /* One segment per request is offered (max_*_seg = 1). */
    if (payload != sizeof(struct blk_seg))
        return payload % sizeof(struct blk_seg) || payload == 0 ? BLK_REQ_BAD_SEGMENT : BLK_REQ_UNSUPPORTED;
    struct blk_seg s;
    iov_to_buf(e->iov, e->out_num, VBLK_HDR_LEN, &s, sizeof(s));
    if (s.num_sectors > VBLK_MAX_DISCARD_SECTORS)
        return BLK_REQ_BAD_SEGMENT;
    enum blk_reason why = range(lim, s.sector, (uint64_t)s.num_sectors * VBLK_SECTOR, r);
    if (why != BLK_REQ_OK)
        return why;
    if (s.flags & ~(uint32_t)(zeroes ? SEG_F_UNMAP : 0))
        return BLK_REQ_UNSUPPORTED;
    r->unmap = zeroes && (s.flags & SEG_F_UNMAP);
    return BLK_REQ_OK;
}

enum blk_reason blk_req_parse(const struct vq_elem *e, const struct blk_limits *lim, struct blk_req *r)
{
    r->type = UINT32_MAX;
    r->offset = r->len = 0;
    r->unmap = false;
    r->ndata = 0;
    r->in_data = 0;
    r->status = status_byte(e);
    /* Without a header or a status byte there is no way to answer
     * (5.2.6.1). */
    if (e->out_len < VBLK_HDR_LEN)
        return BLK_REQ_NO_HEADER;
    if (!r->status)
        return BLK_REQ_NO_STATUS;
    struct blk_hdr h;
    iov_to_buf(e->iov, e->out_num, 0, &h, sizeof(h));
    r->type = h.type;
    r->in_data = e->in_len - 1;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        return read_write(e, lim, h.sector, r);
    case VIRTIO_BLK_T_FLUSH:
        return lim->features & (1ULL << VIRTIO_BLK_F_FLUSH) ? BLK_REQ_OK : BLK_REQ_UNSUPPORTED;
    case VIRTIO_BLK_T_GET_ID:
        if (e->out_len != VBLK_HDR_LEN)
            return BLK_REQ_BAD_DIRECTION;
        return data(e->iov + e->out_num, e->in_num, 0, r->in_data, r);
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return discard(e, lim, r);
    default:
        return BLK_REQ_UNSUPPORTED;
    }
}

uint8_t blk_reason_status(enum blk_reason why)
{
    switch (why) {
    case BLK_REQ_OK:
        return VIRTIO_BLK_S_OK;
    case BLK_REQ_UNSUPPORTED:
        return VIRTIO_BLK_S_UNSUPP;
    default:
        return VIRTIO_BLK_S_IOERR;
    }
}

const char *blk_reason_name(enum blk_reason why)
{
    static const char *const names[BLK_REQ_NREASONS] = {
        [BLK_REQ_OK] = "ok",
        [BLK_REQ_NO_HEADER] = "no header",
        [BLK_REQ_NO_STATUS] = "no status byte",
        [BLK_REQ_BAD_DIRECTION] = "data in the wrong direction",
        [BLK_REQ_TOO_MANY_SEGMENTS] = "too many segments",
        [BLK_REQ_OUT_OF_RANGE] = "out of range",
        [BLK_REQ_MISALIGNED] = "misaligned",
        [BLK_REQ_READ_ONLY] = "read-only",
        [BLK_REQ_BAD_SEGMENT] = "bad discard segment",
        [BLK_REQ_UNSUPPORTED] = "unsupported",
    };
    return (unsigned)why < BLK_REQ_NREASONS ? names[why] : "?";
}

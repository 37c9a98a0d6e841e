/* libFuzzer target: blk_req_parse on hostile chains.  The input is 4
 * bytes of limits (read-only, alignment, negotiated features, capacity),
 * then 4-byte descriptors (length, device-writable, where in a 64 KiB
 * buffer), then the buffer's content (headers, segments).  The chain is
 * laid out as vq_pop leaves it (readable buffers first).  An accepted
 * request must fit the limits exactly: inside the disk, aligned, data of
 * the announced length in buffers of the right direction, a status byte
 * the device may write; anything else is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "virtio/blk_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM 65536

static bool inside(const struct vq_elem *e, unsigned from, unsigned to, const void *p, size_t len)
{
    for (unsigned i = from; i < to; i++) {
        const uint8_t *b = e->iov[i].iov_base;
        if ((const uint8_t *)p >= b && (const uint8_t *)p + len <= b + e->iov[i].iov_len)
            return true;
    }
    return false;
}

static void check(const struct vq_elem *e, const struct blk_limits *lim, const struct blk_req *r)
{
    unsigned out = e->out_num, all = e->out_num + e->in_num;
    if (!r->status || !inside(e, out, all, r->status, 1))
        __builtin_trap();
    uint64_t sum = 0;
    bool wr = r->type == VIRTIO_BLK_T_OUT;
    for (unsigned i = 0; i < r->ndata; i++) {
        sum += r->data[i].iov_len;
        if (!inside(e, wr ? 0 : out, wr ? out : all, r->data[i].iov_base, r->data[i].iov_len))
            __builtin_trap();
    }
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (sum != r->len || ((r->offset | r->len) & (lim->align - 1)) || (wr && lim->ro))
            __builtin_trap();
        /* fall through */
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (r->offset > lim->capacity || r->len > lim->capacity - r->offset || (r->offset | r->len) % 512)
            __builtin_trap();
        if (r->type >= VIRTIO_BLK_T_DISCARD && (lim->ro || r->len > (uint64_t)VBLK_MAX_DISCARD_SECTORS * 512))
            __builtin_trap();
        break;
    case VIRTIO_BLK_T_FLUSH:
        if (!(lim->features & (1u << VIRTIO_BLK_F_FLUSH)))
            __builtin_trap();
        break;
    case VIRTIO_BLK_T_GET_ID:
        if (sum != r->in_data)
            __builtin_trap();
        break;
    default:
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t mem[MEM];
    static struct vq_elem e;
    static struct iovec out[VQ_ELEM_MAX_IOV];
    if (size < 5)
        return 0;
    struct blk_limits lim = {
        .ro = data[0] & 1,
        .align = 512u << ((data[0] >> 1) & 3),
        .features = ((data[0] & 8) ? 1u << VIRTIO_BLK_F_FLUSH : 0) | ((data[0] & 16) ? 1u << VIRTIO_BLK_F_DISCARD : 0) |
                    ((data[0] & 32) ? 1u << VIRTIO_BLK_F_WRITE_ZEROES : 0),
        .capacity = ((uint64_t)data[1] | (uint64_t)data[2] << 8 | (uint64_t)(data[3] & 0x7F) << 16) * 512,
    };
    if (data[3] & 0x80)
        lim.capacity = UINT64_MAX & ~511ULL;
    unsigned ndesc = data[4] % 16 + 1;
    size_t pos = 5;
    /* Descriptors: readable ones first, as vq_pop orders them. */
    struct iovec rd[16], wr[16];
    unsigned nrd = 0, nwr = 0;
    for (unsigned i = 0; i < ndesc && pos + 4 <= size; i++, pos += 4) {
        size_t len = (size_t)(data[pos] | data[pos + 1] << 8) % 4097;
        size_t at = (size_t)data[pos + 3] * 256;
        if (at + len > MEM)
            len = MEM - at;
        struct iovec v = {mem + at, len};
        if (data[pos + 2] & 1)
            wr[nwr++] = v;
        else
            rd[nrd++] = v;
    }
    memset(mem, 0, MEM);
    memcpy(mem, data + pos, size - pos < MEM ? size - pos : MEM);
    memset(&e, 0, sizeof(e));
    for (unsigned i = 0; i < nrd; i++) {
        e.iov[e.out_num++] = rd[i];
        e.out_len += rd[i].iov_len;
    }
    for (unsigned i = 0; i < nwr; i++) {
        e.iov[e.out_num + e.in_num++] = wr[i];
        e.in_len += wr[i].iov_len;
    }
    struct blk_req r = {.data = out};
    enum blk_reason why = blk_req_parse(&e, &lim, &r);
    if (why == BLK_REQ_OK)
        check(&e, &lim, &r);
    else if ((why == BLK_REQ_NO_HEADER || why == BLK_REQ_NO_STATUS) != (r.status == NULL || e.out_len < 16) ||
             blk_reason_name(why)[0] == '?')
        __builtin_trap();
    return 0;
}

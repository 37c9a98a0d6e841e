/* libFuzzer target: a hostile driver's split virtqueue.  The input, after a
 * 3-byte header, is the content of 64 KiB of guest RAM holding the rings,
 * the descriptor table, any indirect tables and the buffers.  The device
 * side takes every chain it is offered, uses each buffer the way a device
 * model would and returns it.  Nothing may crash, hang or touch memory
 * outside guest RAM, and every iovec handed out must lie inside it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/memmap.h"
#include "virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_GPA  0x100000ULL
#define MEM_SIZE 0x10000u
#define HALF     (MEM_SIZE / 2)
/* Where the second half goes when it is mapped apart from the first. */
#define GAP      0x1000u

/* Header byte 0. */
#define CFG_SIZE_MASK 0x0f   /* log2 of the queue size, mod 9: 1..256 */
#define CFG_EVENT_IDX 0x10
#define CFG_SPLIT     0x20   /* RAM as two regions with separate host buffers */
#define CFG_GAP       0x40   /* ... not adjacent in guest-physical space */
#define CFG_RESUME    0x80   /* start mid-stream, header byte 2 behind avail idx */
/* Header byte 1. */
#define OP_DISABLE_KICKS 0x01
#define OP_ENABLE_KICKS  0x02
/* Bits 2-7: how many bytes of request header the device reads. */

/* Bytes touched one by one per input before falling back to each iovec's
 * ends: a chain may legally map all of RAM 260 times over, and every
 * input must stay fast. */
#define TOUCH_BUDGET (4u << 20)

struct ram {
    uint8_t *lo, *hi;        /* hi is used only when split */
    uint64_t lo_size, hi_size;
};

static bool inside(const uint8_t *p, size_t len, const uint8_t *base, uint64_t size)
{
    return p >= base && p <= base + size && len <= (size_t)(base + size - p);
}

/* How many of want bytes at off a total of total bytes can supply. */
static size_t fits(uint64_t total, size_t off, size_t want)
{
    if (off >= total)
        return 0;
    return total - off < want ? (size_t)(total - off) : want;
}

static void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

/* Reads every byte and writes the device-writable ones, as a device model
 * would; volatile so the compiler keeps each access for ASan to check. */
static void touch(const struct iovec *v, bool writable, size_t *budget)
{
    volatile uint8_t *p = v->iov_base;
    size_t n = v->iov_len;
    if (n == 0)
        return;
    if (n <= *budget) {
        *budget -= n;
        for (size_t j = 0; j < n; j++) {
            uint8_t b = p[j];
            if (writable)
                p[j] = (uint8_t)~b;
        }
        return;
    }
    /* Both ends suffice for bounds: inside() already proved the iovec is
     * within one host buffer. */
    uint8_t a = p[0], z = p[n - 1];
    if (writable) {
        p[0] = (uint8_t)~a;
        p[n - 1] = (uint8_t)~z;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ram ram;
    if (!ram.lo) {
        /* Exactly sized heap buffers: ASan's redzones sit right past them. */
        ram.lo = aligned_alloc(4096, MEM_SIZE);
        ram.hi = aligned_alloc(4096, HALF);
        if (!ram.lo || !ram.hi)
            abort();
    }
    if (size < 3)
        return 0;
    uint8_t cfg = data[0], ops = data[1], back = data[2];
    data += 3;
    size -= 3;
    if (size > MEM_SIZE)
        size = MEM_SIZE;

    uint16_t qsize = (uint16_t)(1u << ((cfg & CFG_SIZE_MASK) % 9));
    bool event_idx = cfg & CFG_EVENT_IDX;
    bool split = cfg & CFG_SPLIT;

    struct memmap mem = {0};
    memset(ram.lo, 0, MEM_SIZE);
    memset(ram.hi, 0, HALF);
    if (split) {
        ram.lo_size = ram.hi_size = HALF;
        size_t lo_n = size < HALF ? size : HALF;
        memcpy(ram.lo, data, lo_n);
        memcpy(ram.hi, data + lo_n, size - lo_n);
        uint64_t hi_gpa = MEM_GPA + HALF + ((cfg & CFG_GAP) ? GAP : 0);
        check(memmap_add(&mem, MEM_GPA, HALF, ram.lo) == 0);
        check(memmap_add(&mem, hi_gpa, HALF, ram.hi) == 0);
    } else {
        ram.lo_size = MEM_SIZE;
        ram.hi_size = 0;
        memcpy(ram.lo, data, size);
        check(memmap_add(&mem, MEM_GPA, MEM_SIZE, ram.lo) == 0);
    }

    /* Rings packed at the start of RAM, so small inputs reach them all. */
    uint64_t desc = MEM_GPA;
    uint64_t avail = desc + VQ_DESC_BYTES(qsize);
    uint64_t used = (avail + VQ_AVAIL_BYTES(qsize) + 3) & ~3ULL;
    struct vq vq;
    check(vq_map(&vq, &mem, qsize, desc, avail, used, event_idx) == 0);
    uint16_t start = 0;
    if (cfg & CFG_RESUME) {
        uint16_t avail_idx;
        memcpy(&avail_idx, ram.lo + (avail - MEM_GPA) + 2, 2);
        start = (uint16_t)(avail_idx - back);
    }
    vq_set_base(&vq, start);
    if (ops & OP_DISABLE_KICKS)
        vq_disable_kicks(&vq);

    static struct vq_elem e;
    size_t budget = TOUCH_BUDGET;
    uint16_t pushed = 0;
    for (unsigned it = 0; it < 4u * qsize; it++) {
        int r = vq_pop(&vq, &e);
        if (r == 0)
            break;
        if (r < 0) {
            check(vq.broken && vq.why && vq.why[0]);
            check(vq_pop(&vq, &e) == -1 && !vq_has_work(&vq));
            break;
        }
        check(r == 1 && !vq.broken);
        check(e.head < qsize);
        check(e.out_num + e.in_num <= VQ_ELEM_MAX_IOV);
        uint64_t out_len = 0, in_len = 0;
        for (unsigned i = 0; i < e.out_num + e.in_num; i++) {
            const struct iovec *v = &e.iov[i];
            check(inside(v->iov_base, v->iov_len, ram.lo, ram.lo_size) ||
                  inside(v->iov_base, v->iov_len, ram.hi, ram.hi_size));
            bool writable = i >= e.out_num;
            *(writable ? &in_len : &out_len) += v->iov_len;
            touch(v, writable, &budget);
        }
        check(out_len == e.out_len && in_len == e.in_len);
        check(in_len <= UINT32_MAX && out_len <= UINT32_MAX);

        /* What a device model does next: parse a header and maybe a
         * trailer from the readable part, then write a reply somewhere in
         * the writable part, directly and through a slice. */
        uint8_t hdr[64] = {0}, tail[16];
        size_t want = ops >> 2;
        size_t got = iov_to_buf(e.iov, e.out_num, 0, hdr, want);
        check(got == fits(out_len, 0, want));
        size_t toff = hdr[1];
        size_t tgot = iov_to_buf(e.iov, e.out_num, toff, tail, sizeof(tail));
        check(tgot == fits(out_len, toff, sizeof(tail)));
        size_t off = hdr[0] % 32, len = got ? hdr[got - 1] : 0;
        size_t put = iov_from_buf(e.iov + e.out_num, e.in_num, off, hdr, got);
        check(put == fits(in_len, off, got));
        struct iovec slice[8];
        int k = iov_slice(e.iov + e.out_num, e.in_num, off, len, slice, 8);
        check(k >= -1 && k <= 8);
        if (k >= 0) {
            size_t sl = 0;
            for (int i = 0; i < k; i++)
                sl += slice[i].iov_len;
            check(sl == len && (len == 0 || off + len <= in_len));
            check(iov_from_buf(slice, (unsigned)k, 0, hdr, got) == fits(len, 0, got));
        } else {
            check(len > 0);   /* an empty range always fits */
        }

        vq_push(&vq, e.head, (uint32_t)in_len);
        pushed++;
        uint16_t used_idx;
        memcpy(&used_idx, ram.lo + (used - MEM_GPA) + 2, 2);
        check(used_idx == (uint16_t)(start + pushed));
        (void)vq_should_notify(&vq);
        if (ops & OP_ENABLE_KICKS)
            check(vq_enable_kicks(&vq) == vq_has_work(&vq));
    }
    return 0;
}

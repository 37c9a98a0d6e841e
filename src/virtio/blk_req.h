/* virtio-blk requests as drivers lay them out (virtio 1.x, 5.2.6): a
 * 16-byte header, the data, a one-byte status at the end of the
 * device-writable part, and for discard and write-zeroes 16-byte
 * segments; and blk_req_parse(), which turns one descriptor chain into a
 * checked request or the reason it is refused.  Pure: no I/O, no device
 * state, nothing written, so it is fuzzed on its own (fuzz_blk_req). */
#ifndef VIREO_VIRTIO_BLK_REQ_H
#define VIREO_VIRTIO_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "virtio/virtqueue.h"

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VBLK_SECTOR              512ULL
#define VBLK_HDR_LEN             16
#define VBLK_ID_LEN              20          /* GET_ID's answer */
#define VBLK_MAX_DISCARD_SECTORS (1u << 22)  /* 2 GiB per discard or write-zeroes segment */

/* Why a request was refused; each has a status (blk_reason_status) and
 * a per-queue counter. */
enum blk_reason {
    BLK_REQ_OK,
    BLK_REQ_NO_HEADER,          /* the chain is shorter than the header: no way to answer, reset */
    BLK_REQ_NO_STATUS,          /* no device-writable byte for the status: reset */
    BLK_REQ_BAD_DIRECTION,      /* data the device may not write for a read, writable data with a write */
    BLK_REQ_TOO_MANY_SEGMENTS,  /* the data is in more pieces than a request may carry */
    BLK_REQ_OUT_OF_RANGE,       /* sectors past the end of the disk (or not whole sectors) */
    BLK_REQ_MISALIGNED,         /* not on the back-end's alignment (O_DIRECT's) */
    BLK_REQ_READ_ONLY,          /* a write, discard or write-zeroes on a read-only disk */
    BLK_REQ_BAD_SEGMENT,        /* a discard/write-zeroes payload that is not whole segments, or too long */
    BLK_REQ_UNSUPPORTED,        /* unknown type, feature not negotiated, several segments, unknown flags */
    BLK_REQ_NREASONS
};

/* What the request is checked against. */
struct blk_limits {
    uint64_t capacity;          /* bytes, a multiple of 512 */
    uint32_t align;             /* READ/WRITE offsets and lengths: multiples of it (a power of two, >= 512) */
    bool ro;
    uint64_t features;          /* the driver's, negotiated */
};

struct blk_req {
    uint32_t type;              /* VIRTIO_BLK_T_* */
    uint8_t *status;            /* where the answer goes; NULL only with NO_HEADER/NO_STATUS */
    uint64_t offset, len;       /* bytes: IN, OUT, DISCARD, WRITE_ZEROES */
    bool unmap;                 /* WRITE_ZEROES may deallocate */
    /* IN and OUT: the data; GET_ID: the buffer for the ID.  The caller's
     * array of VQ_ELEM_MAX_IOV entries, slices of the chain's. */
    struct iovec *data;
    unsigned ndata;
    uint64_t in_data;           /* device-writable bytes before the status */
};

/* Parses the chain e into r (r->data must point at the caller's array).
 * On BLK_REQ_OK r describes a request that fits lim: inside the disk,
 * aligned, allowed, with its data in buffers of the right direction. */
enum blk_reason blk_req_parse(const struct vq_elem *e, const struct blk_limits *lim, struct blk_req *r);
/* The status a refused request gets (NO_HEADER and NO_STATUS get none:
 * the device needs a reset). */
uint8_t blk_reason_status(enum blk_reason why);
/* "out of range", for log lines and counters. */
const char *blk_reason_name(enum blk_reason why);

#endif

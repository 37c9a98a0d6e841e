/* virtio-blk (virtio 1.x, section 5.2): the device model, independent of
 * transport.  Each queue is served on one event loop, a dedicated I/O
 * thread's or the main thread's, and its requests go to the disk through
 * that queue's aio engine (io_uring or the thread pool). */
#ifndef VIREO_VIRTIO_BLK_H
#define VIREO_VIRTIO_BLK_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/aio.h"
#include "block/raw.h"
#include "iothread/event_loop.h"
#include "virtio/virtio.h"

#define VBLK_MAX_QUEUES    16
#define VBLK_MAX_IOTHREADS 16
#define VBLK_SERIAL_LEN    20
#define VBLK_QUEUE_SIZE    256

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

struct vblk_opts {
    const char *path;
    bool ro;
    enum blk_cache cache;
    unsigned iothreads;        /* 0: serve on the main loop */
    unsigned queues;
    enum aio_kind aio;
    unsigned poll_us;          /* I/O threads busy-poll up to this long */
    char serial[VBLK_SERIAL_LEN + 1];
    bool pin_iothreads;        /* the I/O threads run only on iothread_cpus */
    cpu_set_t iothread_cpus;
};

#define VBLK_POLL_US         32    /* QEMU's iothread default, 32768 ns */
#define VBLK_POLL_MIN_CPUS   4
#define VBLK_MAX_POLL_US     1000

/* The poll-us default: VBLK_POLL_US on hosts with at least
 * VBLK_POLL_MIN_CPUS online CPUs, else 0.  On small hosts a spinning I/O
 * thread takes the CPU that the guest's vCPUs and io_uring's workers need
 * (measured on 2 CPUs: 25 % fewer IOPS at QD32 with polling). */
unsigned vblk_default_poll_us(void);

#define VBLK_DEFAULT_IOTHREADS 1

/* The defaults `vireo run --disk` and `vireo create` share: writeback
 * cache, one I/O thread, engine chosen automatically, the poll-us default;
 * queues 0 (the caller picks one per vCPU). */
void vblk_opts_defaults(struct vblk_opts *o, const char *path);

struct vblk;

/* Opens the image, starts the I/O threads and engines.  main_loop serves
 * the queues when opts->iothreads is 0.  On failure err says why. */
struct vblk *vblk_new(const struct vblk_opts *opts, struct event_loop *main_loop, char *err,
                      size_t err_len);
void vblk_free(struct vblk *b);
struct virtio_dev *vblk_dev(struct vblk *b);
/* One line for the log: image, size, cache, engine, queues and threads. */
void vblk_describe(const struct vblk *b, char *buf, size_t len);

#endif

/* virtio-console (virtio 1.x, 5.3) with one port and no multiport: what a
 * Linux guest calls hvc0, Xen's PV console for KVM.  The device model,
 * independent of the transport: the guest's transmit queue goes to an
 * output descriptor (the same one the UART writes, so `vireo console`,
 * the serial file and `vireo run`'s terminal show it), and host input
 * fills the guest's receive buffers.  Served on one event loop (the VM's);
 * vcons_rx_push may be called from any thread.  Everything in the rings is
 * the guest's: chains of the wrong direction are counted and returned
 * empty, work per turn of the loop is bounded, and output is written only
 * as fast as its reader takes it (the guest then waits, as behind a slow
 * UART), never buffered without bound and without blocking the loop. */
#ifndef VIREO_VIRTIO_CONSOLE_H
#define VIREO_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/event_loop.h"
#include "mem/memmap.h"
#include "virtio/virtio.h"

#define VIRTIO_ID_CONSOLE 3
#define VCONS_QUEUE_SIZE 64

struct vcons_counters {
    uint64_t tx_bytes;         /* guest output written out */
    uint64_t rx_bytes;         /* host input given to the guest */
    uint64_t tx_dropped;       /* output the descriptor refused (its reader is gone) */
    uint64_t bad_buffers;      /* chains of the wrong direction */
};

struct vcons;

/* out_fd: where the guest's output goes (not owned).  Give a non-blocking
 * descriptor where it may block (a terminal, a pipe); a blocking pipe is
 * written only after POLLOUT, at most PIPE_BUF bytes at a time. */
struct vcons *vcons_new(const char *name, int out_fd, struct event_loop *loop, char *err, size_t errlen);
void vcons_free(struct vcons *c);
struct virtio_dev *vcons_dev(struct vcons *c);
/* Hands host input to the guest's receive buffers; returns how much fit
 * (0 while the driver has posted none: the caller keeps the rest). */
size_t vcons_rx_push(struct vcons *c, const uint8_t *buf, size_t len);
/* Whether the driver has started the receive queue (input can go in). */
bool vcons_rx_ready(struct vcons *c);
void vcons_get_counters(struct vcons *c, struct vcons_counters *out);

#endif

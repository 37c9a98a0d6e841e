/* libFuzzer target: a hostile virtio-net driver.  The input is 7 bytes of
 * set-up, then the content of 64 KiB of guest RAM holding the receive,
 * transmit and control queues (rings, descriptors, indirect tables,
 * buffers, headers) as the driver left them.  The host side sends up to
 * three frames.  The device serves all three queues; nothing may crash,
 * hang, touch memory outside guest RAM or send the host a frame larger
 * than a frame can be. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/net.h"
#include "virtio/net_hdr.h"
#include "virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_GPA  0x100000ULL
#define MEM_SIZE 0x10000u
#define QSIZE    16
#define SETUP    7

/* Set-up byte 0. */
#define CFG_NO_MRG       0x01
#define CFG_EVENT_IDX    0x02
#define CFG_NO_GUEST_OFF 0x04
#define CFG_NO_HOST_TSO  0x08
/* Bits 4-5: frames the host sends (0-3); bytes 1-6 their lengths. */

static int no_offload(void *o, unsigned off)
{
    (void)o, (void)off;
    return 0;
}

static int no_pairs(void *o, unsigned pair, bool on)
{
    (void)o, (void)pair, (void)on;
    return 0;
}

static void on_notify(void *t, unsigned q)
{
    (void)t, (void)q;
}

static void on_broken(void *t, const char *why)
{
    (void)t, (void)why;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SETUP)
        return 0;
    static uint8_t *mem;
    static struct event_loop loop;
    if (!mem) {
        mem = aligned_alloc(4096, MEM_SIZE);
        event_loop_init(&loop);
        event_loop_set_owner(&loop);
    }
    memset(mem, 0, MEM_SIZE);
    memcpy(mem, data + SETUP, size - SETUP < MEM_SIZE ? size - SETUP : MEM_SIZE);
    struct memmap map = {0};
    memmap_add(&map, MEM_GPA, MEM_SIZE, mem);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct vnet_opts o = {.name = "fuzz", .pairs = 1, .mac = {2, 0, 0, 0, 0, 1}};
    o.be = (struct vnet_backend){.set_offload = no_offload, .enable_pair = no_pairs, .fds = {sv[0]}};
    char err[128];
    struct event_loop *loops[1] = {&loop};
    struct vnet *n = vnet_new(&o, loops, err, sizeof(err));
    if (!n)
        abort();
    struct virtio_dev *d = vnet_dev(n);
    d->notify = on_notify;
    d->broken = on_broken;
    d->features = d->host_features;
    if (data[0] & CFG_NO_MRG)
        d->features &= ~BIT(VIRTIO_NET_F_MRG_RXBUF);
    if (!(data[0] & CFG_EVENT_IDX))
        d->features &= ~BIT(VIRTIO_F_EVENT_IDX);
    if (data[0] & CFG_NO_GUEST_OFF)
        d->features &= ~BIT(VIRTIO_NET_F_GUEST_CSUM);
    if (data[0] & CFG_NO_HOST_TSO)
        d->features &= ~(BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6));
    /* The host's frames, before the queues start: the receive path runs
     * as soon as it may. */
    static uint8_t frame[VNET_HDR_LEN + VNET_MAX_FRAME];
    unsigned nframes = (data[0] >> 4) & 3;
    for (unsigned i = 0; i < nframes; i++) {
        size_t len = (size_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8) % (sizeof(frame) / 8);
        memset(frame, (int)i, len);
        (void)!send(sv[1], frame, len, MSG_DONTWAIT);
    }
    struct vq vq[3];
    int kick[3];
    for (unsigned q = 0; q < 3; q++) {
        uint64_t base = MEM_GPA + q * 0x400;
        kick[q] = eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC);
        if (vq_map(&vq[q], &map, QSIZE, base, base + 0x100, base + 0x200, d->features & BIT(VIRTIO_F_EVENT_IDX)) < 0)
            abort();
        vq_set_base(&vq[q], 0);
        d->ops->queue_start(d, q, &vq[q], kick[q]);
    }
    for (int i = 0; i < 4; i++)
        event_loop_run_once(&loop, 0);
    ssize_t r;
    while ((r = recv(sv[1], frame, sizeof(frame), MSG_DONTWAIT | MSG_TRUNC)) > 0)
        if ((size_t)r > VNET_HDR_LEN + VNET_MAX_FRAME)
            abort();
    for (unsigned q = 0; q < 3; q++) {
        d->ops->queue_stop(d, q);
        close(kick[q]);
    }
    vnet_free(n);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

/* libFuzzer target: a hostile driver (vpci_driver.c) against the real
 * virtio-pci transport with the real virtio-net model behind it, one
 * queue pair and the control queue on the fuzzer's loop, a socketpair as
 * the backend (as fuzz_virtio_net).  The input's first byte says how many
 * frames the host side sends; frames the device passes on must fit a
 * frame. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/net.h"
#include "virtio/net_hdr.h"
#include "vpci_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/* rec[2..3]: buffer length, [4]: layout, [5..6]: control command. */
static int post_net(struct vdrv *d, unsigned q, const uint8_t *r)
{
    uint32_t len = (uint32_t)(r[2] | (r[3] & 0x3F) << 8);
    unsigned a = vdrv_next_desc(d, q), b = vdrv_next_desc(d, q);
    switch (q) {
    case 0: {   /* receive: device-writable buffers */
        uint64_t buf = vdrv_buf(d, len);
        bool two = r[4] & 1;
        vdrv_set_desc(d, q, a, buf, two ? len / 2 : len,
                      (uint16_t)(VIRTQ_DESC_F_WRITE | (two ? VIRTQ_DESC_F_NEXT : 0)), (uint16_t)b);
        if (two)
            vdrv_set_desc(d, q, b, buf + len / 2, len - len / 2, (uint16_t)(r[4] & 4 ? 0 : VIRTQ_DESC_F_WRITE), 0);
        return (int)a;
    }
    case 1: {   /* transmit: a header and a frame */
        uint64_t h = vdrv_buf(d, VNET_HDR_LEN), f = vdrv_buf(d, len);
        struct virtio_net_hdr hdr = {.flags = r[4] & 3, .gso_type = r[5], .hdr_len = r[6], .gso_size = r[6],
                                     .csum_start = r[5], .csum_offset = r[7]};
        memcpy(vdrv_ptr(d, h), &hdr, sizeof(hdr));
        memset(vdrv_ptr(d, f), 0x45, len);
        vdrv_set_desc(d, q, a, h, VNET_HDR_LEN, VIRTQ_DESC_F_NEXT, (uint16_t)b);
        vdrv_set_desc(d, q, b, f, len, (uint16_t)(r[4] & 4 ? VIRTQ_DESC_F_WRITE : 0), 0);
        return (int)a;
    }
    default: {  /* control: class, command, pairs; then the ack */
        uint64_t c = vdrv_buf(d, 4), ack = vdrv_buf(d, 1);
        uint8_t cmd[4] = {r[5] & 7, r[6] & 1, r[7], 0};
        memcpy(vdrv_ptr(d, c), cmd, 4);
        vdrv_set_desc(d, q, a, c, 2 + (r[4] & 3), VIRTQ_DESC_F_NEXT, (uint16_t)b);
        vdrv_set_desc(d, q, b, ack, 1, VIRTQ_DESC_F_WRITE, 0);
        return (int)a;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_loop loop;
    static bool ready;
    if (!ready) {
        event_loop_init(&loop);
        event_loop_set_owner(&loop);
        ready = true;
    }
    if (size < 1)
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    struct vnet_opts o = {.name = "fuzz", .pairs = 1, .mac = {2, 0, 0, 0, 0, 1}};
    o.be = (struct vnet_backend){.set_offload = no_offload, .enable_pair = no_pairs, .fds = {sv[0]}};
    struct event_loop *loops[1] = {&loop};
    char err[128];
    struct vnet *n = vnet_new(&o, loops, err, sizeof(err));
    if (!n)
        abort();
    static uint8_t frame[VNET_HDR_LEN + VNET_MAX_FRAME];
    for (unsigned i = 0; i < (data[0] & 3u); i++) {
        size_t len = VNET_HDR_LEN + 14 + (size_t)(data[0] >> 2) * 97 * (i + 1);
        memset(frame, (int)i, len);
        memset(frame, 0, VNET_HDR_LEN);
        (void)!send(sv[1], frame, len, MSG_DONTWAIT);
    }
    static struct vdrv d;
    vdrv_init(&d, vnet_dev(n), &loop, post_net);
    vdrv_play(&d, data + 1, size - 1);
    ssize_t r;
    while ((r = recv(sv[1], frame, sizeof(frame), MSG_DONTWAIT | MSG_TRUNC)) > 0)
        if ((size_t)r > VNET_HDR_LEN + VNET_MAX_FRAME)
            abort();
    vdrv_destroy(&d);
    vnet_free(n);
    close(sv[0]);
    close(sv[1]);
    return 0;
}

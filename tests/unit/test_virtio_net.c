/* The virtio-net device model against a driver played by the test: guest
 * RAM with the rings, a SOCK_SEQPACKET socketpair as the backend (one
 * frame per message, like a TAP), the queues served on the test thread's
 * loop.  Ordinary traffic both ways, mergeable buffers, the control
 * queue, and what a hostile driver can send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/vhost_net.h"
#include "virtio/net.h"
#include "virtio/net_hdr.h"
#include "virtio/virtqueue.h"

#define MEM_GPA  0x10000ULL
#define MEM_SIZE (1024 * 1024)
#define QSIZE    64
#define BUF_GPA  (MEM_GPA + 0x10000)

/* The driver's side of one queue. */
struct dq {
    uint64_t desc, avail, used;
    uint16_t avail_idx, next_desc, used_seen;
    struct vq vq;
    int kick;
};

struct fx {
    uint8_t *mem;
    struct memmap map;
    struct event_loop loop;
    struct vnet *net;
    struct virtio_dev *dev;
    int sv[2];                 /* [0] the device's backend fd, [1] the host's end */
    struct dq q[5];            /* rx0 tx0 (rx1 tx1) ctrl */
    unsigned nq;
    int notified, broken;
    bool event_idx;
    bool fail_pairs;
    unsigned offloads;
    int offload_calls;
    bool pair_on[VNET_MAX_PAIRS];
    uint64_t next_buf;
};

static void *gpa(struct fx *f, uint64_t a)
{
    return f->mem + (a - MEM_GPA);
}

static void on_notify(void *t, unsigned q)
{
    (void)q;
    ((struct fx *)t)->notified++;
}

static void on_broken(void *t, const char *why)
{
    (void)why;
    ((struct fx *)t)->broken++;
}

static int set_offload(void *o, unsigned off)
{
    struct fx *f = o;
    f->offloads = off;
    f->offload_calls++;
    return 0;
}

static int enable_pair(void *o, unsigned pair, bool on)
{
    struct fx *f = o;
    if (f->fail_pairs && pair > 0)
        return -1;
    f->pair_on[pair] = on;
    return 0;
}

static uint64_t alloc_buf(struct fx *f, size_t len)
{
    uint64_t a = f->next_buf;
    f->next_buf += (len + 15) & ~15ULL;
    assert_true(f->next_buf <= MEM_GPA + MEM_SIZE);
    return a;
}

struct seg {
    uint64_t gpa;
    uint32_t len;
    bool write;
};

/* Posts a chain and kicks; returns its head. */
static uint16_t post(struct fx *f, unsigned qi, const struct seg *s, unsigned n)
{
    struct dq *q = &f->q[qi];
    struct virtq_desc *d = gpa(f, q->desc);
    uint16_t head = q->next_desc;
    for (unsigned i = 0; i < n; i++) {
        uint16_t k = (uint16_t)((head + i) % QSIZE);
        d[k].addr = s[i].gpa;
        d[k].len = s[i].len;
        d[k].flags = (uint16_t)((s[i].write ? VIRTQ_DESC_F_WRITE : 0) | (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
        d[k].next = (uint16_t)((k + 1) % QSIZE);
    }
    q->next_desc = (uint16_t)((head + n) % QSIZE);
    uint16_t *ring = gpa(f, q->avail + 4);
    ring[q->avail_idx % QSIZE] = head;
    uint16_t old = q->avail_idx++;
    __atomic_store_n((uint16_t *)gpa(f, q->avail + 2), q->avail_idx, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* As Linux decides: with EVENT_IDX only when the new entries pass the
     * device's avail_event (the word after the used ring). */
    if (f->event_idx) {
        uint16_t ev = __atomic_load_n((uint16_t *)gpa(f, q->used + 4 + 8 * QSIZE), __ATOMIC_ACQUIRE);
        if ((uint16_t)(q->avail_idx - ev - 1) >= (uint16_t)(q->avail_idx - old))
            return head;
    }
    uint64_t one = 1;
    assert_int_equal(write(q->kick, &one, 8), 8);
    return head;
}

static void spin(struct fx *f)
{
    for (int i = 0; i < 5; i++)
        event_loop_run_once(&f->loop, 20);
}

static uint16_t used_idx(struct fx *f, unsigned qi)
{
    return __atomic_load_n((uint16_t *)gpa(f, f->q[qi].used + 2), __ATOMIC_ACQUIRE);
}

static struct virtq_used_elem used_elem(struct fx *f, unsigned qi, uint16_t i)
{
    struct virtq_used_elem e;
    memcpy(&e, (uint8_t *)gpa(f, f->q[qi].used + 4) + 8 * (i % QSIZE), sizeof(e));
    return e;
}

static int setup_with(void **state, unsigned pairs, uint64_t drop_features, bool event_idx)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->event_idx = event_idx;
    f->mem = aligned_alloc(4096, MEM_SIZE);
    memset(f->mem, 0, MEM_SIZE);
    assert_int_equal(memmap_add(&f->map, MEM_GPA, MEM_SIZE, f->mem), 0);
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, f->sv), 0);
    fcntl(f->sv[0], F_SETFL, O_NONBLOCK);
    struct vnet_opts o = {.name = "net test", .pairs = pairs, .mac = {0x52, 0x54, 0, 1, 2, 3}};
    o.be = (struct vnet_backend){.opaque = f, .set_offload = set_offload, .enable_pair = enable_pair};
    for (unsigned i = 0; i < pairs; i++)
        o.be.fds[i] = f->sv[0];
    char err[256];
    struct event_loop *loops[VNET_MAX_PAIRS];
    for (unsigned i = 0; i < pairs; i++)
        loops[i] = &f->loop;
    f->net = vnet_new(&o, loops, err, sizeof(err));
    assert_non_null(f->net);
    f->dev = vnet_dev(f->net);
    f->dev->transport = f;
    f->dev->notify = on_notify;
    f->dev->broken = on_broken;
    f->dev->features = f->dev->host_features & ~drop_features;
    f->nq = f->dev->num_queues;
    for (unsigned i = 0; i < f->nq; i++) {
        struct dq *q = &f->q[i];
        q->desc = MEM_GPA + i * 0x3000;
        q->avail = q->desc + 0x1000;
        q->used = q->desc + 0x2000;
        assert_int_equal(vq_map(&q->vq, &f->map, QSIZE, q->desc, q->avail, q->used, event_idx), 0);
        vq_set_base(&q->vq, 0);
        q->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(f->dev->ops->queue_start(f->dev, i, &q->vq, q->kick), 0);
    }
    f->next_buf = BUF_GPA;
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_with(state, 1, 0, false); }
static int setup_nomrg(void **state) { return setup_with(state, 1, BIT(VIRTIO_NET_F_MRG_RXBUF), false); }
static int setup_mq(void **state) { return setup_with(state, 2, 0, false); }
/* Kicks only where EVENT_IDX asks for them: lost wake-ups show as hangs. */
static int setup_evidx(void **state) { return setup_with(state, 1, 0, true); }
static int setup_mq_evidx(void **state) { return setup_with(state, 2, 0, true); }
static int setup_no_tso(void **state)
{
    return setup_with(state, 1, BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6) |
                                    BIT(VIRTIO_NET_F_GUEST_CSUM), false);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (unsigned i = 0; i < f->nq; i++) {
        f->dev->ops->queue_stop(f->dev, i);
        close(f->q[i].kick);
    }
    vnet_free(f->net);
    event_loop_destroy(&f->loop);
    close(f->sv[0]);
    close(f->sv[1]);
    free(f->mem);
    free(f);
    return 0;
}

/* A frame for the guest to send: header + len bytes of pattern. */
static uint64_t tx_frame(struct fx *f, const struct virtio_net_hdr *h, size_t len)
{
    uint64_t a = alloc_buf(f, VNET_HDR_LEN + len);
    memcpy(gpa(f, a), h, VNET_HDR_LEN);
    for (size_t i = 0; i < len; i++)
        ((uint8_t *)gpa(f, a + VNET_HDR_LEN))[i] = (uint8_t)(i * 7);
    return a;
}

static void tx_good_frames_reach_the_backend(void **state)
{
    struct fx *f = *state;
    struct virtio_net_hdr h = {0};
    uint64_t a = tx_frame(f, &h, 60);
    /* Header and frame in separate descriptors, as Linux sends them. */
    post(f, 1, (struct seg[]){{a, VNET_HDR_LEN, false}, {a + VNET_HDR_LEN, 60, false}}, 2);
    spin(f);
    uint8_t got[200];
    assert_int_equal(recv(f->sv[1], got, sizeof(got), MSG_DONTWAIT), VNET_HDR_LEN + 60);
    assert_memory_equal(got, gpa(f, a), VNET_HDR_LEN + 60);
    assert_int_equal(used_idx(f, 1), 1);
    assert_int_equal(used_elem(f, 1, 0).len, 0);
    /* A TSO frame with checksum offload, as negotiated. */
    h = (struct virtio_net_hdr){.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                .hdr_len = 54, .gso_size = 1448, .csum_start = 34, .csum_offset = 16};
    a = tx_frame(f, &h, 4000);
    post(f, 1, (struct seg[]){{a, VNET_HDR_LEN + 4000, false}}, 1);
    spin(f);
    assert_int_equal(recv(f->sv[1], got, sizeof(got), MSG_DONTWAIT | MSG_TRUNC), VNET_HDR_LEN + 4000);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.tx_packets, 2);
    assert_int_equal(s.tx_bytes, 4060);
    assert_int_equal(f->broken, 0);
    assert_true(f->notified > 0);
}

static void tx_bad_frames_are_dropped_and_counted(void **state)
{
    struct fx *f = *state;
    struct virtio_net_hdr h = {0};
    uint64_t a = tx_frame(f, &h, 60);
    post(f, 1, (struct seg[]){{a, 8, false}}, 1);                                  /* shorter than the header */
    post(f, 1, (struct seg[]){{a, VNET_HDR_LEN + 60, false}, {a, 16, true}}, 2);   /* a writable buffer */
    uint64_t big = alloc_buf(f, VNET_HDR_LEN + VNET_MAX_FRAME + 1);
    memset(gpa(f, big), 0, VNET_HDR_LEN);
    post(f, 1, (struct seg[]){{big, VNET_HDR_LEN + VNET_MAX_FRAME + 1, false}}, 1); /* oversize */
    struct virtio_net_hdr bad[] = {
        {.gso_type = 9},                                                         /* unknown GSO type */
        {.gso_type = VIRTIO_NET_HDR_GSO_UDP, .flags = 1, .gso_size = 100},      /* UFO: not offered */
        {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448},               /* TSO without csum */
        {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .flags = 1, .gso_size = 0},      /* segment size 0 */
        {.flags = 1, .csum_start = 50, .csum_offset = 20},                       /* checksum past the end */
        {.flags = VIRTIO_NET_HDR_F_DATA_VALID},                                  /* device-only flag */
        {.gso_type = VIRTIO_NET_HDR_GSO_ECN},                                    /* ECN alone */
        {.gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .flags = 1, .gso_size = 1448, .hdr_len = 5000},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t b = tx_frame(f, &bad[i], 60);
        post(f, 1, (struct seg[]){{b, VNET_HDR_LEN + 60, false}}, 1);
    }
    uint64_t tiny = tx_frame(f, &h, 10);   /* shorter than an Ethernet header */
    post(f, 1, (struct seg[]){{tiny, VNET_HDR_LEN + 10, false}}, 1);
    spin(f);
    uint8_t got[64];
    assert_int_equal(recv(f->sv[1], got, sizeof(got), MSG_DONTWAIT), -1);   /* nothing reached the host */
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.tx_bad_chain, 3);
    assert_int_equal(s.tx_bad_header, 9);
    assert_int_equal(s.tx_packets, 0);
    assert_int_equal(used_idx(f, 1), 12);   /* every chain given back */
    assert_int_equal(f->broken, 0);
    /* A buffer outside guest RAM breaks the queue, nothing more. */
    post(f, 1, (struct seg[]){{MEM_GPA + MEM_SIZE - 4, 64, false}}, 1);
    spin(f);
    assert_int_equal(f->broken, 1);
}

/* The host sends a frame of len bytes (header included) with a pattern. */
static void host_send(struct fx *f, size_t len, uint8_t seed)
{
    uint8_t *b = malloc(len);
    memset(b, 0, VNET_HDR_LEN);
    for (size_t i = VNET_HDR_LEN; i < len; i++)
        b[i] = (uint8_t)(seed + i);
    assert_int_equal(send(f->sv[1], b, len, 0), (ssize_t)len);
    free(b);
}

static void check_pattern(const uint8_t *p, size_t from, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(seed + from + i))
            fail_msg("byte %zu: %u, expected %u", from + i, p[i], (uint8_t)(seed + from + i));
}

static void rx_single_buffers(void **state)
{
    struct fx *f = *state;
    uint64_t b = alloc_buf(f, 1526);
    post(f, 0, (struct seg[]){{b, 1526, true}}, 1);
    host_send(f, 100, 3);
    spin(f);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_elem(f, 0, 0).len, 100);
    struct virtio_net_hdr *h = gpa(f, b);
    assert_int_equal(h->num_buffers, 1);
    check_pattern((uint8_t *)gpa(f, b) + VNET_HDR_LEN, VNET_HDR_LEN, 88, 3);
    /* Too big for the buffer the driver posted: dropped, counted, given back. */
    post(f, 0, (struct seg[]){{b, 1526, true}}, 1);
    host_send(f, 3000, 5);
    spin(f);
    assert_int_equal(used_idx(f, 0), 2);
    assert_int_equal(used_elem(f, 0, 1).len, 0);
    /* A buffer too short even for the header. */
    post(f, 0, (struct seg[]){{b, 6, true}}, 1);
    host_send(f, 100, 5);
    spin(f);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_packets, 1);
    assert_int_equal(s.rx_dropped_too_big, 1);
    assert_int_equal(s.rx_bad_buffers, 1);
    assert_int_equal(f->broken, 0);
}

static void rx_merges_buffers_and_waits_for_them(void **state)
{
    struct fx *f = *state;
    /* A frame that arrives before any buffer waits, it is not dropped. */
    host_send(f, 2500, 9);
    spin(f);
    assert_int_equal(used_idx(f, 0), 0);
    uint64_t b[3];
    for (int i = 0; i < 3; i++)
        b[i] = alloc_buf(f, 1000);
    post(f, 0, (struct seg[]){{b[0], 1000, true}}, 1);
    spin(f);
    assert_int_equal(used_idx(f, 0), 0);   /* 1000 bytes are not enough: nothing published */
    post(f, 0, (struct seg[]){{b[1], 1000, true}}, 1);
    post(f, 0, (struct seg[]){{b[2], 1000, true}}, 1);
    spin(f);
    assert_int_equal(used_idx(f, 0), 3);
    assert_int_equal(used_elem(f, 0, 0).len, 1000);
    assert_int_equal(used_elem(f, 0, 1).len, 1000);
    assert_int_equal(used_elem(f, 0, 2).len, 500);
    struct virtio_net_hdr *h = gpa(f, b[0]);
    assert_int_equal(h->num_buffers, 3);
    check_pattern((uint8_t *)gpa(f, b[0]) + VNET_HDR_LEN, VNET_HDR_LEN, 988, 9);
    check_pattern(gpa(f, b[1]), 1000, 1000, 9);
    check_pattern(gpa(f, b[2]), 2000, 500, 9);
    assert_int_equal(f->broken, 0);
}

/* What the guest sees when frames go straight into its chains (as many
 * chains as frames like the recent ones need, the rest given back) or,
 * when those are too few, through the bounce buffer: the same lengths,
 * heads, order, num_buffers and bytes the bounce-buffer path gave (the
 * checks fail if a chain is lost, published twice or out of order).
 * Which way a frame went is not visible here. */
static void rx_direct_takes_what_recent_frames_need(void **state)
{
    struct fx *f = *state;
    uint64_t b[8];
    uint16_t head[8];
    for (int i = 0; i < 8; i++) {
        b[i] = alloc_buf(f, 1000);
        head[i] = post(f, 0, (struct seg[]){{b[i], 1000, true}}, 1);
    }
    /* 2500 bytes when an MTU's frame was expected: two chains taken, too
     * few, so the frame goes through the bounce buffer into three. */
    host_send(f, 2500, 1);
    spin(f);
    assert_int_equal(used_idx(f, 0), 3);
    /* Now 2500 is expected: three chains taken, the frame read into them. */
    host_send(f, 2400, 2);
    spin(f);
    assert_int_equal(used_idx(f, 0), 6);
    assert_int_equal(used_elem(f, 0, 3).id, head[3]);
    assert_int_equal(used_elem(f, 0, 3).len, 1000);
    assert_int_equal(used_elem(f, 0, 4).len, 1000);
    assert_int_equal(used_elem(f, 0, 5).id, head[5]);
    assert_int_equal(used_elem(f, 0, 5).len, 400);
    struct virtio_net_hdr *h = gpa(f, b[3]);
    assert_int_equal(h->num_buffers, 3);
    check_pattern((uint8_t *)gpa(f, b[3]) + VNET_HDR_LEN, VNET_HDR_LEN, 988, 2);
    check_pattern(gpa(f, b[4]), 1000, 1000, 2);
    check_pattern(gpa(f, b[5]), 2000, 400, 2);
    /* A small frame: chains 6 and 7 are taken for it (~2400 expected),
     * one is used and one given back, which the next frame gets. */
    host_send(f, 100, 3);
    host_send(f, 200, 4);
    spin(f);
    assert_int_equal(used_idx(f, 0), 8);
    assert_int_equal(used_elem(f, 0, 6).id, head[6]);
    assert_int_equal(used_elem(f, 0, 6).len, 100);
    assert_int_equal(used_elem(f, 0, 7).id, head[7]);
    assert_int_equal(used_elem(f, 0, 7).len, 200);
    assert_int_equal(((struct virtio_net_hdr *)gpa(f, b[6]))->num_buffers, 1);
    assert_int_equal(((struct virtio_net_hdr *)gpa(f, b[7]))->num_buffers, 1);
    check_pattern((uint8_t *)gpa(f, b[7]) + VNET_HDR_LEN, VNET_HDR_LEN, 188, 4);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_packets, 4);
    assert_int_equal(s.rx_bytes, 2500 + 2400 + 100 + 200 - 4 * VNET_HDR_LEN);
    assert_int_equal(f->broken, 0);
}

/* A first chain too short for the header is given back empty and the
 * frame goes into the next chain, here one whose header is split over two
 * buffers; a wait for buffers is counted only with a frame waiting. */
static void rx_short_chain_split_header_and_waits(void **state)
{
    struct fx *f = *state;
    struct vnet_stats s;
    spin(f);
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_no_buffers, 0); /* empty ring, nothing sent */
    uint64_t tiny = alloc_buf(f, 8), a = alloc_buf(f, 4), b = alloc_buf(f, 996);
    uint16_t h0 = post(f, 0, (struct seg[]){{tiny, 8, true}}, 1);
    uint16_t h1 = post(f, 0, (struct seg[]){{a, 4, true}, {b, 996, true}}, 2);
    host_send(f, 300, 7);
    host_send(f, 200, 8);
    spin(f);
    assert_int_equal(used_idx(f, 0), 2);
    assert_int_equal(used_elem(f, 0, 0).id, h0);
    assert_int_equal(used_elem(f, 0, 0).len, 0);
    assert_int_equal(used_elem(f, 0, 1).id, h1);
    assert_int_equal(used_elem(f, 0, 1).len, 300);
    uint16_t nb;
    memcpy(&nb, (uint8_t *)gpa(f, b) + offsetof(struct virtio_net_hdr, num_buffers) - 4, sizeof(nb));
    assert_int_equal(nb, 1);
    check_pattern((uint8_t *)gpa(f, b) + VNET_HDR_LEN - 4, VNET_HDR_LEN, 288, 7);
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_bad_buffers, 1);
    assert_int_equal(s.rx_packets, 1);
    assert_int_equal(s.rx_no_buffers, 1); /* the second frame waits */
    uint64_t c = alloc_buf(f, 1000);
    post(f, 0, (struct seg[]){{c, 1000, true}}, 1);
    spin(f);
    assert_int_equal(used_idx(f, 0), 3);
    assert_int_equal(used_elem(f, 0, 2).len, 200);
    check_pattern((uint8_t *)gpa(f, c) + VNET_HDR_LEN, VNET_HDR_LEN, 188, 8);
    assert_int_equal(f->broken, 0);
}

static void rx_into_readable_buffer_breaks(void **state)
{
    struct fx *f = *state;
    uint64_t b = alloc_buf(f, 2000);
    post(f, 0, (struct seg[]){{b, 2000, false}}, 1);
    host_send(f, 100, 1);
    spin(f);
    assert_int_equal(f->broken, 1);
    assert_int_equal(used_idx(f, 0), 0);
}

static void offloads_follow_the_driver(void **state)
{
    struct fx *f = *state;
    assert_int_equal(f->offload_calls, 1);
    assert_int_equal(f->offloads, VNET_OFFLOAD_CSUM | VNET_OFFLOAD_TSO4 | VNET_OFFLOAD_TSO6 | VNET_OFFLOAD_ECN);
    assert_true(f->pair_on[0]);
}

/* A control command: class, cmd, data; returns the ack the device wrote. */
static uint8_t ctrl(struct fx *f, uint8_t cls, uint8_t cmd, const void *data, uint32_t len)
{
    unsigned cq = f->nq - 1;
    uint64_t a = alloc_buf(f, 2 + len), ack = alloc_buf(f, 1);
    uint8_t *p = gpa(f, a);
    p[0] = cls;
    p[1] = cmd;
    memcpy(p + 2, data, len);
    *(uint8_t *)gpa(f, ack) = 0xee;
    uint16_t before = used_idx(f, cq);
    post(f, cq, (struct seg[]){{a, 2, false}, {a + 2, len, false}, {ack, 1, true}}, len ? 3 : 2);
    if (!len) {   /* no data: the ack right after the header */
        struct virtq_desc *d = gpa(f, f->q[cq].desc);
        (void)d;
    }
    spin(f);
    assert_int_equal(used_idx(f, cq), (uint16_t)(before + 1));
    return *(uint8_t *)gpa(f, ack);
}

static void control_queue_sets_pairs(void **state)
{
    struct fx *f = *state;
    assert_true(f->pair_on[0]);
    assert_false(f->pair_on[1]);
    uint16_t two = 2, zero = 0, three = 3;
    assert_int_equal(ctrl(f, 4, 0, &two, 2), 0);
    assert_true(f->pair_on[1]);
    assert_int_equal(vnet_active_pairs(f->net), 2);
    assert_int_equal(ctrl(f, 4, 0, &zero, 2), 1);
    assert_int_equal(ctrl(f, 4, 0, &three, 2), 1);
    assert_int_equal(ctrl(f, 4, 0, &two, 1), 1);     /* data too short */
    assert_int_equal(ctrl(f, 0, 0, &two, 1), 1);     /* RX class: not offered */
    assert_int_equal(vnet_active_pairs(f->net), 2);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.ctrl_errors, 4);
    assert_int_equal(f->broken, 0);
}

static void backend_full_waits(void **state)
{
    struct fx *f = *state;
    struct virtio_net_hdr h = {0};
    uint64_t a = tx_frame(f, &h, 1400);
    int sent = 0;
    /* Fill the socket until the device must wait, without reading. */
    for (int i = 0; i < 2000 && f->broken == 0; i++) {
        post(f, 1, (struct seg[]){{a, VNET_HDR_LEN + 1400, false}}, 1);
        spin(f);
        sent++;
        if ((uint16_t)(f->q[1].avail_idx - used_idx(f, 1)) > 0)
            break;
    }
    uint16_t pending = (uint16_t)(f->q[1].avail_idx - used_idx(f, 1));
    assert_int_equal(pending, 1);   /* held back, not dropped */
    uint8_t buf[2000];
    int drained = 0;
    while (recv(f->sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
        drained++;
    spin(f);
    while (recv(f->sv[1], buf, sizeof(buf), MSG_DONTWAIT) > 0)
        drained++;
    assert_int_equal(used_idx(f, 1), f->q[1].avail_idx);
    assert_int_equal(drained, sent);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.tx_packets, (uint64_t)sent);
}

static void frame_too_big_for_the_ring_is_dropped(void **state)
{
    struct fx *f = *state;
    /* The whole ring of small buffers cannot hold it: it must not block
     * the frames behind it. */
    for (int i = 0; i < QSIZE; i++)
        post(f, 0, (struct seg[]){{alloc_buf(f, 100), 100, true}}, 1);
    host_send(f, 10000, 1);
    host_send(f, 60, 2);
    spin(f);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_bad_buffers, 1);
    assert_int_equal(s.rx_packets, 1);
    assert_int_equal(used_idx(f, 0), 1);
    assert_int_equal(used_elem(f, 0, 0).len, 60);
    assert_int_equal(f->broken, 0);
}

static void rx_headers_follow_the_driver(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 4; i++)
        post(f, 0, (struct seg[]){{alloc_buf(f, 2048), 2048, true}}, 1);
    /* A TSO frame (left from before the offloads changed): not for this driver. */
    uint8_t b[100] = {0};
    struct virtio_net_hdr *h = (struct virtio_net_hdr *)b;
    h->gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
    h->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h->gso_size = 1448;
    assert_int_equal(send(f->sv[1], b, sizeof(b), 0), (ssize_t)sizeof(b));
    /* DATA_VALID, which the TAP sets anyway: cleared without GUEST_CSUM. */
    memset(b, 0, sizeof(b));
    h->flags = VIRTIO_NET_HDR_F_DATA_VALID;
    assert_int_equal(send(f->sv[1], b, sizeof(b), 0), (ssize_t)sizeof(b));
    spin(f);
    struct vnet_stats s;
    vnet_get_stats(f->net, &s);
    assert_int_equal(s.rx_dropped_offload, 1);
    assert_int_equal(s.rx_packets, 1);
    assert_int_equal(used_idx(f, 0), 1);
    struct virtio_net_hdr *got = gpa(f, BUF_GPA);
    assert_int_equal(got->flags, 0);
}

static void backend_gone_goes_quiet(void **state)
{
    struct fx *f = *state;
    post(f, 0, (struct seg[]){{alloc_buf(f, 2048), 2048, true}}, 1);
    spin(f);
    close(f->sv[1]);
    f->sv[1] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);   /* for the teardown's close */
    spin(f);
    /* A hung-up backend no longer wakes the loop: it sleeps its timeout. */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 5; i++)
        event_loop_run_once(&f->loop, 20);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 80);
    assert_int_equal(f->broken, 0);
}

static void pairs_the_backend_refuses(void **state)
{
    struct fx *f = *state;
    f->fail_pairs = true;
    uint16_t two = 2;
    assert_int_equal(ctrl(f, 4, 0, &two, 2), 1);   /* VIRTIO_NET_ERR */
    assert_int_equal(vnet_active_pairs(f->net), 1);
    assert_true(f->pair_on[0]);
}

/* What the guest is offered and what vhost is told with vhost-net as the
 * data plane: ring features only as far as this vhost walks rings so;
 * offloads and the control queue stay offered (TAP's and ours) but are
 * never acknowledged to vhost, nor its own header (the TAP keeps it). */
static void vhost_feature_negotiation(void **state)
{
    (void)state;
    uint64_t host = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                    BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
                    BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ);
    uint64_t vhost = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF) |
                     BIT(27) /* VHOST_NET_F_VIRTIO_NET_HDR */ | BIT(26) /* VHOST_F_LOG_ALL */;
    uint64_t offer = vnet_vhost_offer(host, vhost);
    assert_int_equal(offer, host & ~BIT(VIRTIO_F_EVENT_IDX));
    assert_int_equal(vnet_vhost_offer(host, vhost | BIT(VIRTIO_F_EVENT_IDX)), host);
    assert_int_equal(vhost_net_ack_features(offer, vhost),
                     BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_NET_F_MRG_RXBUF));
    /* A driver that refused mergeable buffers: vhost must not merge. */
    assert_int_equal(vhost_net_ack_features(offer & ~BIT(VIRTIO_NET_F_MRG_RXBUF), vhost),
                     BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC));
}

/* A vhost fd that refuses every ioctl (here an eventfd): the data queues
 * do not start (the transport then flags the device for reset), the
 * control queue, which is ours, does, and stopping is harmless. */
static void vhost_refusing_fails_the_queue(void **state)
{
    (void)state;
    uint8_t *mem = aligned_alloc(4096, MEM_SIZE);
    memset(mem, 0, MEM_SIZE);
    struct memmap map = {0};
    assert_int_equal(memmap_add(&map, MEM_GPA, MEM_SIZE, mem), 0);
    struct event_loop loop;
    assert_int_equal(event_loop_init(&loop), 0);
    event_loop_set_owner(&loop);
    int bogus = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), tap = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct vnet_opts o = {.name = "net test", .pairs = 1};
    o.be = (struct vnet_backend){.opaque = NULL, .vhost = true, .vhost_features = ~0ULL};
    o.be.fds[0] = tap;
    o.be.vhost_fds[0] = bogus;
    struct event_loop *loops[1] = {&loop};
    char err[256];
    struct vnet *n = vnet_new(&o, loops, err, sizeof(err));
    assert_non_null(n);
    struct virtio_dev *d = vnet_dev(n);
    d->features = d->host_features;
    struct vq vq[3];
    int kick[3];
    for (unsigned i = 0; i < 3; i++) {
        uint64_t desc = MEM_GPA + i * 0x3000;
        assert_int_equal(vq_map(&vq[i], &map, QSIZE, desc, desc + 0x1000, desc + 0x2000, false), 0);
        kick[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    }
    assert_int_equal(d->ops->queue_start(d, 0, &vq[0], kick[0]), -1);
    assert_int_equal(d->ops->queue_start(d, 1, &vq[1], kick[1]), -1);
    assert_int_equal(d->ops->queue_start(d, 2, &vq[2], kick[2]), 0);
    assert_int_equal(d->ops->queue_stop(d, 0), 0);
    assert_int_equal(d->ops->queue_stop(d, 2), 0);
    struct vnet_stats st;
    vnet_get_stats(n, &st);
    assert_int_equal(st.rx_packets + st.tx_packets, 0);
    vnet_free(n);
    for (unsigned i = 0; i < 3; i++)
        close(kick[i]);
    close(bogus);
    close(tap);
    event_loop_destroy(&loop);
    free(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(tx_good_frames_reach_the_backend, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_bad_frames_are_dropped_and_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_single_buffers, setup_nomrg, teardown),
        cmocka_unit_test_setup_teardown(rx_merges_buffers_and_waits_for_them, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_into_readable_buffer_breaks, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_direct_takes_what_recent_frames_need, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_direct_takes_what_recent_frames_need, setup_evidx, teardown),
        cmocka_unit_test_setup_teardown(rx_short_chain_split_header_and_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_short_chain_split_header_and_waits, setup_evidx, teardown),
        cmocka_unit_test_setup_teardown(offloads_follow_the_driver, setup, teardown),
        cmocka_unit_test_setup_teardown(control_queue_sets_pairs, setup_mq, teardown),
        cmocka_unit_test_setup_teardown(backend_full_waits, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_merges_buffers_and_waits_for_them, setup_evidx, teardown),
        cmocka_unit_test_setup_teardown(control_queue_sets_pairs, setup_mq_evidx, teardown),
        cmocka_unit_test_setup_teardown(tx_good_frames_reach_the_backend, setup_evidx, teardown),
        cmocka_unit_test_setup_teardown(frame_too_big_for_the_ring_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(frame_too_big_for_the_ring_is_dropped, setup_evidx, teardown),
        cmocka_unit_test_setup_teardown(rx_headers_follow_the_driver, setup_no_tso, teardown),
        cmocka_unit_test_setup_teardown(backend_gone_goes_quiet, setup, teardown),
        cmocka_unit_test(vhost_feature_negotiation),
        cmocka_unit_test(vhost_refusing_fails_the_queue),
        cmocka_unit_test_setup_teardown(pairs_the_backend_refuses, setup_mq, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

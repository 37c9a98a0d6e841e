/* vu-load: a vhost-user-blk front-end that plays the guest driver, so a
 * back-end (vireo disk serve, qemu-storage-daemon) can be measured at
 * native speed with no VM: shared memory from a memfd, split rings with
 * EVENT_IDX, kicks on eventfds, completions waited for on call eventfds.
 * One thread per queue keeps --qd requests of --bs bytes (4 KiB by default)
 * in flight for --seconds, at random aligned offsets (randread, randwrite)
 * or one after another (write: queue i writes its own stream from i/N of
 * the disk on, as files being written), then prints one line:
 *   iops=N p50_us=N p99_us=N ios=N errors=N
 * With --poll it never sleeps: it spins on the used ring with interrupts
 * suppressed (VIRTQ_AVAIL_F_NO_INTERRUPT semantics through EVENT_IDX: the
 * used event stays behind), as Linux's virtio-blk poll queues do, so the
 * figure is the back-end's, not the cost of waking a sleeping front-end.
 * With --shrink it plays a hostile front-end instead (the tests use it):
 * it posts one request, truncates its memfd to nothing and kicks, so the
 * back-end's next touch of the rings is a SIGBUS; it exits 0 once the
 * back-end has dropped the connection.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vhost_user/msg.h"
#include "virtio/blk.h"
#include "virtio/virtqueue.h"

#define QSIZE      256
#define BS         4096         /* the unit of offsets; --bs is a multiple */
#define MAX_BS     (1u << 20)
#define MAX_QD     64
#define MAX_Q      8
#define OFF_DESC   0
#define OFF_AVAIL  4096
#define OFF_USED   8192
#define OFF_HDR    12288
#define OFF_STATUS 16384
#define OFF_DATA   20480

struct qctx {
    unsigned idx;
    uint8_t *base;             /* our mapping of this queue's region */
    uint64_t gpa;              /* the region's "guest physical" address */
    int kick, call;
    uint64_t capacity_blocks;  /* in 4 KiB blocks */
    int write;
    bool sequential;
    uint64_t next_blk;         /* sequential: where the next request goes */
    unsigned bs;               /* bytes per request */
    bool poll;                 /* spin on the used ring, no interrupts */
    unsigned qd;
    double seconds;
    uint32_t *lat_ns;
    size_t nlat, caplat;
    unsigned long errors;
    unsigned seed;
};

static int sock = -1;
static uint64_t protocol_features;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "vu-load: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Sends a request; waits for its reply (GET_*) or its ack (REPLY_ACK). */
static void request(uint32_t req, const void *payload, uint32_t size, const int *fds, unsigned nfds,
                    struct vhost_user_msg *reply)
{
    static struct vhost_user_msg m;
    memset(&m.hdr, 0, sizeof(m.hdr));
    m.hdr.request = req;
    m.hdr.flags = VHOST_USER_VERSION;
    m.hdr.size = size;
    if (size)
        memcpy(&m.p, payload, size);
    bool ack = !reply && (protocol_features & BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK));
    if (ack)
        m.hdr.flags |= VHOST_USER_NEED_REPLY;
    if (vu_msg_send(sock, &m, fds, nfds) < 0)
        die("send");
    if (!reply && !ack)
        return;
    static struct vhost_user_msg r;
    int rfds[VHOST_USER_MAX_FDS];
    unsigned rn;
    if (vu_msg_recv(sock, reply ? reply : &r, rfds, &rn) < 0)
        die("receive");
    for (unsigned i = 0; i < rn; i++)
        close(rfds[i]);
    if (ack && r.p.u64 != 0) {
        fprintf(stderr, "vu-load: request %u refused by the back-end\n", req);
        exit(1);
    }
}

static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

static void submit(struct qctx *q, unsigned slot, uint64_t *t0)
{
    struct { uint32_t type, prio; uint64_t sector; } h = {q->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, 0, 0};
    uint64_t span = q->bs / BS, room = q->capacity_blocks - span + 1, blk;
    if (q->sequential) {
        if (q->next_blk >= room)
            q->next_blk = 0;
        blk = q->next_blk;
        q->next_blk += span;
    } else {
        blk = ((uint64_t)rand_r(&q->seed) << 31 ^ (uint64_t)rand_r(&q->seed)) % room / span * span;
    }
    h.sector = blk * (BS / 512);
    memcpy(q->base + OFF_HDR + 16 * slot, &h, sizeof(h));
    q->base[OFF_STATUS + slot] = 0xFF;
    uint16_t *avail_idx = (uint16_t *)(q->base + OFF_AVAIL + 2);
    uint16_t i = *avail_idx;
    uint16_t head = (uint16_t)(3 * slot);
    memcpy(q->base + OFF_AVAIL + 4 + 2 * (i % QSIZE), &head, 2);
    t0[slot] = now_ns();
    __atomic_store_n(avail_idx, (uint16_t)(i + 1), __ATOMIC_RELEASE);
}

static void kick_if_needed(struct qctx *q, uint16_t old)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t now = *(uint16_t *)(q->base + OFF_AVAIL + 2);
    uint16_t event = __atomic_load_n((uint16_t *)(q->base + OFF_USED + 4 + 8 * QSIZE), __ATOMIC_ACQUIRE);
    if (need_event(event, now, old)) {
        uint64_t one = 1;
        if (write(q->kick, &one, 8) != 8)
            die("kick");
    }
}

static void *run_queue(void *arg)
{
    struct qctx *q = arg;
    uint64_t t0[MAX_QD];
    /* Descriptor chains are fixed: slot s uses 3s (header), 3s+1 (data),
     * 3s+2 (status). */
    for (unsigned s = 0; s < q->qd; s++) {
        struct virtq_desc d[3] = {
            {q->gpa + OFF_HDR + 16 * s, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(3 * s + 1)},
            {q->gpa + OFF_DATA + (uint64_t)q->bs * s, q->bs,
             (uint16_t)(VIRTQ_DESC_F_NEXT | (q->write ? 0 : VIRTQ_DESC_F_WRITE)), (uint16_t)(3 * s + 2)},
            {q->gpa + OFF_STATUS + s, 1, VIRTQ_DESC_F_WRITE, 0},
        };
        memcpy(q->base + OFF_DESC + 16 * 3 * s, d, sizeof(d));
        memset(q->base + OFF_DATA + (size_t)q->bs * s, (int)(s + 1), q->bs);
    }
    uint16_t *used_idx = (uint16_t *)(q->base + OFF_USED + 2);
    uint16_t *used_event = (uint16_t *)(q->base + OFF_AVAIL + 4 + 2 * QSIZE);
    uint16_t last_used = 0;
    uint16_t old = *(uint16_t *)(q->base + OFF_AVAIL + 2);
    for (unsigned s = 0; s < q->qd; s++)
        submit(q, s, t0);
    kick_if_needed(q, old);
    double end = now_s() + q->seconds;
    unsigned inflight = q->qd;
    bool stopping = false;
    while (inflight) {
        if (q->poll) {
            /* The used event stays half the index space behind: the
             * back-end never sees a reason to interrupt. */
            __atomic_store_n(used_event, (uint16_t)(last_used - 0x8000), __ATOMIC_RELEASE);
            double spin_start = now_s();
            while (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == last_used)
                if (now_s() - spin_start > 2) {
                    fprintf(stderr, "vu-load: queue %u: no completion for 2 s\n", q->idx);
                    exit(1);
                }
        } else {
            /* Ask for an interrupt at the next completion, then look again
             * before sleeping, or one could be missed. */
            __atomic_store_n(used_event, last_used, __ATOMIC_RELEASE);
            __atomic_thread_fence(__ATOMIC_SEQ_CST);
            if (__atomic_load_n(used_idx, __ATOMIC_ACQUIRE) == last_used) {
                struct pollfd p = {.fd = q->call, .events = POLLIN};
                if (poll(&p, 1, 2000) == 0) {
                    fprintf(stderr, "vu-load: queue %u: no completion for 2 s\n", q->idx);
                    exit(1);
                }
                uint64_t v;
                (void)!read(q->call, &v, 8);
            }
        }
        uint16_t u = __atomic_load_n(used_idx, __ATOMIC_ACQUIRE);
        if (!stopping && now_s() >= end)
            stopping = true;
        old = *(uint16_t *)(q->base + OFF_AVAIL + 2);
        while (last_used != u) {
            uint32_t id;
            memcpy(&id, q->base + OFF_USED + 4 + 8 * (last_used % QSIZE), 4);
            last_used++;
            unsigned s = id / 3;
            if (s >= q->qd) {
                fprintf(stderr, "vu-load: back-end returned a bad id %u\n", id);
                exit(1);
            }
            if (q->base[OFF_STATUS + s] != VIRTIO_BLK_S_OK)
                q->errors++;
            if (q->nlat == q->caplat) {
                q->caplat = q->caplat ? 2 * q->caplat : 65536;
                q->lat_ns = realloc(q->lat_ns, q->caplat * sizeof(*q->lat_ns));
            }
            uint64_t l = now_ns() - t0[s];
            q->lat_ns[q->nlat++] = l > UINT32_MAX ? UINT32_MAX : (uint32_t)l;
            if (stopping)
                inflight--;
            else
                submit(q, s, t0);
        }
        if (!stopping)
            kick_if_needed(q, old);
    }
    return NULL;
}

/* Posts one request on queue q, shrinks the shared memory under the
 * back-end and kicks; the back-end must hang up on us (within 10 s). */
static int shrink_and_kick(struct qctx *q, int memfd)
{
    struct virtq_desc d[3] = {
        {q->gpa + OFF_HDR, 16, VIRTQ_DESC_F_NEXT, 1},
        {q->gpa + OFF_DATA, BS, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2},
        {q->gpa + OFF_STATUS, 1, VIRTQ_DESC_F_WRITE, 0},
    };
    memcpy(q->base + OFF_DESC, d, sizeof(d));
    uint64_t t0;
    submit(q, 0, &t0);
    /* From here on our own mapping faults too: touch nothing in it. */
    if (ftruncate(memfd, 0) < 0)
        die("ftruncate");
    uint64_t one = 1;
    if (write(q->kick, &one, 8) != 8)
        die("kick");
    struct pollfd p = {.fd = sock, .events = POLLIN};
    char c;
    if (poll(&p, 1, 10000) == 1 && recv(sock, &c, 1, 0) == 0) {
        printf("vu-load: the back-end dropped the connection\n");
        return 0;
    }
    fprintf(stderr, "vu-load: still connected 10 s after shrinking the memory\n");
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int write_mode = -1;
    bool shrink = false;
    unsigned qd = 1, nq = 1, bs = BS;
    bool sequential = false, poll_mode = false;
    double seconds = 5;
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'}, {"rw", required_argument, 0, 'r'},
        {"qd", required_argument, 0, 'q'},     {"queues", required_argument, 0, 'n'},
        {"seconds", required_argument, 0, 't'}, {"shrink", no_argument, 0, 'x'},
        {"bs", required_argument, 0, 'b'},      {"poll", no_argument, 0, 'p'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': path = optarg; break;
        case 'r':
            write_mode = !strcmp(optarg, "randwrite") || !strcmp(optarg, "write") ? 1
                         : !strcmp(optarg, "randread")                            ? 0
                                                                                  : -1;
            sequential = !strcmp(optarg, "write");
            break;
        case 'b': bs = (unsigned)atoi(optarg); break;
        case 'p': poll_mode = true; break;
        case 'q': qd = (unsigned)atoi(optarg); break;
        case 'n': nq = (unsigned)atoi(optarg); break;
        case 't': seconds = atof(optarg); break;
        case 'x': shrink = true; write_mode = write_mode < 0 ? 0 : write_mode; break;
        default: return 2;
        }
    }
    if (!path || write_mode < 0 || qd < 1 || qd > MAX_QD || nq < 1 || nq > MAX_Q || seconds <= 0 || bs < BS ||
        bs > MAX_BS || bs % BS) {
        fprintf(stderr, "usage: vu-load --socket PATH --rw randread|randwrite|write [--bs 4096-%u, 4 KiB multiple] "
                        "[--qd 1-%d] [--queues 1-%d] [--seconds S] [--poll]\n       vu-load --socket PATH --shrink\n",
                MAX_BS, MAX_QD, MAX_Q);
        return 2;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0 || connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die(path);

    static struct vhost_user_msg r;
    request(VHOST_USER_GET_FEATURES, NULL, 0, NULL, 0, &r);
    uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_EVENT_IDX) | BIT(VHOST_USER_F_PROTOCOL_FEATURES) |
                    (nq > 1 ? BIT(VIRTIO_BLK_F_MQ) : 0);
    if ((r.p.u64 & want) != want) {
        fprintf(stderr, "vu-load: back-end lacks features 0x%llx\n", (unsigned long long)(want & ~r.p.u64));
        return 1;
    }
    /* As Linux's driver does: a back-end offering FLUSH keeps its write
     * cache (without it, write-through). */
    want |= r.p.u64 & BIT(VIRTIO_BLK_F_FLUSH);
    request(VHOST_USER_GET_PROTOCOL_FEATURES, NULL, 0, NULL, 0, &r);
    uint64_t pf = r.p.u64 & (BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
                             BIT(VHOST_USER_PROTOCOL_F_CONFIG));
    request(VHOST_USER_SET_PROTOCOL_FEATURES, &pf, 8, NULL, 0, NULL);
    protocol_features = pf;
    if (nq > 1) {
        request(VHOST_USER_GET_QUEUE_NUM, NULL, 0, NULL, 0, &r);
        if (r.p.u64 < nq) {
            fprintf(stderr, "vu-load: back-end has %llu queues\n", (unsigned long long)r.p.u64);
            return 1;
        }
    }
    struct vhost_user_config cfg = {.offset = 0, .size = 8};
    request(VHOST_USER_GET_CONFIG, &cfg, 12 + 8, NULL, 0, &r);
    uint64_t capacity;
    memcpy(&capacity, r.p.config.payload, 8);
    if (capacity < bs / 512) {
        fprintf(stderr, "vu-load: disk too small\n");
        return 1;
    }
    request(VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL);
    request(VHOST_USER_SET_FEATURES, &want, 8, NULL, 0, NULL);

    /* Per queue: rings, headers and statuses, then qd buffers of bs bytes. */
    size_t qregion = ((size_t)OFF_DATA + (size_t)qd * bs + (1u << 20) - 1) & ~(size_t)((1u << 20) - 1);
    size_t memsize = qregion * nq;
    int memfd = memfd_create("vu-load", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, (off_t)memsize) < 0)
        die("memfd");
    uint8_t *mem = mmap(NULL, memsize, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    if (mem == MAP_FAILED)
        die("mmap");
    struct vhost_user_mem mt = {.nregions = 1};
    mt.regions[0] = (struct vhost_user_region){0, memsize, (uint64_t)(uintptr_t)mem, 0};
    request(VHOST_USER_SET_MEM_TABLE, &mt, 8 + sizeof(mt.regions[0]), &memfd, 1, NULL);

    static struct qctx q[MAX_Q];
    for (unsigned i = 0; i < nq; i++) {
        uint64_t blocks = capacity / (BS / 512), span = bs / BS;
        q[i] = (struct qctx){.idx = i, .base = mem + qregion * i, .gpa = (uint64_t)qregion * i,
                             .capacity_blocks = blocks, .write = write_mode, .qd = qd, .bs = bs,
                             .sequential = sequential, .poll = poll_mode, .next_blk = blocks / nq * i / span * span,
                             .seconds = seconds, .seed = 1234 + i};
        q[i].kick = eventfd(0, EFD_CLOEXEC);
        q[i].call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct vhost_user_state num = {i, QSIZE}, base = {i, 0};
        request(VHOST_USER_SET_VRING_NUM, &num, sizeof(num), NULL, 0, NULL);
        request(VHOST_USER_SET_VRING_BASE, &base, sizeof(base), NULL, 0, NULL);
        uint64_t uva = (uint64_t)(uintptr_t)q[i].base;
        struct vhost_user_addr a = {.index = i, .desc = uva + OFF_DESC, .used = uva + OFF_USED,
                                    .avail = uva + OFF_AVAIL};
        request(VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL);
        uint64_t idx = i;
        request(VHOST_USER_SET_VRING_CALL, &idx, 8, &q[i].call, 1, NULL);
        request(VHOST_USER_SET_VRING_KICK, &idx, 8, &q[i].kick, 1, NULL);
        struct vhost_user_state en = {i, 1};
        request(VHOST_USER_SET_VRING_ENABLE, &en, sizeof(en), NULL, 0, NULL);
    }
    if (shrink)
        return shrink_and_kick(&q[0], memfd);
    pthread_t th[MAX_Q];
    double t = now_s();
    for (unsigned i = 0; i < nq; i++)
        pthread_create(&th[i], NULL, run_queue, &q[i]);
    for (unsigned i = 0; i < nq; i++)
        pthread_join(th[i], NULL);
    t = now_s() - t;
    size_t n = 0;
    unsigned long errors = 0;
    for (unsigned i = 0; i < nq; i++) {
        n += q[i].nlat;
        errors += q[i].errors;
    }
    uint32_t *all = malloc((n ? n : 1) * sizeof(*all));
    size_t k = 0;
    for (unsigned i = 0; i < nq; i++) {
        memcpy(all + k, q[i].lat_ns, q[i].nlat * sizeof(*all));
        k += q[i].nlat;
        free(q[i].lat_ns);
    }
    qsort(all, n, sizeof(*all), cmp_u32);
    printf("iops=%.0f p50_us=%.1f p99_us=%.1f ios=%zu errors=%lu\n", n / t, n ? all[n / 2] / 1e3 : 0,
           n ? all[(size_t)(n * 0.99)] / 1e3 : 0, n, errors);
    /* Stop the rings cleanly so the back-end is ready for the next run. */
    for (unsigned i = 0; i < nq; i++) {
        struct vhost_user_state st = {i, 0};
        request(VHOST_USER_GET_VRING_BASE, &st, sizeof(st), NULL, 0, &r);
    }
    close(sock);
    free(all);
    return errors ? 1 : 0;
}

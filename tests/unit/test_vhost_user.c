/* The vhost-user back-end, driven the way a front-end would: messages go
 * straight into vu_backend_handle() (the socket layer is tested apart, and
 * once end to end), guest RAM is a real memfd the test maps as "the
 * front-end" and passes by fd.  The device model is a stub that records
 * which queues the back-end starts and stops. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "eventloop/event_loop.h"
#include "vhost_user/backend.h"
#include "vhost_user/msg.h"
#include "vhost_user/protocol.h"
#include "vhost_user/requests.h"
#include "vhost_user/sigbus_guard.h"
#include "virtio/virtio.h"
#include "stub_dev.h"

#define NQ       STUB_NQ
#define QMAX     STUB_QMAX
#define CFG_LEN  STUB_CFG_LEN
#define QSZ      256
#define RAM_SIZE 0x10000u
#define RAM_GPA  0x40000000ULL
#define RAM_NAME "vu-test-ram"

/* What the stub's queue_stop is to report as the next avail index of
 * queue q: far from any base a test sets, so a reply carrying it is
 * unmistakable. */
#define STOP_BASE 0x4321u

#define F_DEV         STUB_F_DEV
#define HOST_FEATURES STUB_HOST_FEATURES
#define F_PROTO       BIT(30)

/* Protocol feature bits from the vhost-user spec, written out here rather
 * than taken from protocol.h so the numbering is checked. */
#define PF_MQ           BIT(0)
#define PF_LOG_SHMFD    BIT(1)
#define PF_REPLY_ACK    BIT(3)
#define PF_CONFIG       BIT(9)
#define PF_RESET_DEVICE BIT(13)
#define PF_ALL          (PF_MQ | PF_REPLY_ACK | PF_CONFIG | PF_RESET_DEVICE)

#define V      VHOST_USER_VERSION
#define V_ACK  (VHOST_USER_VERSION | VHOST_USER_NEED_REPLY)

/* Queue q's rings, as offsets into RAM: each queue gets 16 KiB. */
#define DESC_OFF(q)  ((q) * 0x4000u)
#define AVAIL_OFF(q) (DESC_OFF(q) + 0x1000u)
#define USED_OFF(q)  (DESC_OFF(q) + 0x2000u)

/* ---- Fixture ------------------------------------------------------------ */

struct fx {
    struct stub_dev s;
    struct event_loop loop;
    struct vu_backend b;
    char dir[64], path[96];
    int memfd;                 /* the front-end's guest RAM */
    uint8_t *ram;              /* ... as the front-end maps it */
    struct vhost_user_msg m, reply;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    stub_dev_init(&f->s);
    f->s.vu = &f->b;
    f->s.stop_base = STOP_BASE;

    /* The real init, for the transport callbacks (notify, broken) it
     * installs; its socket lives in a private directory. */
    strcpy(f->dir, "/tmp/vu-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/sock", f->dir);
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    char err[128] = "";
    if (vu_backend_init(&f->b, &f->s.d, &f->loop, f->path, err, sizeof(err)) < 0)
        fail_msg("vu_backend_init: %s", err);

    f->memfd = memfd_create(RAM_NAME, MFD_CLOEXEC);
    assert_true(f->memfd >= 0);
    assert_int_equal(ftruncate(f->memfd, RAM_SIZE), 0);
    f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
    assert_true(f->ram != MAP_FAILED);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    vu_backend_destroy(&f->b);
    unsigned running = stub_dev_running(&f->s);
    struct stub_dev s = f->s;
    unsigned maps = count_memfd_maps(RAM_NAME);
    event_loop_destroy(&f->loop);
    munmap(f->ram, RAM_SIZE);
    close(f->memfd);
    unlink(f->path);
    int rm = rmdir(f->dir);
    free(f);
    /* Checked after freeing so a failure here leaks nothing under ASan. */
    assert_int_equal(rm, 0);
    assert_int_equal(running, 0);
    assert_int_equal(maps, 1);   /* only ours: the back-end unmapped its own */
    stub_dev_check(&s);
    return 0;
}

/* ---- Front-end side ----------------------------------------------------- */

static void assert_closed(int fd)
{
    assert_int_equal(fcntl(fd, F_GETFD), -1);
    assert_int_equal(errno, EBADF);
}

static void assert_open(int fd)
{
    assert_true(fcntl(fd, F_GETFD) >= 0);
}

static int new_eventfd(void)
{
    int fd = eventfd(0, EFD_CLOEXEC);
    assert_true(fd >= 0);
    return fd;
}

static int dup_ram(struct fx *f)
{
    int fd = fcntl(f->memfd, F_DUPFD_CLOEXEC, 0);
    assert_true(fd >= 0);
    return fd;
}

static uint64_t uva(struct fx *f, uint64_t off)
{
    return (uint64_t)(uintptr_t)f->ram + off;
}

/* Sends f->m as prepared (header included) with fds; the reply, if any,
 * is in f->reply. */
static int run(struct fx *f, const int *fds, unsigned nfds)
{
    int copy[VHOST_USER_MAX_FDS + 1] = {0};
    assert_true(nfds <= VHOST_USER_MAX_FDS + 1);
    if (nfds)
        memcpy(copy, fds, nfds * sizeof(int));
    memset(&f->reply, 0xEE, sizeof(f->reply));
    int r = vu_backend_handle(&f->b, &f->m, copy, nfds, &f->reply);
    stub_dev_check(&f->s);
    return r;
}

static void prep(struct fx *f, uint32_t req, uint32_t flags, uint32_t size)
{
    memset(&f->m, 0, sizeof(f->m));
    f->m.hdr = (struct vhost_user_hdr){req, flags, size};
}

static int req_u64(struct fx *f, uint32_t req, uint32_t flags, uint64_t v)
{
    prep(f, req, flags, 8);
    f->m.p.u64 = v;
    return run(f, NULL, 0);
}

static int req_none(struct fx *f, uint32_t req, uint32_t flags)
{
    prep(f, req, flags, 0);
    return run(f, NULL, 0);
}

static int req_state(struct fx *f, uint32_t req, uint32_t flags, uint32_t index, uint32_t num)
{
    prep(f, req, flags, sizeof(struct vhost_user_state));
    f->m.p.state = (struct vhost_user_state){index, num};
    return run(f, NULL, 0);
}

/* fd < 0: none attached. */
static int req_fd(struct fx *f, uint32_t req, uint32_t flags, uint64_t v, int fd)
{
    prep(f, req, flags, 8);
    f->m.p.u64 = v;
    return run(f, &fd, fd >= 0 ? 1 : 0);
}

static int req_addr(struct fx *f, uint32_t flags, uint32_t index, uint64_t desc, uint64_t avail,
                    uint64_t used)
{
    prep(f, VHOST_USER_SET_VRING_ADDR, flags, sizeof(struct vhost_user_addr));
    f->m.p.addr = (struct vhost_user_addr){.index = index, .desc = desc, .avail = avail, .used = used};
    return run(f, NULL, 0);
}

static int req_config(struct fx *f, uint32_t req, uint32_t off, uint32_t size, uint32_t hdr_size)
{
    prep(f, req, V_ACK, hdr_size);
    f->m.p.config.offset = off;
    f->m.p.config.size = size;
    return run(f, NULL, 0);
}

/* One region per entry of regs, each with its own dup of the RAM fd. */
static int req_mem(struct fx *f, uint32_t flags, const struct vhost_user_region *regs, unsigned n)
{
    prep(f, VHOST_USER_SET_MEM_TABLE, flags, 8 + n * (uint32_t)sizeof(struct vhost_user_region));
    f->m.p.mem.nregions = n;
    memcpy(f->m.p.mem.regions, regs, n * sizeof(*regs));
    int fds[VHOST_USER_MAX_REGIONS];
    for (unsigned i = 0; i < n; i++)
        fds[i] = dup_ram(f);
    int r = run(f, fds, n);
    for (unsigned i = 0; i < n; i++)
        assert_closed(fds[i]);
    return r;
}

static struct vhost_user_region whole_ram(struct fx *f)
{
    return (struct vhost_user_region){RAM_GPA, RAM_SIZE, uva(f, 0), 0};
}

/* With REPLY_ACK negotiated and NEED_REPLY set, a request without a reply
 * of its own answers 0 (done) or 1 (refused). */
static uint64_t ack_of(struct fx *f, int r)
{
    assert_int_equal(r, 1);
    assert_int_equal(f->reply.hdr.request, f->m.hdr.request);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, 8);
    return f->reply.p.u64;
}

#define ACKED(f, call)   assert_int_equal(ack_of((f), (call)), 0)
#define REFUSED(f, call) assert_int_equal(ack_of((f), (call)), 1)

/* Features with or without PROTOCOL_FEATURES, then REPLY_ACK & co. */
static void negotiate(struct fx *f, bool proto)
{
    assert_int_equal(req_none(f, VHOST_USER_GET_FEATURES, V), 1);
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, HOST_FEATURES | (proto ? F_PROTO : 0)), 0);
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
}

static void map_ram(struct fx *f)
{
    struct vhost_user_region r = whole_ram(f);
    ACKED(f, req_mem(f, V_ACK, &r, 1));
}

struct ring_fds {
    int kick, call;
};

/* Everything a ring needs but the final enable; the back-end keeps the
 * fds it is given. */
static struct ring_fds ring_setup(struct fx *f, unsigned q, uint16_t base)
{
    struct ring_fds rf = {new_eventfd(), new_eventfd()};
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, q, QSZ));
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, q, base));
    ACKED(f, req_addr(f, V_ACK, q, uva(f, DESC_OFF(q)), uva(f, AVAIL_OFF(q)), uva(f, USED_OFF(q))));
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, V_ACK, q, rf.call));
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_KICK, V_ACK, q, rf.kick));
    assert_open(rf.kick);
    assert_open(rf.call);
    return rf;
}

static struct ring_fds ring_up(struct fx *f, unsigned q, uint16_t base)
{
    struct ring_fds rf = ring_setup(f, q, base);
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, q, 1));
    return rf;
}

/* ---- Features ------------------------------------------------------------ */

static void get_features(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_none(f, VHOST_USER_GET_FEATURES, V), 1);
    assert_int_equal(f->reply.hdr.request, VHOST_USER_GET_FEATURES);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, 8);
    assert_int_equal(f->reply.p.u64, HOST_FEATURES | F_PROTO);
}

static void set_features(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, HOST_FEATURES | F_PROTO), 0);
    assert_int_equal(f->b.features, HOST_FEATURES | F_PROTO);
    /* The device sees only its own bits, not the transport's. */
    assert_int_equal(f->s.d.features, HOST_FEATURES);
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, BIT(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(f->s.d.features, BIT(VIRTIO_F_VERSION_1));
}

static void set_features_unoffered(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, HOST_FEATURES), 0);
    /* Without REPLY_ACK a refusal cannot be reported: nothing is sent,
     * NEED_REPLY or not, and the features stay as they were. */
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, HOST_FEATURES | BIT(F_DEV + 1)), 0);
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, BIT(63)), 0);
    assert_int_equal(f->s.d.features, HOST_FEATURES);
    assert_int_equal(f->b.features, HOST_FEATURES);

    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_REPLY_ACK), 0);
    REFUSED(f, req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, HOST_FEATURES | BIT(F_DEV + 1)));
    REFUSED(f, req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, ~0ULL));
    assert_int_equal(f->s.d.features, HOST_FEATURES);
    /* NEED_REPLY is the front-end's choice per message. */
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V, BIT(F_DEV + 1)), 0);
    ACKED(f, req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, BIT(F_DEV)));
    assert_int_equal(f->s.d.features, BIT(F_DEV));
    /* Payload of the wrong size. */
    prep(f, VHOST_USER_SET_FEATURES, V_ACK, 4);
    REFUSED(f, run(f, NULL, 0));
    assert_int_equal(f->s.d.features, BIT(F_DEV));
}

static void protocol_features(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_none(f, VHOST_USER_GET_PROTOCOL_FEATURES, V), 1);
    assert_int_equal(f->reply.hdr.request, VHOST_USER_GET_PROTOCOL_FEATURES);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, 8);
    assert_int_equal(f->reply.p.u64, PF_ALL);

    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_REPLY_ACK | PF_CONFIG), 0);
    assert_int_equal(f->b.protocol_features, PF_REPLY_ACK | PF_CONFIG);
    REFUSED(f, req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V_ACK, PF_ALL | PF_LOG_SHMFD));
    REFUSED(f, req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V_ACK, BIT(63)));
    assert_int_equal(f->b.protocol_features, PF_REPLY_ACK | PF_CONFIG);
    prep(f, VHOST_USER_SET_PROTOCOL_FEATURES, V_ACK, 16);
    f->m.p.u64 = PF_REPLY_ACK;
    REFUSED(f, run(f, NULL, 0));
    ACKED(f, req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V_ACK, PF_ALL));
    assert_int_equal(f->b.protocol_features, PF_ALL);
}

static void get_queue_num(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_none(f, VHOST_USER_GET_QUEUE_NUM, V), 1);
    assert_int_equal(f->reply.hdr.request, VHOST_USER_GET_QUEUE_NUM);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, 8);
    assert_int_equal(f->reply.p.u64, NQ);
}

/* ---- Device configuration space ------------------------------------------ */

static void get_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_config(f, VHOST_USER_GET_CONFIG, 0, CFG_LEN, 12 + CFG_LEN), 1);
    assert_int_equal(f->reply.hdr.request, VHOST_USER_GET_CONFIG);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, 12 + CFG_LEN);
    assert_int_equal(f->reply.p.config.offset, 0);
    assert_int_equal(f->reply.p.config.size, CFG_LEN);
    assert_memory_equal(f->reply.p.config.payload, f->s.config, CFG_LEN);

    assert_int_equal(req_config(f, VHOST_USER_GET_CONFIG, 5, 7, 12 + 7), 1);
    assert_int_equal(f->reply.hdr.size, 12 + 7);
    assert_int_equal(f->reply.p.config.offset, 5);
    assert_int_equal(f->reply.p.config.size, 7);
    assert_memory_equal(f->reply.p.config.payload, f->s.config + 5, 7);

    /* Empty reads at either end are in range. */
    assert_int_equal(req_config(f, VHOST_USER_GET_CONFIG, CFG_LEN, 0, 12), 1);
    assert_int_equal(f->reply.hdr.size, 12);
    assert_int_equal(req_config(f, VHOST_USER_GET_CONFIG, 0, 0, 12), 1);
}

static void get_config_refused(void **state)
{
    struct fx *f = *state;
    static const struct {
        uint32_t off, size, hdr_size;
    } bad[] = {
        {CFG_LEN + 1, 0, 12},                   /* offset past the end */
        {CFG_LEN, 1, 13},
        {8, CFG_LEN - 7, 12 + CFG_LEN - 7},     /* runs past the end */
        {0, CFG_LEN + 1, 12 + CFG_LEN + 1},
        {0xFFFFFFFFu, 16, 28},                  /* offset + size wraps */
        {0xFFFFFFF8u, 16, 28},
        {0, 0xFFFFFFF8u, 12 + 8},               /* size wraps the 12 + size check */
        {0, VHOST_USER_CONFIG_MAX + 1, 12 + VHOST_USER_CONFIG_MAX + 1},
        {0, 300, 12 + 300},
        {0, 4, 12 + 5},                         /* hdr.size != 12 + size */
        {0, 4, 12 + 3},
        {0, 4, 12},
        {0, 0, 8},                              /* shorter than the fixed part */
        {0, 0, 0},
        {0, 4, sizeof(union vhost_user_payload) + 1},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = req_config(f, VHOST_USER_GET_CONFIG, bad[i].off, bad[i].size, bad[i].hdr_size);
        if (r != -1)
            fail_msg("GET_CONFIG #%u (offset %u size %u hdr.size %u): %d, not refused", i, bad[i].off,
                     bad[i].size, bad[i].hdr_size, r);
    }
    /* The device was never asked for bytes it does not have. */
    assert_int_equal(f->s.config_oob, 0);
}

static void set_config(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    prep(f, VHOST_USER_SET_CONFIG, V_ACK, 12 + 4);
    f->m.p.config = (struct vhost_user_config){.offset = 6, .size = 4, .payload = {1, 2, 3, 4}};
    ACKED(f, run(f, NULL, 0));
    static const uint8_t want[4] = {1, 2, 3, 4};
    assert_memory_equal(f->s.config + 6, want, 4);
    REFUSED(f, req_config(f, VHOST_USER_SET_CONFIG, CFG_LEN - 3, 4, 12 + 4));
    REFUSED(f, req_config(f, VHOST_USER_SET_CONFIG, 0, 4, 12 + 8));
    REFUSED(f, req_config(f, VHOST_USER_SET_CONFIG, 0, 0xFFFFFFF8u, 12 + 8));
    assert_int_equal(f->s.config[CFG_LEN - 1], 0xA0 + CFG_LEN - 1);
}

/* ---- Memory table ------------------------------------------------------------ */

static void mem_table(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    assert_int_equal(count_memfd_maps(RAM_NAME), 1);
    map_ram(f);
    assert_int_equal(f->b.mem.nregions, 1);
    assert_int_equal(count_memfd_maps(RAM_NAME), 2);
    const struct vu_region *r = &f->b.mem.regions[0];
    assert_int_equal(r->uva, uva(f, 0));
    assert_int_equal(r->size, RAM_SIZE);
    assert_non_null(r->host);
    /* Its own mapping of the same memory, not the front-end's pointer. */
    assert_ptr_not_equal(r->host, f->ram);
    f->ram[0x1234] = 0x5A;
    assert_int_equal(r->host[0x1234], 0x5A);
    r->host[RAM_SIZE - 1] = 0xA5;
    assert_int_equal(f->ram[RAM_SIZE - 1], 0xA5);
    /* Guest-physical addresses reach the same bytes. */
    assert_int_equal(f->b.mem.map.count, 1);
    assert_int_equal(f->b.mem.map.r[0].gpa, RAM_GPA);
    assert_ptr_equal(f->b.mem.map.r[0].host, r->host);

    /* A new table replaces the old one, mappings and all. */
    struct vhost_user_region two[2] = {
        {RAM_GPA, 0x8000, uva(f, 0), 0},
        {RAM_GPA + 0x100000, 0x8000, uva(f, 0x8000), 0x8000},
    };
    ACKED(f, req_mem(f, V_ACK, two, 2));
    assert_int_equal(f->b.mem.nregions, 2);
    assert_int_equal(count_memfd_maps(RAM_NAME), 3);
    assert_int_equal(f->b.mem.regions[1].uva, uva(f, 0x8000));
    assert_int_equal(f->b.mem.regions[1].host[0x8000 - 1], 0xA5);
    assert_int_equal(f->b.mem.regions[0].host[0x1234], 0x5A);
}

static void mem_table_refused(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    map_ram(f);
    struct vu_region before = f->b.mem.regions[0];
    struct memmap map_before = f->b.mem.map;
    f->ram[0x100] = 0x77;

    struct vhost_user_region good = whole_ram(f);
    struct vhost_user_region nine[9];
    for (unsigned i = 0; i < 9; i++)
        nine[i] = (struct vhost_user_region){RAM_GPA + i * 0x1000000ULL, 0x1000, uva(f, 0), 0};

    /* Region count, payload size and fd count must all agree. */
    for (unsigned nfds = 0; nfds <= 3; nfds++) {
        if (nfds == 1)
            continue;
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 32);
        f->m.p.mem.nregions = 1;
        f->m.p.mem.regions[0] = good;
        int fds[3];
        for (unsigned i = 0; i < nfds; i++)
            fds[i] = dup_ram(f);
        REFUSED(f, run(f, fds, nfds));
        for (unsigned i = 0; i < nfds; i++)
            assert_closed(fds[i]);
    }
    for (unsigned nfds = 0; nfds <= 1; nfds++) {
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8);
        int fd = dup_ram(f);
        REFUSED(f, run(f, &fd, nfds));
        if (nfds)
            assert_closed(fd);
        else
            close(fd);
    }
    {
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 9 * 32);
        f->m.p.mem.nregions = 9;
        /* The payload holds 8: the ninth region would come from beyond it. */
        memcpy(f->m.p.mem.regions, nine, sizeof(f->m.p.mem.regions));
        int fds[9];
        for (unsigned i = 0; i < 9; i++)
            fds[i] = dup_ram(f);
        REFUSED(f, run(f, fds, 9));
        for (unsigned i = 0; i < 9; i++)
            assert_closed(fds[i]);
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 8 * 32);
        f->m.p.mem.nregions = 9;
        memcpy(f->m.p.mem.regions, nine, sizeof(f->m.p.mem.regions));
        for (unsigned i = 0; i < 8; i++)
            fds[i] = dup_ram(f);
        REFUSED(f, run(f, fds, 8));
        for (unsigned i = 0; i < 8; i++)
            assert_closed(fds[i]);
    }
    static const int size_delta[] = {-1, 1, -32, 32, -8};
    for (unsigned i = 0; i < sizeof(size_delta) / sizeof(size_delta[0]); i++) {
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, (uint32_t)(8 + 32 + size_delta[i]));
        f->m.p.mem.nregions = 1;
        f->m.p.mem.regions[0] = good;
        int fd = dup_ram(f);
        REFUSED(f, run(f, &fd, 1));
        assert_closed(fd);
    }

    /* Bad regions, alone or after a good one (which must then be undone). */
    struct vhost_user_region bad[] = {
        {RAM_GPA, 0, uva(f, 0), 0},                                   /* empty */
        {RAM_GPA, RAM_SIZE, uva(f, 0), UINT64_MAX - 0xFFF},           /* mmap_offset wraps */
        {RAM_GPA, UINT64_MAX - 0xFFF, uva(f, 0), 0x2000},             /* size + offset wraps */
        {RAM_GPA, RAM_SIZE, UINT64_MAX - 0xFFF, 0},                   /* uva range wraps */
        {UINT64_MAX - 0xFFF, RAM_SIZE, uva(f, 0), 0},                 /* gpa range wraps */
        {RAM_GPA + 0x8000, RAM_SIZE, uva(f, 0), 0},                   /* overlaps the good one */
        {RAM_GPA, 1ULL << 62, uva(f, 0), 0},                          /* cannot be mapped */
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool overlap_only = i == 5;
        if (!overlap_only)
            REFUSED(f, req_mem(f, V_ACK, &bad[i], 1));
        struct vhost_user_region pair[2] = {{RAM_GPA + 0x40000000ULL, 0x1000, uva(f, 0x1000), 0x1000}, bad[i]};
        if (overlap_only)
            pair[0] = good;
        REFUSED(f, req_mem(f, V_ACK, pair, 2));
        assert_int_equal(count_memfd_maps(RAM_NAME), 2);
    }
    /* An fd that cannot be mapped at all. */
    {
        prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 32);
        f->m.p.mem.nregions = 1;
        f->m.p.mem.regions[0] = good;
        int fd = new_eventfd();
        REFUSED(f, run(f, &fd, 1));
        assert_closed(fd);
    }

    /* The table in force is the first one, untouched. */
    assert_int_equal(f->b.mem.nregions, 1);
    assert_memory_equal(&f->b.mem.regions[0], &before, sizeof(before));
    assert_memory_equal(&f->b.mem.map, &map_before, sizeof(map_before));
    assert_int_equal(f->b.mem.regions[0].host[0x100], 0x77);
    assert_int_equal(count_memfd_maps(RAM_NAME), 2);
}

/* ---- Rings --------------------------------------------------------------------- */

static void ring_bring_up(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    /* Recognisable values in the front-end's view of the rings. */
    f->ram[AVAIL_OFF(1) + 2] = 0x42;
    f->ram[USED_OFF(1) + 2] = 0x24;
    struct ring_fds rf = ring_setup(f, 1, 7);
    /* With PROTOCOL_FEATURES, rings start disabled. */
    assert_int_equal(f->s.start_calls, 0);
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 1, 1));
    assert_int_equal(f->s.start_calls, 1);
    assert_int_equal(f->s.starts[1], 1);
    assert_int_equal(f->s.starts[0], 0);
    assert_true(f->b.q[1].started);

    const struct vq *vq = &f->s.vq_at_start[1];
    const uint8_t *host = f->b.mem.regions[0].host;
    assert_ptr_equal(vq->desc, host + DESC_OFF(1));
    assert_ptr_equal(vq->avail, host + AVAIL_OFF(1));
    assert_ptr_equal(vq->used, host + USED_OFF(1));
    assert_int_equal(vq->avail[2], 0x42);
    assert_int_equal(vq->used[2], 0x24);
    assert_int_equal(vq->size, QSZ);
    assert_int_equal(vq->last_avail, 7);
    assert_int_equal(vq->used_idx, 7);
    assert_true(vq->event_idx);
    assert_ptr_equal(vq->mem, &f->b.mem.map);
    /* The device got the features without the transport's bit 30. */
    assert_int_equal(f->s.features_at_start, HOST_FEATURES);
    /* Kicks are read without blocking the queue's thread. */
    assert_int_equal(f->s.kick_fd[1], rf.kick);
    assert_true(fcntl(rf.kick, F_GETFL) & O_NONBLOCK);

    /* Interrupts go to the call fd, errors to the err fd. */
    f->s.d.notify(f->s.d.transport, 1);
    uint64_t v = 0;
    assert_int_equal(read(rf.call, &v, 8), 8);
    assert_int_equal(v, 1);
    int err_fd = new_eventfd();
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_ERR, V_ACK, 1, err_fd));
    f->s.d.broken(f->s.d.transport, "test");
    assert_int_equal(read(err_fd, &v, 8), 8);
    assert_int_equal(v, 1);

    /* Enabling again, or a fresh call fd, does not restart it. */
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 1, 1));
    int call2 = new_eventfd();
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, V_ACK, 1, call2));
    assert_closed(rf.call);
    assert_int_equal(f->s.start_calls, 1);

    /* Disabling stops it; enabling resumes where the device stopped. */
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 1, 0));
    assert_int_equal(f->s.stops[1], 1);
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 1, 1));
    assert_int_equal(f->s.starts[1], 2);
    assert_int_equal(f->s.vq_at_start[1].last_avail, STOP_BASE + 1);

    /* A disconnect stops it and lets go of every fd. */
    vu_backend_reset(&f->b);
    assert_int_equal(f->s.stops[1], 2);
    assert_closed(rf.kick);
    assert_closed(call2);
    assert_closed(err_fd);
    assert_int_equal(f->b.mem.nregions, 0);
    assert_int_equal(count_memfd_maps(RAM_NAME), 1);
    assert_int_equal(f->b.features, 0);
    assert_int_equal(f->b.protocol_features, 0);
    assert_int_equal(f->s.d.features, 0);
}

static void ring_without_protocol_features(void **state)
{
    struct fx *f = *state;
    negotiate(f, false);
    map_ram(f);
    /* No SET_VRING_ENABLE in this dialect: the kick starts the ring. */
    ring_setup(f, 0, 0);
    assert_int_equal(f->s.starts[0], 1);
    assert_int_equal(f->s.start_calls, 1);
    assert_ptr_equal(f->s.vq_at_start[0].desc, f->b.mem.regions[0].host + DESC_OFF(0));
}

static void ring_with_mmap_offset(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    /* The region starts 0x3000 into the file and into our mapping. */
    struct vhost_user_region r = {RAM_GPA, RAM_SIZE - 0x3000, uva(f, 0x3000), 0x3000};
    ACKED(f, req_mem(f, V_ACK, &r, 1));
    f->ram[AVAIL_OFF(1)] = 0x99;
    ring_up(f, 1, 0);
    assert_int_equal(f->s.starts[1], 1);
    const struct vq *vq = &f->s.vq_at_start[1];
    assert_ptr_equal(vq->desc, f->b.mem.regions[0].host + DESC_OFF(1) - 0x3000);
    assert_int_equal(vq->avail[0], 0x99);
    /* Guest-physical 0 of the region is file offset 0x3000. */
    assert_int_equal(f->b.mem.map.r[0].host[AVAIL_OFF(1) - 0x3000], 0x99);
}

static void ring_outside_memory(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    /* Before any memory table there is nothing to start on. */
    ring_setup(f, 0, 0);
    (void)req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1);
    assert_int_equal(f->s.start_calls, 0);
    /* Disabled again, so the table alone does not start it (see
     * ring_before_table_starts_with_table). */
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 0));

    map_ram(f);
    assert_int_equal(f->s.start_calls, 0);
    static const struct {
        uint64_t desc, avail, used;
    } bad[] = {
        {RAM_SIZE - 0x800, AVAIL_OFF(0), USED_OFF(0)},   /* desc table runs off the end */
        {DESC_OFF(0), RAM_SIZE - 6, USED_OFF(0)},         /* avail ring does */
        {DESC_OFF(0), AVAIL_OFF(0), RAM_SIZE - 8},        /* used ring does */
        {RAM_SIZE, AVAIL_OFF(0), USED_OFF(0)},
        {DESC_OFF(0) + 8, AVAIL_OFF(0), USED_OFF(0)},    /* misaligned */
        {DESC_OFF(0), AVAIL_OFF(0) + 1, USED_OFF(0)},
        {DESC_OFF(0), AVAIL_OFF(0), USED_OFF(0) + 2},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ACKED(f, req_addr(f, V_ACK, 0, uva(f, bad[i].desc), uva(f, bad[i].avail), uva(f, bad[i].used)));
        REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
        assert_int_equal(f->s.start_calls, 0);
    }
    /* Below the region, and far away (where uva - region start wraps). */
    ACKED(f, req_addr(f, V_ACK, 0, uva(f, 0) - 0x1000, uva(f, AVAIL_OFF(0)), uva(f, USED_OFF(0))));
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    ACKED(f, req_addr(f, V_ACK, 0, 0, uva(f, AVAIL_OFF(0)), uva(f, USED_OFF(0))));
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    ACKED(f, req_addr(f, V_ACK, 0, UINT64_MAX & ~15ULL, uva(f, AVAIL_OFF(0)), uva(f, USED_OFF(0))));
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    assert_int_equal(f->s.start_calls, 0);

    /* Fixed up, the same ring starts. */
    ACKED(f, req_addr(f, V_ACK, 0, uva(f, DESC_OFF(0)), uva(f, AVAIL_OFF(0)), uva(f, USED_OFF(0))));
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    assert_int_equal(f->s.starts[0], 1);
}

/* QEMU sends the table first, but the protocol does not require it: a ring
 * that is ready except for memory starts when the table arrives. */
static void ring_before_table_starts_with_table(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    ring_setup(f, 0, 0);
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    assert_int_equal(f->s.start_calls, 0);
    map_ram(f);
    assert_int_equal(f->s.start_calls, 1);
    assert_int_equal(f->s.starts[0], 1);
}

static void get_vring_base(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    /* Not started: the base as set. */
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, 0, 0x1111));
    assert_int_equal(req_state(f, VHOST_USER_GET_VRING_BASE, V, 0, 0), 1);
    assert_int_equal(f->reply.hdr.request, VHOST_USER_GET_VRING_BASE);
    assert_int_equal(f->reply.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(f->reply.hdr.size, sizeof(struct vhost_user_state));
    assert_int_equal(f->reply.p.state.index, 0);
    assert_int_equal(f->reply.p.state.num, 0x1111);

    struct ring_fds rf = ring_up(f, 1, 3);
    assert_int_equal(f->s.starts[1], 1);
    /* Even with NEED_REPLY, the answer is the state, not an ack. */
    assert_int_equal(req_state(f, VHOST_USER_GET_VRING_BASE, V_ACK, 1, 0), 1);
    assert_int_equal(f->reply.hdr.size, sizeof(struct vhost_user_state));
    assert_int_equal(f->reply.p.state.index, 1);
    assert_int_equal(f->reply.p.state.num, STOP_BASE + 1);
    assert_int_equal(f->s.stops[1], 1);
    assert_false(f->b.q[1].started);
    /* The kick fd goes with the ring. */
    assert_closed(rf.kick);

    /* The ring may be reconfigured now, and restarts on the next kick
     * where the device left off. */
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 1, QSZ / 2));
    int kick = new_eventfd();
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_KICK, V_ACK, 1, kick));
    assert_int_equal(f->s.starts[1], 2);
    assert_int_equal(f->s.vq_at_start[1].last_avail, STOP_BASE + 1);
    assert_int_equal(f->s.vq_at_start[1].size, QSZ / 2);
    /* Stopping twice asks the device once. */
    assert_int_equal(req_state(f, VHOST_USER_GET_VRING_BASE, V, 1, 0), 1);
    assert_int_equal(req_state(f, VHOST_USER_GET_VRING_BASE, V, 1, 0), 1);
    assert_int_equal(f->reply.p.state.num, STOP_BASE + 1);
    assert_int_equal(f->s.stops[1], 2);
}

static void ring_reconfig_while_running(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    ring_up(f, 0, 0);
    /* A running ring's geometry is the device's until it is stopped. */
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 0, QSZ / 2));
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, 0, 5));
    REFUSED(f, req_addr(f, V_ACK, 0, uva(f, DESC_OFF(1)), uva(f, AVAIL_OFF(1)), uva(f, USED_OFF(1))));
    assert_int_equal(f->b.q[0].num, QSZ);
    assert_int_equal(f->b.q[0].base, 0);
    assert_int_equal(f->b.q[0].addr.desc, uva(f, DESC_OFF(0)));
    assert_int_equal(f->s.start_calls, 1);
    /* A new kick fd restarts it on the new fd. */
    int kick = new_eventfd();
    int old = f->s.kick_fd[0];
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_KICK, V_ACK, 0, kick));
    assert_closed(old);
    assert_int_equal(f->s.stops[0], 1);
    assert_int_equal(f->s.starts[0], 2);
    assert_int_equal(f->s.kick_fd[0], kick);
    assert_int_equal(f->s.vq_at_start[0].last_avail, STOP_BASE);
}

static void mem_table_while_running(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    ring_up(f, 0, 9);
    ring_up(f, 1, 0);
    /* The same RAM mapped anew: both rings move to the new mapping,
     * keeping their place. */
    struct vhost_user_region r = whole_ram(f);
    ACKED(f, req_mem(f, V_ACK, &r, 1));
    assert_int_equal(count_memfd_maps(RAM_NAME), 2);
    for (unsigned q = 0; q < NQ; q++) {
        assert_int_equal(f->s.stops[q], 1);
        assert_int_equal(f->s.starts[q], 2);
        assert_ptr_equal(f->s.vq_at_start[q].desc, f->b.mem.regions[0].host + DESC_OFF(q));
        assert_int_equal(f->s.vq_at_start[q].last_avail, STOP_BASE + q);
    }
    /* A table without queue 1's rings leaves it stopped. */
    r.memory_size = 0x4000;
    ACKED(f, req_mem(f, V_ACK, &r, 1));
    assert_int_equal(f->s.starts[0], 3);
    assert_int_equal(f->s.stops[1], 2);
    assert_int_equal(f->s.starts[1], 2);
    assert_false(f->b.q[1].started);
}

static void bad_queue_index(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    static const uint32_t idx[] = {NQ, NQ + 1, VU_MAX_QUEUES - 1, VU_MAX_QUEUES, 0xFF, 0x100, 0xFFFFFFFFu};
    for (unsigned i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
        REFUSED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, idx[i], QSZ));
        REFUSED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, idx[i], 0));
        REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, idx[i], 1));
        REFUSED(f, req_addr(f, V_ACK, idx[i], uva(f, 0), uva(f, 0x1000), uva(f, 0x2000)));
        assert_int_equal(req_state(f, VHOST_USER_GET_VRING_BASE, V, idx[i], 0), -1);
    }
    /* In the fd requests only the low byte is the index. */
    static const uint32_t fd_req[] = {VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
                                      VHOST_USER_SET_VRING_ERR};
    static const uint64_t fd_idx[] = {NQ, 0x7F, 0xFF};
    for (unsigned r = 0; r < 3; r++) {
        for (unsigned i = 0; i < 3; i++) {
            int fd = new_eventfd();
            REFUSED(f, req_fd(f, fd_req[r], V_ACK, fd_idx[i], fd));
            assert_closed(fd);
            REFUSED(f, req_fd(f, fd_req[r], V_ACK, fd_idx[i] | VHOST_USER_VRING_NOFD, -1));
        }
    }
    assert_int_equal(f->s.start_calls, 0);
    for (unsigned q = 0; q < VU_MAX_QUEUES; q++) {
        if (q >= NQ) {
            assert_int_equal(f->b.q[q].num, 0);
            assert_false(f->b.q[q].addr_set);
        }
        assert_int_equal(f->b.q[q].kick_fd, -1);
        assert_int_equal(f->b.q[q].call_fd, -1);
        assert_int_equal(f->b.q[q].err_fd, -1);
    }
}

static void bad_vring_num(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    static const uint32_t bad[] = {0, 3, 6, 100, 255, 257, QMAX * 2, VQ_MAX_SIZE, VQ_MAX_SIZE * 2,
                                   0x8000, 0x10000, 0x10000 | QSZ, 0x80000000u, 0xFFFFFFFFu};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t a = ack_of(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 0, bad[i]));
        if (a != 1)
            fail_msg("SET_VRING_NUM %u accepted", bad[i]);
        assert_int_equal(f->b.q[0].num, 0);
    }
    static const uint32_t good[] = {1, 2, 64, QMAX};
    for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        ACKED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 0, good[i]));
        assert_int_equal(f->b.q[0].num, good[i]);
    }
    /* A smaller queue_max is the limit, not VQ_MAX_SIZE. */
    f->s.d.queue_max = 64;
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 1, 128));
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 1, 64));
    f->s.d.queue_max = QMAX;
    /* Bases are 16-bit. */
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, 0, 0x10000));
    ACKED(f, req_state(f, VHOST_USER_SET_VRING_BASE, V_ACK, 0, 0xFFFF));
    assert_int_equal(f->b.q[0].base, 0xFFFF);
    /* Wrong payload sizes. */
    prep(f, VHOST_USER_SET_VRING_NUM, V_ACK, 4);
    REFUSED(f, run(f, NULL, 0));
    prep(f, VHOST_USER_SET_VRING_ADDR, V_ACK, sizeof(struct vhost_user_addr) - 8);
    REFUSED(f, run(f, NULL, 0));
    prep(f, VHOST_USER_SET_VRING_KICK, V_ACK, 4);
    f->m.p.u64 = VHOST_USER_VRING_NOFD;
    REFUSED(f, run(f, NULL, 0));
}

static void ring_fd_flags(void **state)
{
    struct fx *f = *state;
    negotiate(f, true);
    map_ram(f);
    static const uint32_t reqs[] = {VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_CALL,
                                    VHOST_USER_SET_VRING_ERR};
    for (unsigned r = 0; r < 3; r++) {
        /* NOFD with an fd attached anyway: refused, and the fd closed. */
        int fd = new_eventfd();
        REFUSED(f, req_fd(f, reqs[r], V_ACK, 0 | VHOST_USER_VRING_NOFD, fd));
        assert_closed(fd);
        /* Neither NOFD nor an fd. */
        REFUSED(f, req_fd(f, reqs[r], V_ACK, 0, -1));
        /* Two fds where one is expected. */
        int two[2] = {new_eventfd(), new_eventfd()};
        prep(f, reqs[r], V_ACK, 8);
        REFUSED(f, run(f, two, 2));
        assert_closed(two[0]);
        assert_closed(two[1]);
    }
    assert_int_equal(f->b.q[0].kick_fd, -1);
    assert_int_equal(f->b.q[0].call_fd, -1);
    assert_int_equal(f->b.q[0].err_fd, -1);

    /* Without a call or err fd the device just does not signal. */
    int call = new_eventfd();
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, V_ACK, 0, call));
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, V_ACK, VHOST_USER_VRING_NOFD, -1));
    assert_closed(call);
    assert_int_equal(f->b.q[0].call_fd, -1);
    f->s.d.notify(f->s.d.transport, 0);
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_ERR, V_ACK, VHOST_USER_VRING_NOFD, -1));
    f->s.d.broken(f->s.d.transport, "test");

    /* A kick with NOFD (polling) is not offered; it stops a running ring. */
    struct ring_fds rf = ring_up(f, 0, 0);
    assert_int_equal(f->s.starts[0], 1);
    REFUSED(f, req_fd(f, VHOST_USER_SET_VRING_KICK, V_ACK, VHOST_USER_VRING_NOFD, -1));
    assert_int_equal(f->s.stops[0], 1);
    assert_closed(rf.kick);
    assert_int_equal(f->b.q[0].kick_fd, -1);
}

/* ---- Malformed messages and fd ownership ------------------------------------------ */

static void bad_version(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    static const uint32_t bad[] = {0, 2, 3, VHOST_USER_REPLY, VHOST_USER_REPLY | 3};
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(req_none(f, VHOST_USER_GET_FEATURES, bad[i]), -1);
        assert_int_equal(req_none(f, VHOST_USER_GET_QUEUE_NUM, bad[i]), -1);
        assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, bad[i], HOST_FEATURES), 0);
        REFUSED(f, req_u64(f, VHOST_USER_SET_FEATURES, bad[i] | VHOST_USER_NEED_REPLY, HOST_FEATURES));
        assert_int_equal(f->s.d.features, 0);
        int fd = new_eventfd();
        REFUSED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, bad[i] | VHOST_USER_NEED_REPLY, 0, fd));
        assert_closed(fd);
        assert_int_equal(f->b.q[0].call_fd, -1);
        struct vhost_user_region r = whole_ram(f);
        REFUSED(f, req_mem(f, bad[i] | VHOST_USER_NEED_REPLY, &r, 1));
        assert_int_equal(f->b.mem.nregions, 0);
    }
    /* Unknown flag bits beside a good version are no reason to refuse. */
    assert_int_equal(req_u64(f, VHOST_USER_SET_FEATURES, V | 0x100, HOST_FEATURES), 0);
    assert_int_equal(f->s.d.features, HOST_FEATURES);
}

static void unknown_request(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    static const uint32_t reqs[] = {0, VHOST_USER_SET_LOG_BASE, VHOST_USER_SET_LOG_FD, 19, 23, 26, 33,
                                    35, 99, 0x7FFFFFFF, 0xFFFFFFFF};
    for (unsigned i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        REFUSED(f, req_u64(f, reqs[i], V_ACK, 0));
        assert_int_equal(req_u64(f, reqs[i], V, 0), 0);
        int fd = new_eventfd();
        REFUSED(f, req_fd(f, reqs[i], V_ACK, 0, fd));
        assert_closed(fd);
    }
}

/* Whatever the request, fds the back-end does not keep are closed: a
 * front-end that sends one too many must not leak it into us. */
static void fds_always_closed(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    for (uint32_t req = 0; req <= 40; req++) {
        for (unsigned version_ok = 0; version_ok < 2; version_ok++) {
            for (unsigned nfds = 1; nfds <= VHOST_USER_MAX_FDS; nfds += 7) {
                prep(f, req, version_ok ? V_ACK : 2 | VHOST_USER_NEED_REPLY, 8);
                int fds[VHOST_USER_MAX_FDS];
                for (unsigned i = 0; i < nfds; i++)
                    fds[i] = new_eventfd();
                /* A single fd for a fd request is kept (and checked apart). */
                bool kept = version_ok && nfds == 1 &&
                            (req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
                             req == VHOST_USER_SET_VRING_ERR);
                (void)run(f, fds, nfds);
                for (unsigned i = 0; i < nfds; i++) {
                    if (kept)
                        assert_open(fds[i]);
                    else if (fcntl(fds[i], F_GETFD) != -1)
                        fail_msg("request %u (version %s, %u fds): fd #%u left open", req,
                                 version_ok ? "ok" : "bad", nfds, i);
                }
                vu_backend_reset(&f->b);
                assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
                if (kept)
                    assert_closed(fds[0]);
            }
        }
    }
}

static void reset_requests(void **state)
{
    struct fx *f = *state;
    static const uint32_t reqs[] = {VHOST_USER_RESET_OWNER, VHOST_USER_RESET_DEVICE};
    for (unsigned i = 0; i < 2; i++) {
        negotiate(f, true);
        map_ram(f);
        struct ring_fds rf = ring_up(f, 0, 0);
        assert_int_equal(f->s.starts[0], i + 1);
        assert_int_equal(req_none(f, VHOST_USER_SET_OWNER, V), 0);
        assert_int_equal(req_none(f, reqs[i], V), 0);
        assert_int_equal(f->s.stops[0], i + 1);
        assert_closed(rf.kick);
        assert_closed(rf.call);
        assert_int_equal(f->b.mem.nregions, 0);
        assert_int_equal(count_memfd_maps(RAM_NAME), 1);
        assert_int_equal(f->b.features, 0);
        assert_int_equal(f->s.d.features, 0);
        assert_int_equal(f->b.q[0].num, 0);
        assert_false(f->b.q[0].addr_set);
        assert_false(f->b.q[0].enabled);
    }
}

/* ---- The socket layer ---------------------------------------------------------------- */

static void socket_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static bool same_file(int a, int b)
{
    struct stat sa, sb;
    assert_int_equal(fstat(a, &sa), 0);
    assert_int_equal(fstat(b, &sb), 0);
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static unsigned count_fds(void)
{
    unsigned n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) != -1;
    return n;
}

/* Raw bytes with one fd riding on them, as a broken front-end might send. */
static void send_with_fd(int sock, const void *buf, size_t len, int fd)
{
    char control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                        .msg_controllen = sizeof(control)};
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void msg_round_trip(void **state)
{
    (void)state;
    int sv[2];
    socket_pair(sv);
    static struct vhost_user_msg m, got;
    memset(&m, 0, sizeof(m));
    m.hdr = (struct vhost_user_hdr){VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 2 * 32};
    m.p.mem.nregions = 2;
    for (unsigned i = 0; i < 2; i++)
        m.p.mem.regions[i] = (struct vhost_user_region){0x1000u * i, 0x1000, 0xABC000u + i, 0x10u * i};
    int fds[2] = {new_eventfd(), new_eventfd()};
    assert_int_equal(vu_msg_send(sv[0], &m, fds, 2), 0);
    /* A message without payload or fds right behind it. */
    struct vhost_user_msg small = {.hdr = {VHOST_USER_GET_FEATURES, V, 0}};
    assert_int_equal(vu_msg_send(sv[0], &small, NULL, 0), 0);

    int rfds[VHOST_USER_MAX_FDS];
    unsigned n = 99;
    memset(&got, 0xEE, sizeof(got));
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), 0);
    assert_memory_equal(&got.hdr, &m.hdr, sizeof(m.hdr));
    assert_memory_equal(&got.p, &m.p, m.hdr.size);
    assert_int_equal(n, 2);
    for (unsigned i = 0; i < 2; i++) {
        assert_true(rfds[i] != fds[i]);
        assert_true(same_file(rfds[i], fds[i]));
        /* Received fds must not leak into programs we start. */
        assert_true(fcntl(rfds[i], F_GETFD) & FD_CLOEXEC);
        close(rfds[i]);
        close(fds[i]);
    }
    n = 99;
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), 0);
    assert_memory_equal(&got.hdr, &small.hdr, sizeof(small.hdr));
    assert_int_equal(n, 0);

    /* The header may arrive in pieces. */
    uint8_t raw[12 + 8];
    struct vhost_user_hdr h = {VHOST_USER_SET_FEATURES, V, 8};
    uint64_t v = 0x1122334455667788ULL;
    memcpy(raw, &h, 12);
    memcpy(raw + 12, &v, 8);
    assert_int_equal(write(sv[0], raw, 5), 5);
    assert_int_equal(write(sv[0], raw + 5, 10), 10);
    assert_int_equal(write(sv[0], raw + 15, 5), 5);
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), 0);
    assert_int_equal(got.hdr.request, VHOST_USER_SET_FEATURES);
    assert_int_equal(got.hdr.size, 8);
    assert_int_equal(got.p.u64, v);
    assert_int_equal(n, 0);

    /* The largest payload there is, both ways. */
    memset(&m, 0x3C, sizeof(m));
    m.hdr = (struct vhost_user_hdr){VHOST_USER_SET_CONFIG, V, sizeof(m.p)};
    assert_int_equal(vu_msg_send(sv[0], &m, NULL, 0), 0);
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), 0);
    assert_memory_equal(&got.p, &m.p, sizeof(m.p));
    /* ... and one byte more is refused at the sender. */
    m.hdr.size = sizeof(m.p) + 1;
    errno = 0;
    assert_int_equal(vu_msg_send(sv[0], &m, NULL, 0), -1);
    assert_int_equal(errno, EINVAL);

    close(sv[0]);
    close(sv[1]);
}

static void msg_oversized(void **state)
{
    (void)state;
    int sv[2];
    socket_pair(sv);
    unsigned before = count_fds();
    /* Announces a payload larger than any request's, with an fd riding on
     * it: the receiver must neither read past the union nor keep the fd. */
    struct vhost_user_hdr h = {VHOST_USER_SET_MEM_TABLE, V, sizeof(union vhost_user_payload) + 1};
    int fd = new_eventfd();
    send_with_fd(sv[0], &h, sizeof(h), fd);
    close(fd);
    static uint8_t junk[4096];
    assert_int_equal(write(sv[0], junk, sizeof(junk)), sizeof(junk));

    static struct vhost_user_msg got;
    int rfds[VHOST_USER_MAX_FDS];
    unsigned n = 99;
    errno = 0;
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), -1);
    assert_int_equal(errno, EPROTO);
    assert_int_equal(n, 0);
    assert_int_equal(count_fds(), before);

    /* A size that wraps anything it is added to. */
    close(sv[0]);
    close(sv[1]);
    socket_pair(sv);
    h.size = 0xFFFFFFFFu;
    assert_int_equal(write(sv[0], &h, sizeof(h)), sizeof(h));
    assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), -1);
    close(sv[0]);
    close(sv[1]);
}

static void msg_peer_closes(void **state)
{
    (void)state;
    static struct vhost_user_msg got;
    int rfds[VHOST_USER_MAX_FDS];
    unsigned n;
    unsigned before = count_fds();
    struct vhost_user_hdr h = {VHOST_USER_SET_FEATURES, V, 8};
    /* Mid-header, mid-payload (with an fd in flight), and before anything. */
    for (unsigned cut = 0; cut < 3; cut++) {
        int sv[2];
        socket_pair(sv);
        if (cut == 0) {
            assert_int_equal(write(sv[0], &h, 7), 7);
        } else if (cut == 1) {
            /* 3 of the 8 payload bytes announced. */
            uint8_t wire[12 + 3];
            memcpy(wire, &h, 12);
            memset(wire + 12, 0xAB, 3);
            int fd = new_eventfd();
            send_with_fd(sv[0], wire, sizeof(wire), fd);
            close(fd);
        }
        close(sv[0]);
        n = 99;
        assert_int_equal(vu_msg_recv(sv[1], &got, rfds, &n), -1);
        assert_int_equal(n, 0);
        close(sv[1]);
        assert_int_equal(count_fds(), before);
    }
}

/* vu_msg_send's fd list goes into a control buffer sized for
 * VHOST_USER_MAX_FDS: more must be refused, not written past it.  Run in a
 * child so a sanitizer report fails this test alone. */
static void msg_send_too_many_fds(void **state)
{
    (void)state;
    int sv[2];
    socket_pair(sv);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct vhost_user_msg m = {.hdr = {VHOST_USER_SET_MEM_TABLE, V, 0}};
        int fds[VHOST_USER_MAX_FDS + 4];
        for (unsigned i = 0; i < VHOST_USER_MAX_FDS + 4; i++)
            fds[i] = sv[0];
        _exit(vu_msg_send(sv[0], &m, fds, VHOST_USER_MAX_FDS + 4) == -1 ? 0 : 3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(sv[0]);
    close(sv[1]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("vu_msg_send with %u fds: %s %d", VHOST_USER_MAX_FDS + 4,
                 WIFEXITED(status) ? "child exited with" : "child killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* End to end: a front-end on the back-end's socket, through its loop. */
static void socket_end_to_end(void **state)
{
    struct fx *f = *state;
    int cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(cl >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, f->path);
    assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_true(f->b.conn_fd >= 0);

    static struct vhost_user_msg m, got;
    int rfds[VHOST_USER_MAX_FDS];
    unsigned n;
    m = (struct vhost_user_msg){.hdr = {VHOST_USER_GET_FEATURES, V, 0}};
    assert_int_equal(vu_msg_send(cl, &m, NULL, 0), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(vu_msg_recv(cl, &got, rfds, &n), 0);
    assert_int_equal(got.hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
    assert_int_equal(got.p.u64, HOST_FEATURES | F_PROTO);

    m = (struct vhost_user_msg){.hdr = {VHOST_USER_SET_MEM_TABLE, V, 8 + 32}};
    m.p.mem.nregions = 1;
    m.p.mem.regions[0] = whole_ram(f);
    int fd = dup_ram(f);
    assert_int_equal(vu_msg_send(cl, &m, &fd, 1), 0);
    close(fd);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(f->b.mem.nregions, 1);

    /* A malformed message drops the front-end and forgets its state. */
    struct vhost_user_hdr h = {VHOST_USER_SET_FEATURES, V, 0x10000};
    assert_int_equal(write(cl, &h, sizeof(h)), sizeof(h));
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(f->b.conn_fd, -1);
    assert_int_equal(f->b.mem.nregions, 0);
    char c;
    assert_int_equal(read(cl, &c, 1), 0);
    close(cl);

    /* ... and the next one is served. */
    cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(cl, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_true(f->b.conn_fd >= 0);
    m = (struct vhost_user_msg){.hdr = {VHOST_USER_GET_QUEUE_NUM, V, 0}};
    assert_int_equal(vu_msg_send(cl, &m, NULL, 0), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(vu_msg_recv(cl, &got, rfds, &n), 0);
    assert_int_equal(got.p.u64, NQ);
    /* A failed request with a reply of its own also drops it. */
    m = (struct vhost_user_msg){.hdr = {VHOST_USER_GET_CONFIG, V, 12}};
    m.p.config.offset = CFG_LEN + 1;
    assert_int_equal(vu_msg_send(cl, &m, NULL, 0), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(f->b.conn_fd, -1);
    close(cl);
}

/* ---- The request table ------------------------------------------------------------ */

/* Every request the back-end serves has one entry, and its payload size and
 * fd allowance are enforced before its handler runs, with the reason. */
static void request_table(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    static const uint32_t served[] = {
        VHOST_USER_GET_FEATURES, VHOST_USER_SET_FEATURES, VHOST_USER_SET_OWNER, VHOST_USER_RESET_OWNER,
        VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_VRING_NUM, VHOST_USER_SET_VRING_ADDR,
        VHOST_USER_SET_VRING_BASE, VHOST_USER_GET_VRING_BASE, VHOST_USER_SET_VRING_KICK,
        VHOST_USER_SET_VRING_CALL, VHOST_USER_SET_VRING_ERR, VHOST_USER_GET_PROTOCOL_FEATURES,
        VHOST_USER_SET_PROTOCOL_FEATURES, VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_VRING_ENABLE,
        VHOST_USER_GET_CONFIG, VHOST_USER_SET_CONFIG, VHOST_USER_RESET_DEVICE,
    };
    unsigned n = 0;
    for (uint32_t req = 0; req < vu_request_limit() + 2; req++) {
        const struct vu_request *rq = vu_request_find(req);
        bool want = false;
        for (unsigned i = 0; i < sizeof(served) / sizeof(served[0]); i++)
            want |= served[i] == req;
        if (!rq) {
            if (want)
                fail_msg("request %u has no entry", req);
            continue;
        }
        n++;
        assert_true(want);
        assert_non_null(rq->name);
        for (uint32_t other = 0; other < req; other++)
            if (vu_request_find(other))
                assert_string_not_equal(vu_request_find(other)->name, rq->name);
        bool own_reply = req == VHOST_USER_GET_FEATURES || req == VHOST_USER_GET_PROTOCOL_FEATURES ||
                         req == VHOST_USER_GET_VRING_BASE || req == VHOST_USER_GET_QUEUE_NUM ||
                         req == VHOST_USER_GET_CONFIG;
        assert_int_equal(rq->reply, own_reply);
        bool fd_req = req == VHOST_USER_SET_VRING_KICK || req == VHOST_USER_SET_VRING_CALL ||
                      req == VHOST_USER_SET_VRING_ERR;
        assert_int_equal(rq->max_fds, req == VHOST_USER_SET_MEM_TABLE ? VHOST_USER_MAX_REGIONS : fd_req ? 1 : 0);
        if (rq->size == VU_SIZE_VARIABLE) {
            assert_true(req == VHOST_USER_SET_MEM_TABLE || req == VHOST_USER_GET_CONFIG ||
                        req == VHOST_USER_SET_CONFIG);
            continue;
        }
        /* One byte more or less than the entry says is refused, by reason. */
        for (int d = -1; d <= 1; d += 2) {
            if (rq->size == 0 && d < 0)
                continue;
            uint32_t size = rq->size + (uint32_t)d;
            prep(f, req, V_ACK, size);
            int r = run(f, NULL, 0);
            if (rq->reply)
                assert_int_equal(r, -1);
            else
                REFUSED(f, r);
            char want_why[64];
            snprintf(want_why, sizeof(want_why), "payload of %u bytes, expected %u", size, rq->size);
            assert_string_equal(f->b.why, want_why);
        }
        /* An fd where none belongs is refused and closed. */
        if (!rq->max_fds) {
            prep(f, req, V_ACK, rq->size);
            int fd = new_eventfd();
            int r = run(f, &fd, 1);
            assert_closed(fd);
            if (rq->reply)
                assert_int_equal(r, -1);
            else
                REFUSED(f, r);
            assert_string_equal(f->b.why, "file descriptors: 1, expected at most 0");
        }
        vu_backend_reset(&f->b);
        assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    }
    assert_int_equal(n, sizeof(served) / sizeof(served[0]));
}

/* Each refusal says why; an accepted message clears the reason. */
static void refusal_reasons(void **state)
{
    struct fx *f = *state;
    assert_int_equal(req_u64(f, VHOST_USER_SET_PROTOCOL_FEATURES, V, PF_ALL), 0);
    assert_string_equal(f->b.why, "");
    REFUSED(f, req_u64(f, 99, V_ACK, 0));
    assert_string_equal(f->b.why, "not supported");
    REFUSED(f, req_u64(f, VHOST_USER_SET_FEATURES, 2 | VHOST_USER_NEED_REPLY, HOST_FEATURES));
    assert_string_equal(f->b.why, "protocol version 2 (only 1 is known)");
    REFUSED(f, req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, BIT(F_DEV + 1)));
    assert_string_equal(f->b.why, "features 0x40 were not offered");
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, NQ, QSZ));
    assert_string_equal(f->b.why, "queue 2 does not exist (2 queues)");
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_NUM, V_ACK, 0, 3));
    assert_string_equal(f->b.why, "ring size 3 (a power of 2 up to 256)");
    REFUSED(f, req_fd(f, VHOST_USER_SET_VRING_CALL, V_ACK, 0, -1));
    assert_string_equal(f->b.why, "no file descriptor and no NOFD");
    struct vhost_user_region r = whole_ram(f);
    r.memory_size = RAM_SIZE + 0x1000;
    REFUSED(f, req_mem(f, V_ACK, &r, 1));
    assert_string_equal(f->b.why, "memory region 0 ends at byte 69632 of a file of 65536 bytes");
    /* Guest memory is a file: a device (mappable or not) is refused. */
    prep(f, VHOST_USER_SET_MEM_TABLE, V_ACK, 8 + 32);
    f->m.p.mem.nregions = 1;
    f->m.p.mem.regions[0] = whole_ram(f);
    int zero = open("/dev/zero", O_RDWR | O_CLOEXEC);
    assert_true(zero >= 0);
    REFUSED(f, run(f, &zero, 1));
    assert_closed(zero);
    assert_string_equal(f->b.why, "memory region 0 is a character device, not a memfd or a file");
    ACKED(f, req_u64(f, VHOST_USER_SET_FEATURES, V_ACK, HOST_FEATURES | F_PROTO));
    assert_string_equal(f->b.why, "");
    /* Rings outside the table: the start that fails names the ring. */
    map_ram(f);
    ring_setup(f, 0, 0);
    ACKED(f, req_addr(f, V_ACK, 0, uva(f, RAM_SIZE), uva(f, AVAIL_OFF(0)), uva(f, USED_OFF(0))));
    REFUSED(f, req_state(f, VHOST_USER_SET_VRING_ENABLE, V_ACK, 0, 1));
    assert_string_equal(f->b.why, "queue 0: descriptor table outside the shared memory");
}

static int connect_to(const char *path)
{
    int cl = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (cl >= 0 && connect(cl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(cl);
        return -1;
    }
    return cl;
}

/* ---- The log a front-end can reach ------------------------------------------------- */

/* stderr into a file while a test runs, to count the lines the back-end
 * logs. */
struct capture {
    int saved;
    FILE *fp;
};

static void capture_start(struct capture *c)
{
    fflush(stderr);
    c->fp = tmpfile();
    assert_non_null(c->fp);
    c->saved = dup(2);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(fileno(c->fp), 2), 2);
}

/* Lines logged since capture_start that contain what. */
static unsigned capture_count(struct capture *c, const char *what)
{
    fflush(stderr);
    rewind(c->fp);
    char line[512];
    unsigned n = 0;
    while (fgets(line, sizeof(line), c->fp))
        n += strstr(line, what) != NULL;
    fseek(c->fp, 0, SEEK_END);
    return n;
}

static void capture_end(struct capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    fclose(c->fp);
}

/* A front-end decides how often things go wrong (issue 14, log flooding):
 * a broken ring kicked without end, refused requests by the thousand.
 * The log gets a few lines, not one per event. */
static void log_bounded(void **state)
{
    struct fx *f = *state;
    struct capture cap;
    negotiate(f, true);
    map_ram(f);
    int err_fd = new_eventfd();
    ACKED(f, req_fd(f, VHOST_USER_SET_VRING_ERR, V_ACK, 0, err_fd));
    capture_start(&cap);
    /* The device reports the same broken ring at every kick. */
    for (unsigned i = 0; i < 1000; i++)
        f->s.d.broken(f->s.d.transport, "descriptor loop");
    unsigned broken_lines = capture_count(&cap, "descriptor loop");
    /* Requests refused without REPLY_ACK can be told only to the log. */
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(req_u64(f, 99, V, 0), 0);
    unsigned refused_lines = capture_count(&cap, "refused");
    unsigned all = capture_count(&cap, "vireo:");
    capture_end(&cap);
    /* Each break still reaches the front-end. */
    uint64_t v = 0;
    assert_int_equal(read(err_fd, &v, 8), 8);
    assert_int_equal(v, 1000);
    if (broken_lines != 1)
        fail_msg("%u log lines for one broken ring kicked 1000 times", broken_lines);
    if (refused_lines < 1 || all > 12)
        fail_msg("%u log lines (%u about refusals) for 1000 refused requests", all, refused_lines);
}

/* The budget is per front-end: the next one is heard again, and one that
 * leaves says how much of its noise went unlogged. */
static void log_budget_per_front_end(void **state)
{
    struct fx *f = *state;
    struct capture cap;
    capture_start(&cap);
    int cl = connect_to(f->path);
    assert_true(cl >= 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    struct vhost_user_msg m = {.hdr = {99, V, 0}};
    for (unsigned i = 0; i < 100; i++) {
        assert_int_equal(vu_msg_send(cl, &m, NULL, 0), 0);
        assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    }
    close(cl);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(f->b.conn_fd, -1);
    unsigned first = capture_count(&cap, "request 99 refused");
    unsigned left = capture_count(&cap, "errors from it were not logged");
    cl = connect_to(f->path);
    assert_true(cl >= 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    assert_int_equal(vu_msg_send(cl, &m, NULL, 0), 0);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    unsigned second = capture_count(&cap, "request 99 refused") - first;
    close(cl);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    capture_end(&cap);
    assert_true(first >= 1 && first <= 10);
    assert_int_equal(left, 1);
    assert_int_equal(second, 1);
}

/* ---- A hostile front-end on the socket ------------------------------------------------ */

/* Tests that fork use plain checks: a cmocka assert in a child would
 * report from the wrong process. */
#define CHILD_CHECK(cond, code)                                                            \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "child: %s:%d: %s\n", __FILE__, __LINE__, #cond);              \
            _exit(code);                                                                   \
        }                                                                                  \
    } while (0)

static void wait_child(pid_t pid, const char *what, const char *rm)
{
    int status = 0;
    pid_t w = waitpid(pid, &status, 0);
    if (rm)
        unlink(rm);
    assert_int_equal(w, pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("%s: %s %d", what, WIFEXITED(status) ? "child exited with" : "child killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* One request from a front-end on cl, served by one turn of loop; with
 * REPLY_ACK negotiated.  1 done (reply, if any, in *reply), 0 refused,
 * -1 the back-end hung up. */
static int fe_request(int cl, struct event_loop *loop, uint32_t req, const void *payload, uint32_t size,
                      const int *fds, unsigned nfds, struct vhost_user_msg *reply)
{
    struct vhost_user_msg m = {.hdr = {req, V_ACK, size}};
    if (size)
        memcpy(&m.p, payload, size);
    if (vu_msg_send(cl, &m, fds, nfds) < 0)
        return -1;
    if (event_loop_run_once(loop, 1000) < 0)
        return -1;
    struct vhost_user_msg r;
    int rfds[VHOST_USER_MAX_FDS];
    unsigned rn;
    struct pollfd p = {.fd = cl, .events = POLLIN};
    if (poll(&p, 1, 1000) != 1 || vu_msg_recv(cl, &r, rfds, &rn) < 0)
        return -1;
    for (unsigned i = 0; i < rn; i++)
        close(rfds[i]);
    if (reply)
        *reply = r;
    bool own = req == VHOST_USER_GET_FEATURES || req == VHOST_USER_GET_QUEUE_NUM ||
               req == VHOST_USER_GET_VRING_BASE || req == VHOST_USER_GET_PROTOCOL_FEATURES;
    return own || r.p.u64 == 0 ? 1 : 0;
}

/* Features, REPLY_ACK, the memory table (memfd, size bytes at ram) and
 * ring 0 up to its enable; 1 if all went through. */
static int fe_bring_up(int cl, struct event_loop *loop, int memfd, uint8_t *ram, size_t size)
{
    uint64_t feat = HOST_FEATURES | F_PROTO, pf = PF_ALL;
    struct vhost_user_msg m = {.hdr = {VHOST_USER_SET_PROTOCOL_FEATURES, V, 8}, .p.u64 = pf};
    if (vu_msg_send(cl, &m, NULL, 0) < 0 || event_loop_run_once(loop, 1000) < 0)
        return 0;
    struct vhost_user_mem mem = {.nregions = 1};
    mem.regions[0] = (struct vhost_user_region){RAM_GPA, size, (uint64_t)(uintptr_t)ram, 0};
    struct vhost_user_state num = {0, QSZ}, base = {0, 0};
    struct vhost_user_addr a = {.index = 0, .desc = (uintptr_t)ram + DESC_OFF(0),
                                .avail = (uintptr_t)ram + AVAIL_OFF(0), .used = (uintptr_t)ram + USED_OFF(0)};
    int kick = eventfd(0, EFD_CLOEXEC), call = eventfd(0, EFD_CLOEXEC);
    uint64_t idx = 0;
    int ok = fe_request(cl, loop, VHOST_USER_SET_FEATURES, &feat, 8, NULL, 0, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_MEM_TABLE, &mem, 8 + 32, &memfd, 1, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_VRING_NUM, &num, 8, NULL, 0, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_VRING_BASE, &base, 8, NULL, 0, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_VRING_CALL, &idx, 8, &call, 1, NULL) == 1 &&
             fe_request(cl, loop, VHOST_USER_SET_VRING_KICK, &idx, 8, &kick, 1, NULL) == 1;
    close(kick);
    close(call);
    return ok;
}

/* The back-end's half of shrunk_memory, in a child of its own. */
static void shrunk_memory_child(const char *path)
{
    /* Not cmocka's handler, which would carry on with the suite here. */
    signal(SIGBUS, SIG_DFL);
    struct stub_dev s;
    stub_dev_init(&s);
    static struct event_loop loop;
    static struct vu_backend b;
    char err[256];
    CHILD_CHECK(event_loop_init(&loop) == 0, 10);
    event_loop_set_owner(&loop);
    CHILD_CHECK(vu_backend_init(&b, &s.d, &loop, path, err, sizeof(err)) == 0, 11);
    int memfd = memfd_create("vu-shrink", MFD_CLOEXEC);
    CHILD_CHECK(memfd >= 0 && ftruncate(memfd, RAM_SIZE) == 0, 12);
    uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    CHILD_CHECK(ram != MAP_FAILED, 13);

    int cl = connect_to(path);
    CHILD_CHECK(cl >= 0 && event_loop_run_once(&loop, 1000) >= 0 && b.conn_fd >= 0, 14);
    CHILD_CHECK(fe_bring_up(cl, &loop, memfd, ram, RAM_SIZE), 15);
    /* The front-end takes its memory back; starting the ring is the
     * back-end's first touch of it since. */
    munmap(ram, RAM_SIZE);
    CHILD_CHECK(ftruncate(memfd, 0) == 0, 16);
    struct vhost_user_state en = {0, 1};
    (void)fe_request(cl, &loop, VHOST_USER_SET_VRING_ENABLE, &en, 8, NULL, 0, NULL);
    for (int i = 0; i < 5 && b.conn_fd >= 0; i++)
        CHILD_CHECK(event_loop_run_once(&loop, 200) >= 0, 17);
    /* It is dropped, and hears so. */
    CHILD_CHECK(b.conn_fd < 0, 18);
    char c;
    CHILD_CHECK(recv(cl, &c, 1, 0) == 0, 19);
    close(cl);

    /* The next front-end is served as if nothing happened. */
    CHILD_CHECK(ftruncate(memfd, RAM_SIZE) == 0, 20);
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    CHILD_CHECK(ram != MAP_FAILED, 21);
    ram[AVAIL_OFF(0) + 2] = 0x42;
    cl = connect_to(path);
    CHILD_CHECK(cl >= 0 && event_loop_run_once(&loop, 1000) >= 0 && b.conn_fd >= 0, 22);
    unsigned starts = s.starts[0];
    CHILD_CHECK(fe_bring_up(cl, &loop, memfd, ram, RAM_SIZE), 23);
    CHILD_CHECK(fe_request(cl, &loop, VHOST_USER_SET_VRING_ENABLE, &en, 8, NULL, 0, NULL) == 1, 24);
    CHILD_CHECK(s.starts[0] == starts + 1 && s.vq_at_start[0].avail[2] == 0x42, 25);
    CHILD_CHECK(s.breaches == 0, 26);
    close(cl);
    vu_backend_destroy(&b);
    _exit(0);
}

/* Issue 14: a front-end that shrinks the memfd behind its memory table
 * after SET_MEM_TABLE made the back-end die of SIGBUS, for every later
 * front-end too.  It must drop that front-end only. */
static void shrunk_memory(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/shrink", f->dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        shrunk_memory_child(path);
    wait_child(pid, "back-end with a front-end that shrinks its memory", path);
}

/* The guard catches the fault on whichever thread takes it (an I/O thread
 * reading a ring): the access completes on zeroes, writes no longer reach
 * the file, and the owner's eventfd is signalled. */
static void *touch(void *p)
{
    volatile uint8_t *b = p;
    uint8_t v = b[0x2345];
    b[0x2345] = 0x99;
    return (void *)(uintptr_t)(v + 1);
}

static void guard_fault_on_other_thread(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        int fd = memfd_create("guard", MFD_CLOEXEC), efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        CHILD_CHECK(fd >= 0 && efd >= 0 && ftruncate(fd, RAM_SIZE) == 0, 10);
        uint8_t *p = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHILD_CHECK(p != MAP_FAILED, 11);
        p[0x2345] = 7;
        int slot = vu_guard_add(p, RAM_SIZE, efd);
        CHILD_CHECK(slot >= 0 && !vu_guard_faulted(slot), 12);
        pthread_t t;
        void *ret;
        /* Untouched: the file's bytes. */
        CHILD_CHECK(pthread_create(&t, NULL, touch, p) == 0 && pthread_join(t, &ret) == 0, 13);
        CHILD_CHECK((uintptr_t)ret == 8 && !vu_guard_faulted(slot), 14);
        uint64_t v;
        CHILD_CHECK(read(efd, &v, 8) < 0, 15);
        p[0x100] = 0x11;
        /* The front-end keeps its first page and takes the rest back. */
        CHILD_CHECK(ftruncate(fd, 0x1000) == 0, 16);
        /* The page is gone from the file: the access faults, and reads 0. */
        CHILD_CHECK(pthread_create(&t, NULL, touch, p) == 0 && pthread_join(t, &ret) == 0, 17);
        CHILD_CHECK((uintptr_t)ret == 1 && vu_guard_faulted(slot), 18);
        CHILD_CHECK(read(efd, &v, 8) == 8 && v == 1, 19);
        /* The whole mapping is ours now, even the page the file kept: the
         * file is left alone. */
        CHILD_CHECK(p[0x100] == 0, 20);
        p[0x100] = 0x22;
        uint8_t b = 0;
        CHILD_CHECK(pread(fd, &b, 1, 0x100) == 1 && b == 0x11, 21);
        vu_guard_remove(slot);
        munmap(p, RAM_SIZE);
        _exit(0);
    }
    wait_child(pid, "fault on a guarded mapping", NULL);
}

/* A SIGBUS the guard does not own (a bug of ours, a file we mapped
 * ourselves) still kills, as it would without the guard. */
static void guard_leaves_other_faults(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGBUS, SIG_DFL);
        int fd = memfd_create("guard", MFD_CLOEXEC), efd = eventfd(0, EFD_CLOEXEC);
        CHILD_CHECK(fd >= 0 && efd >= 0 && ftruncate(fd, 2 * RAM_SIZE) == 0, 10);
        uint8_t *p = mmap(NULL, 2 * RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        CHILD_CHECK(p != MAP_FAILED, 11);
        /* Only the first half is guarded. */
        CHILD_CHECK(vu_guard_add(p, RAM_SIZE, efd) >= 0, 12);
        CHILD_CHECK(ftruncate(fd, 0) == 0, 13);
        volatile uint8_t *q = p + RAM_SIZE;
        (void)*q;
        _exit(3);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
        fail_msg("unguarded fault: %s %d", WIFEXITED(status) ? "child exited with" : "child killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

/* ---- Who may connect ---------------------------------------------------------------- */

/* Accepted by the fixture's back-end (through its loop). */
static bool fixture_serves(struct fx *f)
{
    int cl = connect_to(f->path);
    if (cl < 0)
        return false;
    bool ok = event_loop_run_once(&f->loop, 1000) >= 0 && f->b.conn_fd >= 0;
    close(cl);
    event_loop_run_once(&f->loop, 1000);
    return ok;
}

/* Only the back-end's owner and root may connect (as the control socket):
 * a front-end of another uid is hung up on at once, even when the file's
 * mode would let it in. */
static void socket_peer_refused(void **state)
{
    struct fx *f = *state;
    if (geteuid() != 0)
        skip();   /* needs root to connect as another uid */
    assert_int_equal(chmod(f->dir, 0711), 0);
    assert_int_equal(chmod(f->path, 0666), 0);
    int ready[2];
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        CHILD_CHECK(setresgid(65534, 65534, 65534) == 0 && setresuid(65534, 65534, 65534) == 0, 10);
        int cl = connect_to(f->path);
        CHILD_CHECK(cl >= 0, 11);
        CHILD_CHECK(write(ready[1], "c", 1) == 1, 12);
        struct pollfd p = {.fd = cl, .events = POLLIN};
        char c;
        CHILD_CHECK(poll(&p, 1, 3000) == 1 && recv(cl, &c, 1, 0) == 0, 13);
        _exit(0);
    }
    close(ready[1]);
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    close(ready[0]);
    assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
    int conn = f->b.conn_fd;
    wait_child(pid, "front-end of uid 65534", NULL);
    assert_int_equal(conn, -1);
    /* Still listening for the owner. */
    assert_true(fixture_serves(f));
}


/* ---- The listening socket ----------------------------------------------------------- */

/* bind() as the back-end calls it, watched: the socket file's mode the
 * moment it exists, before anything could change it. */
static const char *bind_watch;
static int bind_mode = -1;

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    static int (*real)(int, const struct sockaddr *, socklen_t);
    if (!real)
        real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
    int r = real(fd, sa, len);
    struct stat st;
    if (r == 0 && sa->sa_family == AF_UNIX && bind_watch &&
        !strcmp(((const struct sockaddr_un *)sa)->sun_path, bind_watch) && stat(bind_watch, &st) == 0)
        bind_mode = (int)(st.st_mode & 07777);
    return r;
}

/* A second back-end with its own stub device, on path. */
struct other {
    struct stub_dev s;
    struct vu_backend b;
    char err[256];
};

static int other_init(struct other *o, struct fx *f, const char *path)
{
    stub_dev_init(&o->s);
    o->err[0] = 0;
    return vu_backend_init(&o->b, &o->s.d, &f->loop, path, o->err, sizeof(o->err));
}

static void socket_private_from_creation(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/private", f->dir);
    static struct other o;
    mode_t old = umask(0);
    bind_watch = path;
    bind_mode = -1;
    int r = other_init(&o, f, path);
    bind_watch = NULL;
    umask(old);
    if (r < 0)
        fail_msg("vu_backend_init: %s", o.err);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    vu_backend_destroy(&o.b);
    unlink(path);
    /* Under umask 0 a socket is born 0777: it must be 0600 from birth,
     * not after a chmod that leaves a window. */
    if (bind_mode != 0600)
        fail_msg("socket created with mode %o", bind_mode);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void socket_live_refused(void **state)
{
    struct fx *f = *state;
    static struct other o;
    int r = other_init(&o, f, f->path);
    if (r == 0) {
        vu_backend_destroy(&o.b);
        fail_msg("a second back-end took the live socket %s", f->path);
    }
    char want[64];
    snprintf(want, sizeof(want), "in use by pid %d", (int)getpid());
    if (!strstr(o.err, want))
        fail_msg("second back-end on a live socket: '%s', expected '%s'", o.err, want);
    /* The first one still has it. */
    assert_true(fixture_serves(f));

    /* A live server whose backlog is full cannot say who it is: "in use". */
    char path[128];
    snprintf(path, sizeof(path), "%s/busy", f->dir);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 0), 0);
    int c1 = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_int_equal(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
    r = other_init(&o, f, path);
    close(c1);
    close(l);
    unlink(path);
    assert_int_equal(r, -1);
    char want2[160];
    snprintf(want2, sizeof(want2), "--socket %s: in use", path);
    assert_string_equal(o.err, want2);
}

static void socket_not_a_socket(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("keep", fp);
    fclose(fp);
    static struct other o;
    int r = other_init(&o, f, path);
    if (r == 0)
        vu_backend_destroy(&o.b);
    char buf[8] = "";
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(buf, sizeof(buf), fp));
    fclose(fp);
    unlink(path);
    assert_int_equal(r, -1);
    if (!strstr(o.err, "exists and is not a socket (a regular file)"))
        fail_msg("--socket on a regular file: '%s'", o.err);
    assert_string_equal(buf, "keep");
}

/* A killed server's socket file (nobody listens) is replaced; a back-end
 * removes its socket when it goes, and only if it is still its own. */
static void socket_stale_and_own(void **state)
{
    struct fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/stale", f->dir);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    static struct other a, b;
    if (other_init(&a, f, path) < 0)
        fail_msg("stale socket not replaced: %s", a.err);
    /* Someone removes a's socket and b takes the path. */
    assert_int_equal(unlink(path), 0);
    if (other_init(&b, f, path) < 0)
        fail_msg("%s", b.err);
    struct stat before, after;
    assert_int_equal(lstat(path, &before), 0);
    vu_backend_destroy(&a.b);
    int r = lstat(path, &after);
    vu_backend_destroy(&b.b);
    struct stat gone;
    int r2 = lstat(path, &gone);
    unlink(path);
    assert_int_equal(r, 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(r2, -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(get_features),
        T(set_features),
        T(set_features_unoffered),
        T(protocol_features),
        T(get_queue_num),
        T(get_config),
        T(get_config_refused),
        T(set_config),
        T(mem_table),
        T(mem_table_refused),
        T(ring_bring_up),
        T(ring_without_protocol_features),
        T(ring_with_mmap_offset),
        T(ring_outside_memory),
        T(ring_before_table_starts_with_table),
        T(get_vring_base),
        T(ring_reconfig_while_running),
        T(mem_table_while_running),
        T(bad_queue_index),
        T(bad_vring_num),
        T(ring_fd_flags),
        T(bad_version),
        T(unknown_request),
        T(fds_always_closed),
        T(reset_requests),
        T(socket_end_to_end),
        T(request_table),
        T(refusal_reasons),
        T(log_bounded),
        T(log_budget_per_front_end),
        T(shrunk_memory),
        T(socket_peer_refused),
        T(socket_private_from_creation),
        T(socket_live_refused),
        T(socket_not_a_socket),
        T(socket_stale_and_own),
        cmocka_unit_test(guard_fault_on_other_thread),
        cmocka_unit_test(guard_leaves_other_faults),
        cmocka_unit_test(msg_round_trip),
        cmocka_unit_test(msg_oversized),
        cmocka_unit_test(msg_peer_closes),
        cmocka_unit_test(msg_send_too_many_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

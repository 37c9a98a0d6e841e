/* libFuzzer target: a hostile vhost-user front-end.  The input is a
 * sequence of messages, each a 12-byte header and then its payload, the
 * payload clamped to what is left of the input (and to the largest the
 * socket layer would accept).  Each goes to vu_backend_handle() as if just
 * received; after the last, the front-end disconnects (vu_backend_reset).
 * Nothing may crash, leak an fd or a mapping, start a ring on memory the
 * back-end has not mapped, or break the device model's contract.
 *
 * The header's top byte is the fuzzer's, not the protocol's (the back-end
 * looks at the version and NEED_REPLY bits only): its low nibble is how
 * many fds ride with the message, each a dup of one small memfd, so memory
 * tables can be mapped and rings started; bit 4 shrinks that memfd to half
 * before the message (a front-end taking its memory back: the SIGBUS guard
 * must catch the back-end's next touch, and the front-end must then be
 * dropped); bit 5 sends the memory table's regions as they are, rather than
 * fitted inside the memfd. */
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eventloop/event_loop.h"
#include "vhost_user/backend.h"
#include "vhost_user/protocol.h"
#include "vhost_user/requests.h"
#include "virtio/virtio.h"
#include "stub_dev.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NQ       STUB_NQ
#define CFG_LEN  STUB_CFG_LEN
#define RAM_SIZE 0x10000u
#define RAM_NAME "fuzz-vu-ram"

static void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

static struct stub_dev stub;
static struct event_loop loop;
static struct vu_backend be;
static int ram_fd = -1;

/* Devices may refuse to start (the back-end must then leave the ring
 * stopped); the base set by the front-end decides here. */
static bool refuse_start(const struct vq *vq)
{
    return (vq->last_avail & 0xF) == 0xF;
}

/* At the breach, so the stack libFuzzer prints shows the call that broke
 * the contract. */
static void trap(const char *what)
{
    (void)what;
    __builtin_trap();
}

static unsigned count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    check(d != NULL);
    unsigned n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* The back-end logs every refused message; at thousands of inputs a
     * second that would bury the fuzzer's own output (which goes to the
     * stream libFuzzer saved at startup, as do sanitizer reports). */
    if (!getenv("VIREO_FUZZ_VERBOSE")) {
        FILE *null = fopen("/dev/null", "w");
        check(null != NULL);
        stderr = null;
    }
    stub_dev_init(&stub);
    stub.vu = &be;
    stub.stop_base = 0x100;
    stub.refuse_start = refuse_start;
    stub.on_breach = trap;
    /* Without a socket: messages come straight from the input. */
    char err[256];
    check(event_loop_init(&loop) == 0);
    event_loop_set_owner(&loop);
    check(vu_backend_init(&be, &stub.d, &loop, NULL, err, sizeof(err)) == 0);
    ram_fd = memfd_create(RAM_NAME, MFD_CLOEXEC);
    check(ram_fd >= 0 && ftruncate(ram_fd, RAM_SIZE) == 0);
    return 0;
}

/* Regions inside the memfd as it was created, so that most tables map
 * (the back-end refuses regions past the end of the file). */
static void fit_regions(struct vhost_user_mem *mem)
{
    unsigned n = mem->nregions < VHOST_USER_MAX_REGIONS ? mem->nregions : VHOST_USER_MAX_REGIONS;
    for (unsigned i = 0; i < n; i++) {
        struct vhost_user_region *r = &mem->regions[i];
        r->mmap_offset %= RAM_SIZE;
        r->memory_size %= RAM_SIZE - r->mmap_offset + 1;
    }
}

static bool own_reply(uint32_t req)
{
    const struct vu_request *rq = vu_request_find(req);
    return rq && rq->reply;
}

/* What the request table promises, whatever the handler does: a message
 * that breaks its entry's size, fd or version rule, or has no entry, is
 * refused with a reason, and the reason matches the answer. */
static void check_table(const struct vhost_user_msg *m, unsigned nfds, int r, const struct vhost_user_msg *reply)
{
    const struct vu_request *rq = vu_request_find(m->hdr.request);
    bool refused = be.why[0] != 0;
    check(memchr(be.why, 0, sizeof(be.why)) != NULL);
    if (!rq || (m->hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION || nfds > rq->max_fds ||
        (rq->size != VU_SIZE_VARIABLE && m->hdr.size != rq->size))
        check(refused);
    if (rq && rq->reply)
        check(r == (refused ? -1 : 1));
    else if (r == 1)
        check(reply->p.u64 == (refused ? 1 : 0));
}

static void check_reply(const struct vhost_user_msg *m, const struct vhost_user_msg *reply, int r)
{
    check(r >= -1 && r <= 1);
    if (r != 1)
        return;
    check(reply->hdr.request == m->hdr.request);
    check(reply->hdr.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY));
    check(reply->hdr.size <= sizeof(reply->p));
    if (!own_reply(m->hdr.request)) {
        check(reply->hdr.size == 8 && reply->p.u64 <= 1);
        return;
    }
    switch (m->hdr.request) {
    case VHOST_USER_GET_FEATURES:
        check(reply->hdr.size == 8 &&
              reply->p.u64 == (STUB_HOST_FEATURES | BIT(VHOST_USER_F_PROTOCOL_FEATURES)));
        break;
    case VHOST_USER_GET_QUEUE_NUM:
        check(reply->hdr.size == 8 && reply->p.u64 == NQ);
        break;
    case VHOST_USER_GET_VRING_BASE:
        check(reply->hdr.size == sizeof(struct vhost_user_state) && reply->p.state.index < NQ);
        break;
    case VHOST_USER_GET_CONFIG:
        check(reply->hdr.size == 12 + reply->p.config.size);
        check(reply->p.config.offset <= CFG_LEN && reply->p.config.size <= CFG_LEN - reply->p.config.offset);
        check(memcmp(reply->p.config.payload, stub.config + reply->p.config.offset, reply->p.config.size) == 0);
        break;
    }
}

static void check_state(void)
{
    check(be.mem.nregions <= VHOST_USER_MAX_REGIONS);
    for (unsigned q = 0; q < NQ; q++) {
        check(be.q[q].started == (stub.starts[q] != stub.stops[q]));
        check(!be.q[q].started || be.q[q].kick_fd >= 0);
    }
    for (unsigned q = NQ; q < VU_MAX_QUEUES; q++)
        check(!be.q[q].started && be.q[q].kick_fd < 0 && be.q[q].call_fd < 0 && be.q[q].err_fd < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vhost_user_msg m, reply;
    unsigned fds_before = count_fds();
    bool mapped = false, shrunk = false;
    stub_dev_fill_config(&stub);
    check(ftruncate(ram_fd, RAM_SIZE) == 0);

    while (size >= sizeof(m.hdr)) {
        memcpy(&m.hdr, data, sizeof(m.hdr));
        data += sizeof(m.hdr);
        size -= sizeof(m.hdr);
        unsigned nfds = (m.hdr.flags >> 24) & 0xF;
        if (nfds > VHOST_USER_MAX_FDS)
            nfds = VHOST_USER_MAX_FDS;
        bool shrink = m.hdr.flags & (1u << 28), raw_regions = m.hdr.flags & (1u << 29);
        m.hdr.flags &= 0x00FFFFFFu;
        uint32_t n = m.hdr.size;
        if (n > sizeof(m.p))
            n = sizeof(m.p);
        if (n > size)
            n = (uint32_t)size;
        m.hdr.size = n;
        /* Past hdr.size, a fixed filler rather than the previous message. */
        memset(&m.p, 0, sizeof(m.p));
        memcpy(&m.p, data, n);
        data += n;
        size -= n;
        if (m.hdr.request == VHOST_USER_SET_MEM_TABLE && nfds) {
            if (!raw_regions)
                fit_regions(&m.p.mem);
            mapped = true;
        }
        if (shrink) {
            check(ftruncate(ram_fd, RAM_SIZE / 2) == 0);
            shrunk = true;
        }

        int fds[VHOST_USER_MAX_FDS];
        for (unsigned i = 0; i < nfds; i++) {
            fds[i] = fcntl(ram_fd, F_DUPFD_CLOEXEC, 0);
            check(fds[i] >= 0);
        }
        int r = vu_backend_handle(&be, &m, fds, nfds, &reply);
        check_reply(&m, &reply, r);
        check_table(&m, nfds, r, &reply);
        check_state();
        /* A fault (the guard's eventfd) drops the front-end at the loop's
         * next turn: no faulted region stays in use.  (Only a shrunk memfd
         * faults; the turn is a syscall the other inputs are spared.) */
        if (shrunk) {
            check(event_loop_run_once(&loop, 0) >= 0);
            check(vu_mem_faulted(&be.mem) < 0);
            check_state();
        }
    }

    /* The front-end goes away: everything it gave must be let go. */
    vu_backend_reset(&be);
    check(be.mem.nregions == 0 && be.features == 0 && be.protocol_features == 0 && stub.d.features == 0);
    for (unsigned q = 0; q < VU_MAX_QUEUES; q++)
        check(!be.q[q].started && be.q[q].kick_fd < 0 && be.q[q].call_fd < 0 && be.q[q].err_fd < 0);
    check(stub_dev_running(&stub) == 0);
    check(count_fds() == fds_before);
    /* Reading maps is slow under ASan: only where there can be any (the
     * back-end's: the fuzzer never maps the memfd itself). */
    check(!mapped || count_memfd_maps(RAM_NAME) == 0);
    return 0;
}

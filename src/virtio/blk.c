#include "virtio/blk.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "util/log.h"

/* virtio_blk_config as laid out in the spec; little-endian host. */
struct __attribute__((packed)) blk_config {
    uint64_t capacity;
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t cylinders;
    uint8_t heads;
    uint8_t sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;
    uint8_t unused0;
    uint16_t num_queues;
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
};

struct vblk_queue;

struct vblk_req {
    struct bdev_req io;
    struct vblk_queue *q;
    struct vq_elem elem;
    struct blk_req req;          /* elem parsed; req.data is data */
    uint32_t written;            /* bytes put in the driver's buffers */
    struct iovec data[VQ_ELEM_MAX_IOV];
    struct vblk_req *next_free;
    struct blk_timing tm;
    struct vblk_req *round_next; /* taken in this round, not yet submitted */
};

struct vblk_queue {
    struct vblk *b;
    unsigned idx;
    struct event_loop *loop;
    struct bdev_queue *bq;
    struct vq vq;
    int kick_fd;
    struct el_watch watch;
    struct el_poller poller;
    bool running;
    bool want_notify;
    bool starved;                /* out of request slots */
    bool processing, again;      /* inside process(); more to do there */
    unsigned inflight;
    struct vblk_req *reqs, *free;
    struct blk_limits lim;       /* what requests are checked against, set at start */
    unsigned write_flags;        /* BDEV_F_FUA when the driver did not accept FLUSH */
    struct vblk_req *round;      /* requests for the back-end taken since the last unplug */
    struct blk_acct acct;
    /* Only for queue_stop's wait. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool draining;
};

struct vblk {
    struct virtio_dev dev;
    struct vblk_opts opts;
    struct bdev *bs;
    struct blk_config cfg;
    struct vblk_queue q[VBLK_MAX_QUEUES];
};

/* Requests taken per call before the loop goes back to its other work,
 * as net_rxtx.c's BUDGET: a driver refilling the ring with requests that
 * complete at once would otherwise hold the loop (with iothread=0 the
 * VMM's main loop) as long as it goes on. */
#define VBLK_BUDGET 256

static void process(struct vblk_queue *q);

static void finish_notify(struct vblk_queue *q)
{
    if (q->want_notify) {
        q->want_notify = false;
        bool sent = vq_should_notify(&q->vq);
        if (sent)
            q->b->dev.notify(q->b->dev.transport, q->idx);
        blk_acct_notified(&q->acct, sent);
    }
}

static void complete(struct vblk_req *r, uint8_t status)
{
    struct vblk_queue *q = r->q;
    *r->req.status = status;
    blk_acct_done(&q->acct, &r->tm, status == VIRTIO_BLK_S_OK);
    vq_push(&q->vq, r->elem.head, r->written + 1);
    q->want_notify = true;
    r->next_free = q->free;
    q->free = r;
    if (__atomic_sub_fetch(&q->inflight, 1, __ATOMIC_RELEASE) == 0 && q->draining) {
        pthread_mutex_lock(&q->stop_lock);
        pthread_cond_broadcast(&q->stop_cond);
        pthread_mutex_unlock(&q->stop_lock);
    }
}

/* In the back-end's completion batch: batch_end follows. */
static void io_done(struct bdev_req *io, int ret)
{
    if (ret < 0)
        blk_acct_host_error(&((struct vblk_req *)io)->q->acct, ret);
    complete((struct vblk_req *)io, ret == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
}

/* Starts one parsed request; returns its status if it completed at once,
 * or 0xFF if it went to the back-end. */
static uint8_t start(struct vblk_req *r)
{
    struct vblk_queue *q = r->q;
    const struct blk_req *req = &r->req;
    switch (req->type) {
    case VIRTIO_BLK_T_GET_ID: {
        uint8_t id[VBLK_ID_LEN] = {0};
        memcpy(id, q->b->opts.serial, strnlen(q->b->opts.serial, VBLK_ID_LEN));
        size_t len = req->in_data < sizeof(id) ? (size_t)req->in_data : sizeof(id);
        r->written = (uint32_t)iov_from_buf(req->data, req->ndata, 0, id, len);
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_IN:
        r->written = (uint32_t)req->len;
        r->io.op = BDEV_READ;
        break;
    case VIRTIO_BLK_T_OUT:
        r->io.op = BDEV_WRITE;
        break;
    case VIRTIO_BLK_T_FLUSH:
        r->io.op = BDEV_FLUSH;
        break;
    case VIRTIO_BLK_T_DISCARD:
        r->io.op = BDEV_DISCARD;
        break;
    default:
        r->io.op = BDEV_WRITE_ZEROES;
        break;
    }
    if (req->len == 0 && (r->io.op == BDEV_DISCARD || r->io.op == BDEV_WRITE_ZEROES))
        return VIRTIO_BLK_S_OK;
    r->io.flags = req->unmap ? BDEV_F_UNMAP : 0;
    if (r->io.op == BDEV_WRITE || r->io.op == BDEV_WRITE_ZEROES)
        r->io.flags |= q->write_flags;
    r->io.offset = req->offset;
    r->io.len = req->len;
    r->io.iov = r->data;
    r->io.iovcnt = req->ndata;
    bdev_submit(q->bq, &r->io);
    return 0xFF;
}

/* Takes one available chain and starts it: false when there is none to
 * take (no slot, none posted, or the queue broke). */
static bool take_one(struct vblk_queue *q, bool *empty)
{
    struct vblk *b = q->b;
    struct vblk_req *r = q->free;
    if (!r) {
        q->starved = true;   /* a completion batch restarts us */
        return false;
    }
    int got = vq_pop(&q->vq, &r->elem);
    if (got == 0) {
        *empty = true;
        return false;
    }
    if (got < 0) {
        b->dev.broken(b->dev.transport, q->vq.why);
        return false;
    }
    q->free = r->next_free;
    __atomic_add_fetch(&q->inflight, 1, __ATOMIC_RELAXED);
    r->written = 0;
    enum blk_reason why = blk_req_parse(&r->elem, &q->lim, &r->req);
    if (why != BLK_REQ_OK)
        blk_acct_refused(&q->acct, why);
    if (why == BLK_REQ_NO_HEADER || why == BLK_REQ_NO_STATUS) {
        /* There is no way to answer (5.2.6.1): the device needs a reset.
         * The chain is returned so the ring stays consistent. */
        q->vq.broken = true;
        q->vq.why = "virtio-blk request without header or status byte";
        vq_push(&q->vq, r->elem.head, 0);
        r->next_free = q->free;
        q->free = r;
        __atomic_sub_fetch(&q->inflight, 1, __ATOMIC_RELEASE);
        b->dev.broken(b->dev.transport, q->vq.why);
        return false;
    }
    r->tm.op = BLK_OP_NONE;
    if (why == BLK_REQ_OK)
        blk_acct_start(&q->acct, &r->tm, blk_op_of(r->req.type), r->req.len);
    uint8_t st = why == BLK_REQ_OK ? start(r) : blk_reason_status(why);
    if (st != 0xFF) {
        complete(r, st);
    } else if (r->tm.op != BLK_OP_NONE) {
        r->round_next = q->round;
        q->round = r;
    }
    return true;
}

/* Takes requests while any are posted, slots are free and the budget
 * lasts. */
static void take(struct vblk_queue *q, unsigned *budget)
{
    for (;;) {
        bool empty = false;
        vq_disable_kicks(&q->vq);
        while (*budget && take_one(q, &empty))
            (*budget)--;
        if (!empty)
            return;
        /* In a polling window the loop keeps looking: kicks stay off
         * until it ends (queue_poll_end re-arms them). */
        if (event_loop_polling(q->loop) || !vq_enable_kicks(&q->vq))
            return;
    }
}

/* The requests taken since the last unplug are about to reach the host. */
static void stamp_submitted(struct vblk_queue *q)
{
    if (!q->round)
        return;
    uint64_t t = blk_acct_submit_time(&q->acct);
    for (struct vblk_req *r = q->round; r; r = r->round_next)
        r->tm.t_sub = t;
    q->round = NULL;
}

static void process(struct vblk_queue *q)
{
    /* From a completion batch inside our own unplug: the loop below goes
     * on. */
    if (q->processing) {
        q->again = true;
        return;
    }
    q->processing = true;
    unsigned budget = VBLK_BUDGET;
    do {
        q->again = false;
        take(q, &budget);
        stamp_submitted(q);
        bdev_unplug(q->bq);
    } while (q->again && budget && q->running && !q->vq.broken);
    if (!budget && q->running) {
        /* Come back through the loop, after its other work. */
        uint64_t one = 1;
        (void)!write(q->kick_fd, &one, sizeof(one));
    }
    q->processing = false;
    finish_notify(q);
}

static void kick(void *opaque, uint32_t events)
{
    (void)events;
    struct vblk_queue *q = opaque;
    uint64_t v;
    if (read(q->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    blk_acct_kick(&q->acct);
    process(q);
}

static bool queue_poll(void *opaque)
{
    struct vblk_queue *q = opaque;
    bool did = bdev_queue_poll(q->bq);
    if (!q->starved && vq_has_work(&q->vq)) {
        process(q);
        did = true;
    }
    return did;
}

static void queue_poll_begin(void *opaque)
{
    bdev_queue_poll_begin(((struct vblk_queue *)opaque)->bq);
}

/* Work that arrived while notifications were off signalled nothing, so
 * it is done here, before the loop may sleep. */
static bool queue_poll_end(void *opaque)
{
    struct vblk_queue *q = opaque;
    bool did = false;
    if (bdev_queue_poll_end(q->bq))
        did = bdev_queue_poll(q->bq);
    if (vq_enable_kicks(&q->vq) && !q->starved) {
        process(q);
        did = true;
    }
    return did;
}

/* Runs on the queue's loop after each completion batch. */
static void batch_end(void *opaque)
{
    struct vblk_queue *q = opaque;
    /* Slots came back: take what the driver posted meanwhile. */
    if (q->starved && q->running) {
        q->starved = false;
        process(q);
    }
    finish_notify(q);
}

/* Queue state is the loop's: set and read there, never from the caller's
 * thread (a vCPU's, or vhost-user's socket), as virtio-net does. */
struct qcall {
    struct vblk_queue *q;
    const struct vq *vq;       /* starts */
    int kick_fd;
    uint64_t features;
    int ret;
    uint16_t last_avail;       /* stops */
};

static void start_on_loop(void *arg)
{
    struct qcall *a = arg;
    struct vblk_queue *q = a->q;
    struct bdev *bs = q->b->bs;
    q->vq = *a->vq;
    q->kick_fd = a->kick_fd;
    q->lim = (struct blk_limits){.capacity = bs->size, .align = bs->request_align, .ro = bs->ro,
                                 .features = a->features};
    /* A driver without FLUSH takes the disk for write-through and never
     * flushes: make it so, as QEMU's virtio_blk_set_status does. */
    q->write_flags = a->features & BIT(VIRTIO_BLK_F_FLUSH) ? 0 : BDEV_F_FUA;
    q->starved = q->want_notify = false;
    q->round = NULL;
    blk_acct_reset_transient(&q->acct);
    a->ret = event_loop_add(q->loop, &q->watch, q->kick_fd, EPOLLIN, kick, q);
    if (a->ret == 0) {
        q->running = true;
        q->poller = (struct el_poller){queue_poll, queue_poll_begin, queue_poll_end, q, NULL};
        event_loop_add_poller(q->loop, &q->poller);
        /* The driver may have queued requests before we listened. */
        process(q);
    }
}

static int blk_queue_start(struct virtio_dev *d, unsigned qi, const struct vq *vq, int kick_fd)
{
    struct vblk *b = (struct vblk *)d;
    if (qi >= b->opts.queues)
        return -1;
    struct qcall a = {.q = &b->q[qi], .vq = vq, .kick_fd = kick_fd, .features = d->features, .ret = -1};
    event_loop_call(a.q->loop, start_on_loop, &a);
    return a.ret;
}

static void stop_on_loop(void *arg)
{
    struct vblk_queue *q = ((struct qcall *)arg)->q;
    if (q->running) {
        event_loop_del(q->loop, &q->watch);
        event_loop_del_poller(q->loop, &q->poller);
    }
    q->running = false;
    pthread_mutex_lock(&q->stop_lock);
    q->draining = true;
    pthread_mutex_unlock(&q->stop_lock);
}

/* After the last completion: the loop has left the batch that completed
 * it (interrupt sent), so nothing runs for this queue any more. */
static void stopped_on_loop(void *arg)
{
    struct qcall *a = arg;
    a->q->draining = false;
    a->last_avail = a->q->vq.last_avail;
}

static uint16_t blk_queue_stop(struct virtio_dev *d, unsigned qi)
{
    struct vblk *b = (struct vblk *)d;
    struct qcall a = {.q = &b->q[qi]};
    struct vblk_queue *q = a.q;
    event_loop_call(q->loop, stop_on_loop, &a);
    if (event_loop_is_owner(q->loop)) {
        /* We are the loop (main-loop disks at VM teardown): run it. */
        while (q->inflight)
            event_loop_run_once(q->loop, -1);
    } else {
        pthread_mutex_lock(&q->stop_lock);
        while (__atomic_load_n(&q->inflight, __ATOMIC_ACQUIRE))
            pthread_cond_wait(&q->stop_cond, &q->stop_lock);
        pthread_mutex_unlock(&q->stop_lock);
    }
    event_loop_call(q->loop, stopped_on_loop, &a);
    return a.last_avail;
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
    struct vblk *b = (struct vblk *)d;
    memset(buf, 0, len);
    if (off < sizeof(b->cfg))
        memcpy(buf, (uint8_t *)&b->cfg + off, len < sizeof(b->cfg) - off ? len : sizeof(b->cfg) - off);
}

static void blk_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
    /* Only `writeback` is writable, and only with CONFIG_WCE, which we do
     * not offer: the cache mode is the host's choice. */
    (void)d, (void)off, (void)buf, (void)len;
}

static const struct virtio_dev_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .queue_start = blk_queue_start,
    .queue_stop = blk_queue_stop,
};

struct virtio_dev *vblk_dev(struct vblk *b)
{
    return &b->dev;
}

unsigned vblk_queues(const struct vblk *b)
{
    return b->opts.queues;
}

bool vblk_accounting(const struct vblk *b)
{
    return b->q[0].acct.on;
}

void vblk_queue_stats(const struct vblk *b, unsigned qi, struct blk_qstats_snap *s)
{
    const struct vblk_queue *q = &b->q[qi];
    blk_qstats_read(&q->acct.st, s);
    s->inflight = __atomic_load_n(&q->inflight, __ATOMIC_RELAXED);
}

void vblk_stats(const struct vblk *b, struct blk_qstats_snap *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (unsigned i = 0; i < b->opts.queues; i++) {
        struct blk_qstats_snap s;
        vblk_queue_stats(b, i, &s);
        blk_qstats_snap_add(sum, &s);
    }
}

struct vblk *vblk_new(const struct vblk_opts *opts, struct bdev *bs, struct event_loop *const loops[], char *err,
                      size_t errlen)
{
    if (opts->queues < 1 || opts->queues > VBLK_MAX_QUEUES) {
        snprintf(err, errlen, "disk %s: queues=%u: expected 1 to %u", bs->path, opts->queues, VBLK_MAX_QUEUES);
        return NULL;
    }
    struct vblk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->opts = *opts;
    b->bs = bs;
    bool acct = blk_acct_enabled();
    for (unsigned i = 0; i < opts->queues; i++) {
        struct vblk_queue *q = &b->q[i];
        blk_acct_init(&q->acct, acct);
        q->b = b;
        q->idx = i;
        q->kick_fd = -1;
        q->loop = loops[i];
        pthread_mutex_init(&q->stop_lock, NULL);
        pthread_cond_init(&q->stop_cond, NULL);
        q->reqs = calloc(VBLK_QUEUE_SIZE, sizeof(*q->reqs));
        if (!q->reqs) {
            snprintf(err, errlen, "out of memory");
            vblk_free(b);
            return NULL;
        }
        q->bq = bdev_queue_new(bs, q->loop, VBLK_QUEUE_SIZE, err, errlen);
        if (!q->bq) {
            vblk_free(b);
            return NULL;
        }
        bdev_queue_set_batch_end(q->bq, batch_end, q);
        for (unsigned k = 0; k < VBLK_QUEUE_SIZE; k++) {
            q->reqs[k].q = q;
            q->reqs[k].io.done = io_done;
            q->reqs[k].req.data = q->reqs[k].data;
            q->reqs[k].next_free = q->free;
            q->free = &q->reqs[k];
        }
    }

    struct blk_config *c = &b->cfg;
    c->capacity = bs->size / VBLK_SECTOR;
    c->seg_max = VBLK_QUEUE_SIZE - 2;
    c->blk_size = bs->block_size;
    c->writeback = 1;
    c->num_queues = (uint16_t)opts->queues;
    c->max_discard_sectors = VBLK_MAX_DISCARD_SECTORS;
    c->max_discard_seg = 1;
    c->discard_sector_alignment = bs->block_size / VBLK_SECTOR;
    c->max_write_zeroes_sectors = VBLK_MAX_DISCARD_SECTORS;
    c->max_write_zeroes_seg = 1;
    c->write_zeroes_may_unmap = 1;

    b->dev.ops = &blk_ops;
    b->dev.device_id = VIRTIO_ID_BLOCK;
    b->dev.num_queues = opts->queues;
    b->dev.queue_max = VBLK_QUEUE_SIZE;
    b->dev.config_len = sizeof(*c);
    b->dev.host_features = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_F_INDIRECT_DESC) | BIT(VIRTIO_F_EVENT_IDX) |
                           BIT(VIRTIO_BLK_F_SEG_MAX) | BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) |
                           BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    if (opts->queues > 1)
        b->dev.host_features |= BIT(VIRTIO_BLK_F_MQ);
    if (bs->ro)
        b->dev.host_features |= BIT(VIRTIO_BLK_F_RO);
    return b;
}

void vblk_free(struct vblk *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < VBLK_MAX_QUEUES; i++) {
        struct vblk_queue *q = &b->q[i];
        if (!q->b)
            continue;
        bdev_queue_free(q->bq);
        free(q->reqs);
        pthread_mutex_destroy(&q->stop_lock);
        pthread_cond_destroy(&q->stop_cond);
    }
    free(b);
}

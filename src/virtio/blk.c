#include "virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "iothread/iothread.h"
#include "util/log.h"

#define SECTOR 512ULL
#define HDR_LEN 16
#define MAX_DISCARD_SECTORS  (1u << 22)     /* 2 GiB per request */
#define MAX_BOUNCE           (64ULL << 20)
#define ZERO_CHUNK           (64u << 10)
#define ZERO_IOV             16

struct blk_hdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};

struct blk_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};
#define SEG_F_UNMAP 1

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
    struct aio_req aio;
    struct vblk_queue *q;
    struct vq_elem elem;
    uint8_t *status;
    uint32_t written;            /* bytes put in the driver's buffers */
    struct iovec data[VQ_ELEM_MAX_IOV];
    unsigned ndata;
    void *bounce;                /* aligned copy for O_DIRECT */
    bool bounce_to_guest;
    uint64_t zero_left;          /* write-zeroes done as writes */
    struct iovec own_iov[ZERO_IOV];  /* the device's own buffers: bounce, zeroes */
    struct vblk_req *next_free;
};

struct vblk_queue {
    struct vblk *b;
    unsigned idx;
    struct event_loop *loop;
    struct aio_engine *aio;
    struct vq vq;
    int kick_fd;
    struct el_watch watch;
    struct el_poller poller;
    bool running;
    bool want_notify;
    bool starved;                /* out of request slots */
    unsigned inflight;
    struct vblk_req *reqs, *free;
    /* Only for queue_stop's wait. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool draining;
};

struct vblk {
    struct virtio_dev dev;
    struct vblk_opts opts;
    struct blk_file file;
    struct blk_config cfg;
    unsigned niothreads;
    struct iothread threads[VBLK_MAX_IOTHREADS];
    struct vblk_queue q[VBLK_MAX_QUEUES];
    uint8_t *zeroes;
};

static void process(struct vblk_queue *q);

static void finish_notify(struct vblk_queue *q)
{
    if (q->want_notify) {
        q->want_notify = false;
        if (vq_should_notify(&q->vq))
            q->b->dev.notify(q->b->dev.transport, q->idx);
    }
}

static void complete(struct vblk_req *r, uint8_t status)
{
    struct vblk_queue *q = r->q;
    if (r->bounce) {
        if (r->bounce_to_guest && status == VIRTIO_BLK_S_OK)
            iov_from_buf(r->data, r->ndata, 0, r->bounce, r->aio.len);
        free(r->bounce);
        r->bounce = NULL;
    }
    *r->status = status;
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

static void submit_zero_chunk(struct vblk_req *r);

static void aio_done(struct aio_req *a)
{
    struct vblk_req *r = (struct vblk_req *)a;
    struct vblk_queue *q = r->q;
    if (a->op == AIO_FALLOCATE && r->zero_left && a->result == -EOPNOTSUPP) {
        /* No ZERO_RANGE here (tmpfs, some block devices): write zeroes. */
        submit_zero_chunk(r);
        return;
    }
    if (a->op == AIO_WRITE && r->zero_left && a->result >= 0) {
        r->zero_left -= (uint64_t)a->result;
        if (r->zero_left) {
            a->offset += (uint64_t)a->result;
            submit_zero_chunk(r);
            return;
        }
    }
    uint8_t status = VIRTIO_BLK_S_OK;
    if (a->result < 0) {
        /* A discard is a hint: if the host cannot, nothing was promised. */
        bool hint = a->op == AIO_FALLOCATE && !r->zero_left &&
                    (a->result == -EOPNOTSUPP || a->result == -ENOSYS);
        status = hint ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
    }
    complete(r, status);
    /* Called from the engine's completion batch: notify at its end. */
    if (q->starved && q->running) {
        q->starved = false;
        process(q);
    }
}

static void submit_zero_chunk(struct vblk_req *r)
{
    uint64_t len = r->zero_left < (uint64_t)ZERO_CHUNK * ZERO_IOV ? r->zero_left : (uint64_t)ZERO_CHUNK * ZERO_IOV;
    unsigned n = 0;
    for (uint64_t done = 0; done < len; n++) {
        uint64_t c = len - done < ZERO_CHUNK ? len - done : ZERO_CHUNK;
        r->own_iov[n] = (struct iovec){r->q->b->zeroes, (size_t)c};
        done += c;
    }
    r->aio.op = AIO_WRITE;
    r->aio.iov = r->own_iov;
    r->aio.iovcnt = n;
    aio_submit(r->q->aio, &r->aio);
    aio_flush(r->q->aio);
}

/* Whether [sector, +bytes) is inside the disk, without overflow. */
static bool in_range(const struct vblk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t cap = b->file.size / SECTOR;
    return sector <= cap && bytes / SECTOR <= cap - sector && bytes % SECTOR == 0;
}

static bool dio_aligned(const struct vblk *b, const struct iovec *iov, unsigned n)
{
    uint32_t a = b->file.dio_align;
    for (unsigned i = 0; i < n; i++)
        if (((uintptr_t)iov[i].iov_base | iov[i].iov_len) & (a - 1))
            return false;
    return true;
}

static uint8_t start_rw(struct vblk_req *r, bool write, uint64_t sector, uint64_t len)
{
    struct vblk *b = r->q->b;
    if (!in_range(b, sector, len))
        return VIRTIO_BLK_S_IOERR;
    uint64_t off = sector * SECTOR;
    r->aio.op = write ? AIO_WRITE : AIO_READ;
    r->aio.fd = b->file.fd;
    r->aio.offset = off;
    r->aio.iov = r->data;
    r->aio.iovcnt = r->ndata;
    if (b->file.dio_align) {
        /* O_DIRECT wants block-aligned offsets and lengths: a request that
         * is not cannot be done without read-modify-write. */
        if ((off | len) & (b->file.logical_block - 1))
            return VIRTIO_BLK_S_IOERR;
        if (!dio_aligned(b, r->data, r->ndata)) {
            if (len > MAX_BOUNCE || posix_memalign(&r->bounce, 4096, len ? len : 4096))
                return VIRTIO_BLK_S_IOERR;
            if (write)
                iov_to_buf(r->data, r->ndata, 0, r->bounce, len);
            r->bounce_to_guest = !write;
            r->own_iov[0] = (struct iovec){r->bounce, (size_t)len};
            r->aio.iov = r->own_iov;
            r->aio.iovcnt = 1;
        }
    }
    if (!write)
        r->written = (uint32_t)len;
    aio_submit(r->q->aio, &r->aio);
    return 0xFF;
}

static uint8_t start_discard(struct vblk_req *r, const struct blk_hdr *h, uint64_t payload)
{
    struct vblk *b = r->q->b;
    uint64_t feature = h->type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
    if (!(b->dev.features & BIT(feature)))
        return VIRTIO_BLK_S_UNSUPP;
    if (b->opts.ro)
        return VIRTIO_BLK_S_IOERR;
    /* We offer one segment per request (max_*_seg = 1). */
    if (payload != sizeof(struct blk_seg))
        return payload % sizeof(struct blk_seg) || payload == 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_UNSUPP;
    struct blk_seg s;
    iov_to_buf(r->elem.iov, r->elem.out_num, HDR_LEN, &s, sizeof(s));
    if (s.num_sectors > MAX_DISCARD_SECTORS || !in_range(b, s.sector, (uint64_t)s.num_sectors * SECTOR))
        return VIRTIO_BLK_S_IOERR;
    if (h->type == VIRTIO_BLK_T_DISCARD && (s.flags & ~0u))
        return VIRTIO_BLK_S_UNSUPP;
    if (h->type == VIRTIO_BLK_T_WRITE_ZEROES && (s.flags & ~(uint32_t)SEG_F_UNMAP))
        return VIRTIO_BLK_S_UNSUPP;
    if (s.num_sectors == 0)
        return VIRTIO_BLK_S_OK;
    r->aio.op = AIO_FALLOCATE;
    r->aio.fd = b->file.fd;
    r->aio.offset = s.sector * SECTOR;
    r->aio.len = (uint64_t)s.num_sectors * SECTOR;
    bool punch = h->type == VIRTIO_BLK_T_DISCARD || (s.flags & SEG_F_UNMAP);
    r->aio.falloc_mode = FALLOC_FL_KEEP_SIZE | (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
    if (h->type == VIRTIO_BLK_T_WRITE_ZEROES)
        r->zero_left = r->aio.len;
    aio_submit(r->q->aio, &r->aio);
    return 0xFF;
}

/* Starts one request; returns its status if it completed at once, or 0xFF
 * if it went to the disk. */
static uint8_t start(struct vblk_req *r)
{
    struct vblk *b = r->q->b;
    struct vq_elem *e = &r->elem;
    struct blk_hdr h;
    iov_to_buf(e->iov, e->out_num, 0, &h, sizeof(h));
    uint64_t out_data = e->out_len - HDR_LEN, in_data = e->in_len - 1;
    const struct iovec *in_iov = e->iov + e->out_num;
    int n;
    switch (h.type) {
    case VIRTIO_BLK_T_IN:
        /* A read's data buffers must be device-writable. */
        if (out_data)
            return VIRTIO_BLK_S_IOERR;
        n = iov_slice(in_iov, e->in_num, 0, in_data, r->data, VQ_ELEM_MAX_IOV);
        if (n < 0)
            return VIRTIO_BLK_S_IOERR;
        r->ndata = (unsigned)n;
        return start_rw(r, false, h.sector, in_data);
    case VIRTIO_BLK_T_OUT:
        if (in_data)
            return VIRTIO_BLK_S_IOERR;
        if (b->opts.ro)
            return VIRTIO_BLK_S_IOERR;
        n = iov_slice(e->iov, e->out_num, HDR_LEN, out_data, r->data, VQ_ELEM_MAX_IOV);
        if (n < 0)
            return VIRTIO_BLK_S_IOERR;
        r->ndata = (unsigned)n;
        return start_rw(r, true, h.sector, out_data);
    case VIRTIO_BLK_T_FLUSH:
        if (!(b->dev.features & BIT(VIRTIO_BLK_F_FLUSH)))
            return VIRTIO_BLK_S_UNSUPP;
        r->aio.op = AIO_FDATASYNC;
        r->aio.fd = b->file.fd;
        aio_submit(r->q->aio, &r->aio);
        return 0xFF;
    case VIRTIO_BLK_T_GET_ID: {
        if (out_data)
            return VIRTIO_BLK_S_IOERR;
        uint8_t id[VBLK_SERIAL_LEN] = {0};
        memcpy(id, b->opts.serial, strnlen(b->opts.serial, VBLK_SERIAL_LEN));
        size_t len = in_data < sizeof(id) ? (size_t)in_data : sizeof(id);
        r->written = (uint32_t)iov_from_buf(in_iov, e->in_num, 0, id, len);
        return VIRTIO_BLK_S_OK;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (in_data)
            return VIRTIO_BLK_S_IOERR;
        return start_discard(r, &h, out_data);
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
}

/* The status byte is the last byte of the device-writable part. */
static uint8_t *status_byte(const struct vq_elem *e)
{
    for (unsigned i = e->out_num + e->in_num; i > e->out_num; i--) {
        const struct iovec *v = &e->iov[i - 1];
        if (v->iov_len)
            return (uint8_t *)v->iov_base + v->iov_len - 1;
    }
    return NULL;
}

static void process(struct vblk_queue *q)
{
    struct vblk *b = q->b;
    for (;;) {
        vq_disable_kicks(&q->vq);
        for (;;) {
            struct vblk_req *r = q->free;
            if (!r) {
                q->starved = true;   /* a completion restarts us */
                goto out;
            }
            int got = vq_pop(&q->vq, &r->elem);
            if (got == 0)
                break;
            if (got < 0) {
                b->dev.broken(b->dev.transport, q->vq.why);
                goto out;
            }
            q->free = r->next_free;
            __atomic_add_fetch(&q->inflight, 1, __ATOMIC_RELAXED);
            r->bounce = NULL;
            r->written = 0;
            r->zero_left = 0;
            r->status = status_byte(&r->elem);
            if (r->elem.out_len < HDR_LEN || !r->status) {
                /* Without a header or a status byte there is no way to
                 * answer (5.2.6.1): the device needs a reset.  The chain
                 * is returned so the ring stays consistent. */
                q->vq.broken = true;
                q->vq.why = "virtio-blk request without header or status byte";
                vq_push(&q->vq, r->elem.head, 0);
                r->next_free = q->free;
                q->free = r;
                __atomic_sub_fetch(&q->inflight, 1, __ATOMIC_RELEASE);
                b->dev.broken(b->dev.transport, q->vq.why);
                goto out;
            }
            uint8_t s = start(r);
            if (s != 0xFF)
                complete(r, s);
        }
        /* In a polling window the loop keeps looking: kicks stay off
         * until it ends (queue_poll_end re-arms them). */
        if (q->loop->polling || !vq_enable_kicks(&q->vq))
            break;
    }
out:
    aio_flush(q->aio);
    finish_notify(q);
}

static void kick(void *opaque, uint32_t events)
{
    (void)events;
    struct vblk_queue *q = opaque;
    uint64_t v;
    if (read(q->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    process(q);
}

static bool queue_poll(void *opaque)
{
    struct vblk_queue *q = opaque;
    bool did = aio_poll(q->aio);
    if (!q->starved && vq_has_work(&q->vq)) {
        process(q);
        did = true;
    }
    return did;
}

static void queue_poll_begin(void *opaque)
{
    aio_poll_begin(((struct vblk_queue *)opaque)->aio);
}

/* Work that arrived while notifications were off signalled nothing, so
 * it is done here, before the loop may sleep. */
static bool queue_poll_end(void *opaque)
{
    struct vblk_queue *q = opaque;
    bool did = false;
    if (aio_poll_end(q->aio))
        did = aio_poll(q->aio);
    if (vq_enable_kicks(&q->vq) && !q->starved) {
        process(q);
        did = true;
    }
    return did;
}

/* Runs on the queue's loop after each completion batch. */
static void batch_end(void *opaque)
{
    finish_notify(opaque);
}

struct start_args {
    struct vblk_queue *q;
    int ret;
};

static void start_on_loop(void *arg)
{
    struct start_args *a = arg;
    struct vblk_queue *q = a->q;
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
    struct vblk_queue *q = &b->q[qi];
    q->vq = *vq;
    q->kick_fd = kick_fd;
    q->starved = q->want_notify = false;
    struct start_args a = {q, -1};
    event_loop_call(q->loop, start_on_loop, &a);
    return a.ret;
}

static void stop_on_loop(void *arg)
{
    struct vblk_queue *q = arg;
    if (q->running) {
        event_loop_del(q->loop, &q->watch);
        event_loop_del_poller(q->loop, &q->poller);
    }
    q->running = false;
    pthread_mutex_lock(&q->stop_lock);
    q->draining = true;
    pthread_mutex_unlock(&q->stop_lock);
}

static uint16_t blk_queue_stop(struct virtio_dev *d, unsigned qi)
{
    struct vblk *b = (struct vblk *)d;
    struct vblk_queue *q = &b->q[qi];
    event_loop_call(q->loop, stop_on_loop, q);
    if (q->loop->owner_set && pthread_equal(q->loop->owner, pthread_self())) {
        /* We are the loop (main-loop disks at VM teardown): run it. */
        while (q->inflight)
            event_loop_run_once(q->loop, -1);
    } else {
        pthread_mutex_lock(&q->stop_lock);
        while (__atomic_load_n(&q->inflight, __ATOMIC_ACQUIRE))
            pthread_cond_wait(&q->stop_cond, &q->stop_lock);
        pthread_mutex_unlock(&q->stop_lock);
    }
    q->draining = false;
    return q->vq.last_avail;
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

void vblk_opts_defaults(struct vblk_opts *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    o->path = path;
    o->iothreads = VBLK_DEFAULT_IOTHREADS;
    o->cache = BLK_CACHE_WRITEBACK;
    o->aio = AIO_AUTO;
    o->poll_us = vblk_default_poll_us();
}

unsigned vblk_default_poll_us(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= VBLK_POLL_MIN_CPUS ? VBLK_POLL_US : 0;
}

struct virtio_dev *vblk_dev(struct vblk *b)
{
    return &b->dev;
}

void vblk_describe(const struct vblk *b, char *buf, size_t len)
{
    char where[64];
    if (b->niothreads)
        snprintf(where, sizeof(where), "%u I/O thread%s, poll %u us", b->niothreads,
                 b->niothreads > 1 ? "s" : "", b->opts.poll_us);
    else
        snprintf(where, sizeof(where), "the main loop");
    snprintf(buf, len, "%s (%s%llu MiB, cache=%s, aio=%s%s, %u queue%s on %s)", b->opts.path,
             b->opts.ro ? "read-only, " : "", (unsigned long long)(b->file.size >> 20),
             b->opts.cache == BLK_CACHE_NONE ? "none" : "writeback", aio_engine_name(b->q[0].aio),
             aio_engine_inline(b->q[0].aio) ? " (in memory: small requests inline)" : "",
             b->opts.queues, b->opts.queues > 1 ? "s" : "", where);
}

struct vblk *vblk_new(const struct vblk_opts *opts, struct event_loop *main_loop, char *err, size_t err_len)
{
    if (opts->queues < 1 || opts->queues > VBLK_MAX_QUEUES) {
        snprintf(err, err_len, "disk %s: queues=%u: expected 1 to %u", opts->path, opts->queues, VBLK_MAX_QUEUES);
        return NULL;
    }
    if (opts->iothreads > VBLK_MAX_IOTHREADS) {
        snprintf(err, err_len, "disk %s: iothread=%u: expected 0 to %u", opts->path, opts->iothreads,
                 VBLK_MAX_IOTHREADS);
        return NULL;
    }
    struct vblk *b = calloc(1, sizeof(*b));
    if (!b) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    b->opts = *opts;
    b->file.fd = -1;
    if (blk_file_open(&b->file, opts->path, opts->ro, opts->cache, err, err_len) < 0) {
        free(b);
        return NULL;
    }
    b->zeroes = calloc(1, ZERO_CHUNK);
    /* More threads than queues would idle. */
    b->niothreads = opts->iothreads < opts->queues ? opts->iothreads : opts->queues;
    for (unsigned i = 0; i < b->niothreads; i++) {
        char name[16];
        snprintf(name, sizeof(name), "vireo-io%u", i % 100u);
        if (iothread_start(&b->threads[i], name, (uint64_t)opts->poll_us * 1000,
                           opts->pin_iothreads ? &opts->iothread_cpus : NULL) < 0) {
            snprintf(err, err_len, "disk %s: cannot start an I/O thread: %s", opts->path, strerror(errno));
            vblk_free(b);
            return NULL;
        }
    }
    for (unsigned i = 0; i < opts->queues; i++) {
        struct vblk_queue *q = &b->q[i];
        q->b = b;
        q->idx = i;
        q->kick_fd = -1;
        q->loop = b->niothreads ? &b->threads[i % b->niothreads].loop : main_loop;
        pthread_mutex_init(&q->stop_lock, NULL);
        pthread_cond_init(&q->stop_cond, NULL);
        q->reqs = calloc(VBLK_QUEUE_SIZE, sizeof(*q->reqs));
        char why[256];
        q->aio = q->reqs && b->zeroes ? aio_engine_new(q->loop, opts->aio, VBLK_QUEUE_SIZE, why, sizeof(why)) : NULL;
        if (!q->aio) {
            snprintf(err, err_len, "disk %s: %s", opts->path, q->reqs ? why : "out of memory");
            vblk_free(b);
            return NULL;
        }
        aio_engine_set_batch_end(q->aio, batch_end, q);
        aio_engine_register_fd(q->aio, b->file.fd);
        if (i == 0 && opts->aio == AIO_AUTO && strcmp(aio_engine_name(q->aio), "io_uring"))
            vlog_info("disk %s: %susing aio=threads", opts->path, why);
        for (unsigned k = 0; k < VBLK_QUEUE_SIZE; k++) {
            q->reqs[k].q = q;
            q->reqs[k].aio.done = aio_done;
            q->reqs[k].next_free = q->free;
            q->free = &q->reqs[k];
        }
    }

    struct blk_config *c = &b->cfg;
    c->capacity = b->file.size / SECTOR;
    c->seg_max = VBLK_QUEUE_SIZE - 2;
    c->blk_size = b->file.logical_block;
    c->writeback = 1;
    c->num_queues = (uint16_t)opts->queues;
    c->max_discard_sectors = MAX_DISCARD_SECTORS;
    c->max_discard_seg = 1;
    c->discard_sector_alignment = b->file.logical_block / SECTOR;
    c->max_write_zeroes_sectors = MAX_DISCARD_SECTORS;
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
    if (opts->ro)
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
        if (q->aio) {
            /* The engine's watch lives on its loop: remove it there. */
            struct aio_engine *e = q->aio;
            event_loop_call(q->loop, (void (*)(void *))aio_engine_free, e);
        }
        free(q->reqs);
        pthread_mutex_destroy(&q->stop_lock);
        pthread_cond_destroy(&q->stop_cond);
    }
    for (unsigned i = 0; i < b->niothreads; i++)
        iothread_stop(&b->threads[i]);
    blk_file_close(&b->file);
    free(b->zeroes);
    free(b);
}

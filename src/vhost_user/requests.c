#include "vhost_user/requests.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vhost_user/backend.h"

#define OUR_PROTOCOL_FEATURES                                                                         \
    (BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                           \
     BIT(VHOST_USER_PROTOCOL_F_CONFIG) | BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE))

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static const char *fmt(struct vu_msg_ctx *c, const char *f, ...) __attribute__((format(printf, 2, 3)));

static const char *fmt(struct vu_msg_ctx *c, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(c->why, c->why_len, f, ap);
    va_end(ap);
    return c->why;
}

/* ---- Queues ------------------------------------------------------------------ */

static void stop_queue(struct vu_backend *b, unsigned i)
{
    struct vu_queue *q = &b->q[i];
    if (!q->started)
        return;
    q->base = b->dev->ops->queue_stop(b->dev, i);
    q->started = false;
}

/* A ring runs once it has rings, a kick fd and (with protocol features)
 * has been enabled.  NULL if it runs or is not ready yet. */
static const char *maybe_start(struct vu_backend *b, unsigned i)
{
    struct vu_queue *q = &b->q[i];
    bool enabled = (b->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)) ? q->enabled : true;
    if (q->started || !enabled || q->kick_fd < 0 || !q->addr_set || !b->mem.nregions)
        return NULL;
    uint16_t n = q->num;
    void *desc = vu_mem_uva_ptr(&b->mem, q->addr.desc, VQ_DESC_BYTES(n));
    void *avail = vu_mem_uva_ptr(&b->mem, q->addr.avail, VQ_AVAIL_BYTES(n));
    void *used = vu_mem_uva_ptr(&b->mem, q->addr.used, VQ_USED_BYTES(n));
    if (!desc || !avail || !used)
        return !desc ? "descriptor table outside the shared memory"
               : !avail ? "available ring outside the shared memory" : "used ring outside the shared memory";
    if (vq_init(&q->vq, &b->mem.map, n, desc, avail, used, b->dev->features & BIT(VIRTIO_F_EVENT_IDX)) < 0)
        return "ring misaligned, or its size unset";
    vq_set_base(&q->vq, q->base);
    if (b->dev->ops->queue_start(b->dev, i, &q->vq, q->kick_fd) < 0)
        return "the device cannot start the ring";
    q->started = true;
    atomic_store(&b->broken_logged, false);
    return NULL;
}

static const char *start_queue(struct vu_msg_ctx *c, unsigned i)
{
    const char *why = maybe_start(c->b, i);
    return why ? fmt(c, "queue %u: %s", i, why) : NULL;
}

void vu_backend_reset(struct vu_backend *b)
{
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
        struct vu_queue *q = &b->q[i];
        if (i < b->dev->num_queues)
            stop_queue(b, i);
        close_fd(&q->kick_fd);
        pthread_mutex_lock(&q->fd_lock);
        close_fd(&q->call_fd);
        close_fd(&q->err_fd);
        pthread_mutex_unlock(&q->fd_lock);
        q->num = 0;
        q->base = 0;
        q->addr_set = q->enabled = false;
    }
    vu_mem_unmap(&b->mem);
    b->features = 0;
    b->protocol_features = 0;
    b->dev->features = 0;
}

/* The queue a state, address or fd request names; NULL (and why) if there
 * is no such queue. */
static struct vu_queue *queue_of(struct vu_msg_ctx *c, uint32_t index, const char **why)
{
    unsigned nq = c->b->dev->num_queues;
    if (index < nq)
        return &c->b->q[index];
    *why = fmt(c, "queue %u does not exist (%u queues)", index, nq);
    return NULL;
}

/* ---- Handlers, one per request ------------------------------------------------ */

static uint64_t offered(const struct vu_backend *b)
{
    return b->dev->host_features | BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

static const char *reply_u64(struct vu_msg_ctx *c, uint64_t v)
{
    c->reply->p.u64 = v;
    c->reply->hdr.size = 8;
    return NULL;
}

static const char *get_features(struct vu_msg_ctx *c)
{
    return reply_u64(c, offered(c->b));
}

static const char *set_features(struct vu_msg_ctx *c)
{
    uint64_t f = c->m->p.u64;
    if (f & ~offered(c->b))
        return fmt(c, "features 0x%llx were not offered", (unsigned long long)(f & ~offered(c->b)));
    c->b->features = f;
    c->b->dev->features = f & ~BIT(VHOST_USER_F_PROTOCOL_FEATURES);
    return NULL;
}

static const char *get_protocol_features(struct vu_msg_ctx *c)
{
    return reply_u64(c, OUR_PROTOCOL_FEATURES);
}

static const char *set_protocol_features(struct vu_msg_ctx *c)
{
    uint64_t f = c->m->p.u64;
    if (f & ~OUR_PROTOCOL_FEATURES)
        return fmt(c, "protocol features 0x%llx were not offered",
                   (unsigned long long)(f & ~OUR_PROTOCOL_FEATURES));
    c->b->protocol_features = f;
    return NULL;
}

static const char *set_owner(struct vu_msg_ctx *c)
{
    (void)c;
    return NULL;
}

static const char *reset(struct vu_msg_ctx *c)
{
    vu_backend_reset(c->b);
    return NULL;
}

static const char *get_queue_num(struct vu_msg_ctx *c)
{
    return reply_u64(c, c->b->dev->num_queues);
}

static const char *set_mem_table(struct vu_msg_ctx *c)
{
    struct vu_backend *b = c->b;
    struct vu_mem nm;
    const char *why = vu_mem_map(&nm, &c->m->p.mem, c->m->hdr.size, c->fds, c->nfds, b->fault_fd, c->why,
                                 c->why_len);
    if (why)
        return why;
    /* The queues hold pointers into the old mappings: pause them. */
    for (unsigned i = 0; i < b->dev->num_queues; i++)
        stop_queue(b, i);
    vu_mem_unmap(&b->mem);
    b->mem = nm;
    /* Rings that were running resume; rings set up before any table was
     * there can start now.  One that cannot stays stopped: the table
     * itself is in force, and the front-end hears of the ring when it
     * touches it. */
    for (unsigned i = 0; i < b->dev->num_queues; i++) {
        const char *e = maybe_start(b, i);
        if (e)
            vu_complain(b, "queue %u stays stopped under the new memory table: %s", i, e);
    }
    return NULL;
}

/* The queue a SET_VRING_NUM/BASE names, which must be stopped: its
 * geometry is the device's while it runs.  NULL and why if not. */
static struct vu_queue *stopped_queue(struct vu_msg_ctx *c, const char *what, const char **why)
{
    struct vu_queue *q = queue_of(c, c->m->p.state.index, why);
    if (q && q->started) {
        *why = fmt(c, "%s changed while the ring runs", what);
        return NULL;
    }
    return q;
}

static const char *set_vring_num(struct vu_msg_ctx *c)
{
    const char *why;
    struct vu_queue *q = stopped_queue(c, "ring size", &why);
    uint32_t num = c->m->p.state.num;
    if (!q)
        return why;
    if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) || num > c->b->dev->queue_max)
        return fmt(c, "ring size %u (a power of 2 up to %u)", num, c->b->dev->queue_max);
    q->num = (uint16_t)num;
    return NULL;
}

static const char *set_vring_base(struct vu_msg_ctx *c)
{
    const char *why;
    struct vu_queue *q = stopped_queue(c, "ring base", &why);
    uint32_t num = c->m->p.state.num;
    if (!q)
        return why;
    if (num > 0xFFFF)
        return fmt(c, "ring base %u (16 bits)", num);
    q->base = (uint16_t)num;
    return NULL;
}

/* Stops the ring; it restarts with the next SET_VRING_KICK. */
static const char *get_vring_base(struct vu_msg_ctx *c)
{
    const char *why;
    uint32_t index = c->m->p.state.index;
    struct vu_queue *q = queue_of(c, index, &why);
    if (!q)
        return why;
    stop_queue(c->b, index);
    close_fd(&q->kick_fd);
    c->reply->p.state.index = index;
    c->reply->p.state.num = q->base;
    c->reply->hdr.size = sizeof(c->reply->p.state);
    return NULL;
}

static const char *set_vring_enable(struct vu_msg_ctx *c)
{
    const char *why;
    uint32_t index = c->m->p.state.index;
    struct vu_queue *q = queue_of(c, index, &why);
    if (!q)
        return why;
    q->enabled = c->m->p.state.num != 0;
    if (!q->enabled)
        stop_queue(c->b, index);
    return start_queue(c, index);
}

static const char *set_vring_addr(struct vu_msg_ctx *c)
{
    const char *why;
    struct vu_queue *q = queue_of(c, c->m->p.addr.index, &why);
    if (!q)
        return why;
    if (q->started)
        return "ring addresses changed while the ring runs";
    q->addr = c->m->p.addr;
    q->addr_set = true;
    return NULL;
}

/* The queue and the fd (-1 for NOFD) of a SET_VRING_KICK/CALL/ERR; the
 * fd becomes the handler's. */
static struct vu_queue *vring_fd(struct vu_msg_ctx *c, int *fd, const char **why)
{
    unsigned i = (unsigned)(c->m->p.u64 & VHOST_USER_VRING_IDX_MASK);
    bool nofd = c->m->p.u64 & VHOST_USER_VRING_NOFD;
    struct vu_queue *q = queue_of(c, i, why);
    if (!q)
        return NULL;
    if (nofd ? c->nfds != 0 : c->nfds != 1) {
        *why = nofd ? "a file descriptor despite NOFD" : "no file descriptor and no NOFD";
        return NULL;
    }
    *fd = nofd ? -1 : c->fds[0];
    c->fds_taken = true;
    return q;
}

static const char *set_vring_kick(struct vu_msg_ctx *c)
{
    const char *why;
    int fd;
    struct vu_queue *q = vring_fd(c, &fd, &why);
    if (!q)
        return why;
    unsigned i = (unsigned)(q - c->b->q);
    if (fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    stop_queue(c->b, i);
    close_fd(&q->kick_fd);
    q->kick_fd = fd;
    /* Polling without a kick fd (NOFD) is not offered. */
    if (fd < 0)
        return fmt(c, "queue %u: polling (NOFD kick) is not offered", i);
    return start_queue(c, i);
}

static const char *set_signal_fd(struct vu_msg_ctx *c, bool call)
{
    const char *why;
    int fd;
    struct vu_queue *q = vring_fd(c, &fd, &why);
    if (!q)
        return why;
    pthread_mutex_lock(&q->fd_lock);
    int *slot = call ? &q->call_fd : &q->err_fd;
    close_fd(slot);
    *slot = fd;
    pthread_mutex_unlock(&q->fd_lock);
    return NULL;
}

static const char *set_vring_call(struct vu_msg_ctx *c)
{
    return set_signal_fd(c, true);
}

static const char *set_vring_err(struct vu_msg_ctx *c)
{
    return set_signal_fd(c, false);
}

/* NULL if the config request's range and payload agree with the device. */
static const char *config_range(struct vu_msg_ctx *c)
{
    const struct vhost_user_config *cf = &c->m->p.config;
    uint32_t size = c->m->hdr.size, len = c->b->dev->config_len;
    if (size < 12 || cf->size > VHOST_USER_CONFIG_MAX || size != 12 + cf->size)
        return fmt(c, "config payload of %u bytes for %u bytes of config space", size,
                   size < 12 ? 0 : cf->size);
    if (cf->offset > len || cf->size > len - cf->offset)
        return fmt(c, "config bytes %u+%u outside the device's %u", cf->offset, cf->size, len);
    return NULL;
}

static const char *get_config(struct vu_msg_ctx *c)
{
    const char *why = config_range(c);
    if (why)
        return why;
    const struct vhost_user_config *cf = &c->m->p.config;
    c->reply->p.config = *cf;
    c->b->dev->ops->config_read(c->b->dev, cf->offset, c->reply->p.config.payload, cf->size);
    c->reply->hdr.size = c->m->hdr.size;
    return NULL;
}

static const char *set_config(struct vu_msg_ctx *c)
{
    const char *why = config_range(c);
    if (why)
        return why;
    const struct vhost_user_config *cf = &c->m->p.config;
    c->b->dev->ops->config_write(c->b->dev, cf->offset, cf->payload, cf->size);
    return NULL;
}

/* ---- The table ----------------------------------------------------------------- */

#define STATE sizeof(struct vhost_user_state)

static const struct vu_request requests[] = {
    [VHOST_USER_GET_FEATURES] = {"GET_FEATURES", 0, true, 0, get_features},
    [VHOST_USER_SET_FEATURES] = {"SET_FEATURES", 8, false, 0, set_features},
    [VHOST_USER_SET_OWNER] = {"SET_OWNER", 0, false, 0, set_owner},
    [VHOST_USER_RESET_OWNER] = {"RESET_OWNER", 0, false, 0, reset},
    [VHOST_USER_SET_MEM_TABLE] = {"SET_MEM_TABLE", VU_SIZE_VARIABLE, false, VHOST_USER_MAX_REGIONS, set_mem_table},
    [VHOST_USER_SET_VRING_NUM] = {"SET_VRING_NUM", STATE, false, 0, set_vring_num},
    [VHOST_USER_SET_VRING_ADDR] = {"SET_VRING_ADDR", sizeof(struct vhost_user_addr), false, 0, set_vring_addr},
    [VHOST_USER_SET_VRING_BASE] = {"SET_VRING_BASE", STATE, false, 0, set_vring_base},
    [VHOST_USER_GET_VRING_BASE] = {"GET_VRING_BASE", STATE, true, 0, get_vring_base},
    [VHOST_USER_SET_VRING_KICK] = {"SET_VRING_KICK", 8, false, 1, set_vring_kick},
    [VHOST_USER_SET_VRING_CALL] = {"SET_VRING_CALL", 8, false, 1, set_vring_call},
    [VHOST_USER_SET_VRING_ERR] = {"SET_VRING_ERR", 8, false, 1, set_vring_err},
    [VHOST_USER_GET_PROTOCOL_FEATURES] = {"GET_PROTOCOL_FEATURES", 0, true, 0, get_protocol_features},
    [VHOST_USER_SET_PROTOCOL_FEATURES] = {"SET_PROTOCOL_FEATURES", 8, false, 0, set_protocol_features},
    [VHOST_USER_GET_QUEUE_NUM] = {"GET_QUEUE_NUM", 0, true, 0, get_queue_num},
    [VHOST_USER_SET_VRING_ENABLE] = {"SET_VRING_ENABLE", STATE, false, 0, set_vring_enable},
    [VHOST_USER_GET_CONFIG] = {"GET_CONFIG", VU_SIZE_VARIABLE, true, 0, get_config},
    [VHOST_USER_SET_CONFIG] = {"SET_CONFIG", VU_SIZE_VARIABLE, false, 0, set_config},
    [VHOST_USER_RESET_DEVICE] = {"RESET_DEVICE", 0, false, 0, reset},
};

uint32_t vu_request_limit(void)
{
    return sizeof(requests) / sizeof(requests[0]);
}

const struct vu_request *vu_request_find(uint32_t req)
{
    return req < vu_request_limit() && requests[req].exec ? &requests[req] : NULL;
}

/* NULL when the message was carried out; else why it was refused. */
static const char *dispatch(const struct vu_request *rq, struct vu_msg_ctx *c)
{
    const struct vhost_user_hdr *h = &c->m->hdr;
    if ((h->flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION)
        return fmt(c, "protocol version %u (only 1 is known)", h->flags & VHOST_USER_VERSION_MASK);
    if (!rq)
        return "not supported";
    if (rq->size != VU_SIZE_VARIABLE && h->size != rq->size)
        return fmt(c, "payload of %u bytes, expected %u", h->size, rq->size);
    if (c->nfds > rq->max_fds)
        return fmt(c, "file descriptors: %u, expected at most %u", c->nfds, rq->max_fds);
    return rq->exec(c);
}

int vu_backend_handle(struct vu_backend *b, struct vhost_user_msg *m, int *fds, unsigned nfds,
                      struct vhost_user_msg *reply)
{
    memset(&reply->hdr, 0, sizeof(reply->hdr));
    reply->hdr.request = m->hdr.request;
    reply->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY;
    b->messages++;
    const struct vu_request *rq = vu_request_find(m->hdr.request);
    struct vu_msg_ctx c = {b, m, fds, nfds, false, reply, b->why, sizeof(b->why)};
    const char *why = dispatch(rq, &c);
    if (!c.fds_taken)
        for (unsigned i = 0; i < nfds; i++)
            close(fds[i]);
    if (!why)
        b->why[0] = 0;
    else if (why != b->why)
        snprintf(b->why, sizeof(b->why), "%s", why);
    bool ack = !(rq && rq->reply) && (b->protocol_features & BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
               (m->hdr.flags & VHOST_USER_NEED_REPLY);
    /* With an ack the front-end hears of the refusal; without one, or for a
     * request it waits on for data (it cannot take an error, so it is
     * dropped), only the log does. */
    if (why && !ack) {
        if (rq)
            vu_complain(b, "%s refused: %s", rq->name, why);
        else
            vu_complain(b, "request %u refused: %s", m->hdr.request, why);
    }
    if (rq && rq->reply)
        return why ? -1 : 1;
    if (ack) {
        reply->p.u64 = why ? 1 : 0;
        reply->hdr.size = 8;
        return 1;
    }
    return 0;
}

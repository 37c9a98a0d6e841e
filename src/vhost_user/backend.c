#include "vhost_user/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "vhost_user/msg.h"

#define OUR_PROTOCOL_FEATURES                                                                         \
    (BIT(VHOST_USER_PROTOCOL_F_MQ) | BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                           \
     BIT(VHOST_USER_PROTOCOL_F_CONFIG) | BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE))

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- Device callbacks (any thread) ----------------------------------------- */

static void dev_notify(void *transport, unsigned qi)
{
    struct vu_queue *q = &((struct vu_backend *)transport)->q[qi];
    uint64_t one = 1;
    pthread_mutex_lock(&q->fd_lock);
    if (q->call_fd >= 0)
        (void)!write(q->call_fd, &one, sizeof(one));
    pthread_mutex_unlock(&q->fd_lock);
}

static void dev_broken(void *transport, const char *why)
{
    struct vu_backend *b = transport;
    vlog_err("vhost-user: the front-end broke a queue: %s", why);
    uint64_t one = 1;
    for (unsigned i = 0; i < b->dev->num_queues; i++) {
        pthread_mutex_lock(&b->q[i].fd_lock);
        if (b->q[i].err_fd >= 0)
            (void)!write(b->q[i].err_fd, &one, sizeof(one));
        pthread_mutex_unlock(&b->q[i].fd_lock);
    }
}

/* ---- Queues ------------------------------------------------------------------ */

/* Front-end virtual address to our pointer, for ring addresses. */
static void *uva_ptr(struct vu_backend *b, uint64_t uva, uint64_t len)
{
    for (unsigned i = 0; i < b->nregions; i++) {
        struct vu_region *r = &b->regions[i];
        if (uva >= r->uva && uva - r->uva <= r->size && len <= r->size - (uva - r->uva))
            return r->host + (uva - r->uva);
    }
    return NULL;
}

static void stop_queue(struct vu_backend *b, unsigned i)
{
    struct vu_queue *q = &b->q[i];
    if (!q->started)
        return;
    q->base = b->dev->ops->queue_stop(b->dev, i);
    q->started = false;
}

/* A ring runs once it has rings, a kick fd and (with protocol features)
 * has been enabled. */
static int maybe_start(struct vu_backend *b, unsigned i)
{
    struct vu_queue *q = &b->q[i];
    bool enabled = (b->features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)) ? q->enabled : true;
    if (q->started || !enabled || q->kick_fd < 0 || !q->addr_set || !b->nregions)
        return 0;
    uint16_t n = q->num;
    void *desc = uva_ptr(b, q->addr.desc, VQ_DESC_BYTES(n));
    void *avail = uva_ptr(b, q->addr.avail, VQ_AVAIL_BYTES(n));
    void *used = uva_ptr(b, q->addr.used, VQ_USED_BYTES(n));
    if (vq_init(&q->vq, &b->map, n, desc, avail, used, b->dev->features & BIT(VIRTIO_F_EVENT_IDX)) < 0) {
        vlog_err("vhost-user: queue %u: bad size %u or rings outside the shared memory", i, n);
        return -1;
    }
    vq_set_base(&q->vq, q->base);
    if (b->dev->ops->queue_start(b->dev, i, &q->vq, q->kick_fd) < 0)
        return -1;
    q->started = true;
    return 0;
}

static void unmap_regions(struct vu_backend *b)
{
    for (unsigned i = 0; i < b->nregions; i++)
        munmap(b->regions[i].map, b->regions[i].map_len);
    b->nregions = 0;
    memset(&b->map, 0, sizeof(b->map));
}

static int set_mem_table(struct vu_backend *b, const struct vhost_user_mem *mem, uint32_t size, int *fds,
                         unsigned nfds)
{
    if (size < 8 || mem->nregions == 0 || mem->nregions > VHOST_USER_MAX_REGIONS ||
        size != 8 + mem->nregions * sizeof(struct vhost_user_region) || nfds != mem->nregions)
        return -1;
    struct vu_region nr[VHOST_USER_MAX_REGIONS];
    struct memmap nm = {0};
    unsigned k = 0;
    for (; k < mem->nregions; k++) {
        const struct vhost_user_region *r = &mem->regions[k];
        uint64_t len = r->memory_size + r->mmap_offset;
        struct stat st;
        if (r->memory_size == 0 || len < r->mmap_offset || r->userspace_addr + r->memory_size < r->userspace_addr)
            break;
        /* Pages past the end of the file would SIGBUS us on first touch. */
        if (fstat(fds[k], &st) < 0 || (S_ISREG(st.st_mode) && len > (uint64_t)st.st_size))
            break;
        void *p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE, MAP_SHARED, fds[k], 0);
        if (p == MAP_FAILED)
            break;
        nr[k] = (struct vu_region){r->userspace_addr, r->memory_size, (uint8_t *)p + r->mmap_offset, p, (size_t)len};
        if (memmap_add(&nm, r->guest_phys_addr, r->memory_size, nr[k].host) < 0) {
            munmap(p, (size_t)len);
            break;
        }
    }
    if (k != mem->nregions) {
        while (k--)
            munmap(nr[k].map, nr[k].map_len);
        return -1;
    }
    /* The queues hold pointers into the old mappings: pause them. */
    for (unsigned i = 0; i < b->dev->num_queues; i++)
        stop_queue(b, i);
    unmap_regions(b);
    memcpy(b->regions, nr, sizeof(nr[0]) * mem->nregions);
    b->nregions = mem->nregions;
    b->map = nm;
    /* Rings that were running resume; rings set up before any table was
     * there can start now. */
    for (unsigned i = 0; i < b->dev->num_queues; i++)
        maybe_start(b, i);
    return 0;
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
    unmap_regions(b);
    b->features = 0;
    b->protocol_features = 0;
    b->dev->features = 0;
}

/* ---- Messages ---------------------------------------------------------------- */

static bool has_reply(uint32_t req)
{
    return req == VHOST_USER_GET_FEATURES || req == VHOST_USER_GET_PROTOCOL_FEATURES ||
           req == VHOST_USER_GET_VRING_BASE || req == VHOST_USER_GET_QUEUE_NUM || req == VHOST_USER_GET_CONFIG;
}

static int handle(struct vu_backend *b, struct vhost_user_msg *m, int *fds, unsigned *nfds,
                  struct vhost_user_msg *reply)
{
    uint32_t size = m->hdr.size;
    struct virtio_dev *d = b->dev;
    unsigned nq = d->num_queues;
    switch (m->hdr.request) {
    case VHOST_USER_GET_FEATURES:
        reply->p.u64 = d->host_features | BIT(VHOST_USER_F_PROTOCOL_FEATURES);
        reply->hdr.size = 8;
        return 0;
    case VHOST_USER_SET_FEATURES: {
        if (size != 8)
            return -1;
        uint64_t f = m->p.u64, offered = d->host_features | BIT(VHOST_USER_F_PROTOCOL_FEATURES);
        if (f & ~offered)
            return -1;
        b->features = f;
        d->features = f & ~BIT(VHOST_USER_F_PROTOCOL_FEATURES);
        return 0;
    }
    case VHOST_USER_GET_PROTOCOL_FEATURES:
        reply->p.u64 = OUR_PROTOCOL_FEATURES;
        reply->hdr.size = 8;
        return 0;
    case VHOST_USER_SET_PROTOCOL_FEATURES:
        if (size != 8 || (m->p.u64 & ~OUR_PROTOCOL_FEATURES))
            return -1;
        b->protocol_features = m->p.u64;
        return 0;
    case VHOST_USER_SET_OWNER:
        return 0;
    case VHOST_USER_RESET_OWNER:
    case VHOST_USER_RESET_DEVICE:
        vu_backend_reset(b);
        return 0;
    case VHOST_USER_GET_QUEUE_NUM:
        reply->p.u64 = nq;
        reply->hdr.size = 8;
        return 0;
    case VHOST_USER_SET_MEM_TABLE: {
        int r = set_mem_table(b, &m->p.mem, size, fds, *nfds);
        /* The mappings hold their own references. */
        for (unsigned i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return r;
    }
    case VHOST_USER_SET_VRING_NUM:
    case VHOST_USER_SET_VRING_BASE:
    case VHOST_USER_GET_VRING_BASE:
    case VHOST_USER_SET_VRING_ENABLE: {
        if (size != sizeof(struct vhost_user_state) || m->p.state.index >= nq)
            return -1;
        struct vu_queue *q = &b->q[m->p.state.index];
        uint32_t num = m->p.state.num;
        if (m->hdr.request == VHOST_USER_SET_VRING_NUM) {
            if (q->started || num == 0 || num > VQ_MAX_SIZE || (num & (num - 1)) || num > d->queue_max)
                return -1;
            q->num = (uint16_t)num;
        } else if (m->hdr.request == VHOST_USER_SET_VRING_BASE) {
            if (q->started || num > 0xFFFF)
                return -1;
            q->base = (uint16_t)num;
        } else if (m->hdr.request == VHOST_USER_GET_VRING_BASE) {
            /* Stops the ring; it restarts with the next SET_VRING_KICK. */
            stop_queue(b, m->p.state.index);
            close_fd(&q->kick_fd);
            reply->p.state.index = m->p.state.index;
            reply->p.state.num = q->base;
            reply->hdr.size = sizeof(reply->p.state);
            return 0;
        } else {
            q->enabled = num != 0;
            if (!q->enabled)
                stop_queue(b, m->p.state.index);
            return maybe_start(b, m->p.state.index);
        }
        return 0;
    }
    case VHOST_USER_SET_VRING_ADDR: {
        if (size != sizeof(struct vhost_user_addr) || m->p.addr.index >= nq)
            return -1;
        struct vu_queue *q = &b->q[m->p.addr.index];
        if (q->started)
            return -1;
        q->addr = m->p.addr;
        q->addr_set = true;
        return 0;
    }
    case VHOST_USER_SET_VRING_KICK:
    case VHOST_USER_SET_VRING_CALL:
    case VHOST_USER_SET_VRING_ERR: {
        if (size != 8)
            return -1;
        unsigned i = (unsigned)(m->p.u64 & VHOST_USER_VRING_IDX_MASK);
        bool nofd = m->p.u64 & VHOST_USER_VRING_NOFD;
        if (i >= nq || (nofd ? *nfds != 0 : *nfds != 1))
            return -1;
        int fd = nofd ? -1 : fds[0];
        *nfds = 0;
        struct vu_queue *q = &b->q[i];
        if (m->hdr.request == VHOST_USER_SET_VRING_KICK) {
            if (fd >= 0)
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            /* Polling without a kick fd (NOFD) is not offered. */
            stop_queue(b, i);
            close_fd(&q->kick_fd);
            q->kick_fd = fd;
            return fd < 0 ? -1 : maybe_start(b, i);
        }
        pthread_mutex_lock(&q->fd_lock);
        int *slot = m->hdr.request == VHOST_USER_SET_VRING_CALL ? &q->call_fd : &q->err_fd;
        close_fd(slot);
        *slot = fd;
        pthread_mutex_unlock(&q->fd_lock);
        return 0;
    }
    case VHOST_USER_GET_CONFIG:
    case VHOST_USER_SET_CONFIG: {
        struct vhost_user_config *c = &m->p.config;
        if (size < 12 || c->size > VHOST_USER_CONFIG_MAX || size != 12 + c->size ||
            c->offset > d->config_len || c->size > d->config_len - c->offset)
            return -1;
        if (m->hdr.request == VHOST_USER_SET_CONFIG) {
            d->ops->config_write(d, c->offset, c->payload, c->size);
            return 0;
        }
        reply->p.config = *c;
        d->ops->config_read(d, c->offset, reply->p.config.payload, c->size);
        reply->hdr.size = size;
        return 0;
    }
    default:
        vlog_err("vhost-user: request %u is not supported", m->hdr.request);
        return -1;
    }
}

int vu_backend_handle(struct vu_backend *b, struct vhost_user_msg *m, int *fds, unsigned nfds,
                      struct vhost_user_msg *reply)
{
    memset(&reply->hdr, 0, sizeof(reply->hdr));
    reply->hdr.request = m->hdr.request;
    reply->hdr.flags = VHOST_USER_VERSION | VHOST_USER_REPLY;
    b->messages++;
    int r = -1;
    if ((m->hdr.flags & VHOST_USER_VERSION_MASK) == VHOST_USER_VERSION)
        r = handle(b, m, fds, &nfds, reply);
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    if (has_reply(m->hdr.request))
        return r < 0 ? -1 : 1;   /* a front-end waiting for data cannot take an error */
    bool ack = (b->protocol_features & BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK)) &&
               (m->hdr.flags & VHOST_USER_NEED_REPLY);
    if (ack) {
        reply->p.u64 = r < 0 ? 1 : 0;
        reply->hdr.size = 8;
        return 1;
    }
    if (r < 0)
        vlog_err("vhost-user: request %u failed", m->hdr.request);
    return 0;
}

/* ---- Socket -------------------------------------------------------------------- */

static void on_listen(void *opaque, uint32_t events);

static void drop_conn(struct vu_backend *b)
{
    event_loop_del(b->loop, &b->w_conn);
    close_fd(&b->conn_fd);
    vu_backend_reset(b);
    event_loop_add(b->loop, &b->w_listen, b->listen_fd, EPOLLIN, on_listen, b);
}

static void on_conn(void *opaque, uint32_t events)
{
    (void)events;
    struct vu_backend *b = opaque;
    static struct vhost_user_msg m, reply;
    int fds[VHOST_USER_MAX_FDS];
    unsigned nfds;
    if (vu_msg_recv(b->conn_fd, &m, fds, &nfds) < 0) {
        if (errno == EPROTO)
            vlog_err("vhost-user: malformed message; dropping the front-end");
        drop_conn(b);
        return;
    }
    int r = vu_backend_handle(b, &m, fds, nfds, &reply);
    if (r < 0 || (r == 1 && vu_msg_send(b->conn_fd, &reply, NULL, 0) < 0))
        drop_conn(b);
}

static void on_listen(void *opaque, uint32_t events)
{
    (void)events;
    struct vu_backend *b = opaque;
    int c = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    /* One front-end at a time, as a disk has one driver. */
    event_loop_del(b->loop, &b->w_listen);
    b->conn_fd = c;
    event_loop_add(b->loop, &b->w_conn, c, EPOLLIN, on_conn, b);
}

int vu_backend_init(struct vu_backend *b, struct virtio_dev *dev, struct event_loop *loop, const char *path,
                    char *err, size_t err_len)
{
    memset(b, 0, sizeof(*b));
    b->dev = dev;
    b->loop = loop;
    b->listen_fd = b->conn_fd = -1;
    if (dev->num_queues > VU_MAX_QUEUES) {
        snprintf(err, err_len, "too many queues");
        return -1;
    }
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
        b->q[i].kick_fd = b->q[i].call_fd = b->q[i].err_fd = -1;
        pthread_mutex_init(&b->q[i].fd_lock, NULL);
    }
    dev->transport = b;
    dev->notify = dev_notify;
    dev->broken = dev_broken;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, err_len, "--socket %s: path too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct stat st;
    /* A socket file left by a previous server is replaced; anything else
     * at the path is not ours to remove. */
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path);
    if (b->listen_fd < 0 || bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(b->listen_fd, 1) < 0) {
        snprintf(err, err_len, "--socket %s: %s", path, strerror(errno));
        close_fd(&b->listen_fd);
        return -1;
    }
    chmod(path, 0600);
    if (event_loop_add(loop, &b->w_listen, b->listen_fd, EPOLLIN, on_listen, b) < 0) {
        snprintf(err, err_len, "epoll: %s", strerror(errno));
        close_fd(&b->listen_fd);
        return -1;
    }
    return 0;
}

void vu_backend_destroy(struct vu_backend *b)
{
    if (b->conn_fd >= 0) {
        event_loop_del(b->loop, &b->w_conn);
        close_fd(&b->conn_fd);
    } else if (b->listen_fd >= 0) {
        event_loop_del(b->loop, &b->w_listen);
    }
    vu_backend_reset(b);
    close_fd(&b->listen_fd);
    for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
        pthread_mutex_destroy(&b->q[i].fd_lock);
}

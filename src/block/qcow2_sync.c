#include "block/qcow2_sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define ZERO_CHUNK (1u << 20)

int qcow2_link_read(const struct qcow2_link *l, void *buf, uint64_t len, uint64_t off)
{
    uint64_t n = 0;
    if (l->fmt != IMG_FORMAT_NONE && off < l->size)
        n = len < l->size - off ? len : l->size - off;
    memset((uint8_t *)buf + n, 0, len - n);
    if (!n)
        return 0;
    if (l->fmt == IMG_FORMAT_RAW)
        return bfile_pread(l->file, buf, n, off);
    return qcow2_sync_read(l->qcow2, buf, n, off);
}

/* The bytes of mapped extents, into dst (which covers them in order). */
static int read_extents(struct qcow2 *q, const struct qcow2_extent *x, unsigned n, uint8_t *dst)
{
    uint32_t cs = qcow2_cluster_size(q);
    for (unsigned i = 0; i < n; i++) {
        const struct qcow2_extent *e = &x[i];
        int r = 0;
        switch (e->kind) {
        case QCOW2_DATA:
            r = bfile_pread(qcow2_file(q), dst, e->len, e->host);
            break;
        case QCOW2_ZERO:
            memset(dst, 0, e->len);
            break;
        case QCOW2_BACKING:
            r = qcow2_link_read(qcow2_backing(q), dst, e->len, e->off);
            break;
        case QCOW2_COMPRESSED: {
            uint64_t host;
            uint32_t clen;
            qcow2_compressed_span(q, e, &host, &clen);
            uint8_t *in = malloc(clen), *out = malloc(cs);
            r = in && out ? bfile_pread(qcow2_file(q), in, clen, host) : -ENOMEM;
            if (!r)
                r = qcow2_decompress(q, in, clen, out);
            if (!r)
                memcpy(dst, out + (e->off & (cs - 1)), e->len);
            free(in);
            free(out);
            break;
        }
        }
        if (r < 0)
            return r;
        dst += e->len;
    }
    return 0;
}

int qcow2_sync_read(struct qcow2 *q, void *buf, uint64_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        struct qcow2_map m;
        int r = qcow2_map_read(q, off, len, &m);
        if (r < 0)
            return r;
        r = read_extents(q, m.ext, m.n, p);
        qcow2_io_end(q, m.ticket);
        if (r < 0)
            return r;
        p += m.len;
        off += m.len;
        len -= m.len;
    }
    return 0;
}

struct sync_wait {
    struct qcow2_wait w;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool woken;
};

static void sync_wake(struct qcow2_wait *w)
{
    struct sync_wait *s = (struct sync_wait *)w;
    pthread_mutex_lock(&s->mu);
    s->woken = true;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void sync_wait_init(struct sync_wait *s)
{
    s->w.wake = sync_wake;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->woken = false;
}

static void sync_wait_block(struct sync_wait *s)
{
    pthread_mutex_lock(&s->mu);
    while (!s->woken)
        pthread_cond_wait(&s->cv, &s->mu);
    s->woken = false;
    pthread_mutex_unlock(&s->mu);
}

static void sync_wait_fini(struct sync_wait *s)
{
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static int write_cow(struct qcow2 *q, const struct qcow2_cow *c, uint64_t host)
{
    if (!c->len || c->skip)
        return 0;
    uint8_t *tmp = malloc(c->len);
    if (!tmp)
        return -ENOMEM;
    int r = read_extents(q, c->src, c->nsrc, tmp);
    if (!r)
        r = bfile_pwrite(qcow2_file(q), tmp, c->len, host);
    free(tmp);
    return r;
}

int qcow2_sync_write(struct qcow2 *q, const void *buf, uint64_t len, uint64_t off)
{
    const uint8_t *p = buf;
    struct sync_wait sw;
    sync_wait_init(&sw);
    int r = 0;
    while (len) {
        struct qcow2_wplan plan;
        r = qcow2_write_prepare(q, off, len, &plan, &sw.w);
        if (r == -EAGAIN) {
            sync_wait_block(&sw);
            continue;
        }
        if (r < 0)
            break;
        r = write_cow(q, &plan.head, plan.host - plan.head.len);
        if (!r)
            r = bfile_pwrite(qcow2_file(q), p, plan.len, plan.host);
        if (!r)
            r = write_cow(q, &plan.tail, plan.host + plan.len);
        r = qcow2_write_done(q, &plan, r);
        if (r < 0)
            break;
        p += plan.len;
        off += plan.len;
        len -= plan.len;
    }
    sync_wait_fini(&sw);
    return r;
}

static int zero_range(struct qcow2 *q, uint64_t off, uint64_t len, bool discard)
{
    struct sync_wait sw;
    sync_wait_init(&sw);
    int r = 0;
    while (len) {
        int64_t n = qcow2_zero(q, off, len, discard, &sw.w);
        if (n == -EAGAIN) {
            sync_wait_block(&sw);
            continue;
        }
        if (n < 0) {
            r = (int)n;
            break;
        }
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    sync_wait_fini(&sw);
    return r;
}

/* The cluster-aligned middle of [off, off+len) (to the disk's end if the
 * range reaches it). */
static void aligned_part(struct qcow2 *q, uint64_t off, uint64_t len, uint64_t *a, uint64_t *b)
{
    uint64_t cs = qcow2_cluster_size(q), end = off + len;
    *a = (off + cs - 1) & ~(cs - 1);
    *b = end == qcow2_size(q) ? end : end & ~(cs - 1);
    if (*b < *a)
        *b = *a;
}

int qcow2_sync_discard(struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t a, b;
    aligned_part(q, off, len, &a, &b);
    return b > a ? zero_range(q, a, b - a, true) : 0;
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    void *z = calloc(1, len < ZERO_CHUNK ? len : ZERO_CHUNK);
    if (!z)
        return -ENOMEM;
    int r = 0;
    while (len && !r) {
        uint64_t n = len < ZERO_CHUNK ? len : ZERO_CHUNK;
        r = qcow2_sync_write(q, z, n, off);
        off += n;
        len -= n;
    }
    free(z);
    return r;
}

int qcow2_sync_write_zeroes(struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t a, b;
    aligned_part(q, off, len, &a, &b);
    if (b == a)
        return write_zero_bytes(q, off, len);
    int r = write_zero_bytes(q, off, a - off);
    if (!r) {
        r = zero_range(q, a, b - a, false);
        if (r == -ENOTSUP)
            r = write_zero_bytes(q, a, b - a);
    }
    if (!r)
        r = write_zero_bytes(q, b, off + len - b);
    return r;
}

#include "stub_dev.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "vhost_user/backend.h"

static void breach(struct stub_dev *s, const char *what)
{
    if (!s->breaches++)
        s->first_breach = what;
    if (s->on_breach)
        s->on_breach(what);
}

static bool config_in_range(struct stub_dev *s, uint32_t off, uint32_t len)
{
    if (off <= STUB_CFG_LEN && len <= STUB_CFG_LEN - off)
        return true;
    s->config_oob++;
    breach(s, "config access outside config space");
    return false;
}

static void stub_config_read(struct virtio_dev *d, uint32_t off, void *buf, uint32_t len)
{
    struct stub_dev *s = (struct stub_dev *)d;
    if (config_in_range(s, off, len))
        memcpy(buf, s->config + off, len);
}

static void stub_config_write(struct virtio_dev *d, uint32_t off, const void *buf, uint32_t len)
{
    struct stub_dev *s = (struct stub_dev *)d;
    if (config_in_range(s, off, len))
        memcpy(s->config + off, buf, len);
}

static bool in_backend(const struct vu_backend *b, const void *p, uint64_t len)
{
    const uint8_t *q = p;
    for (unsigned i = 0; i < b->mem.nregions; i++) {
        const struct vu_region *r = &b->mem.regions[i];
        if (q >= r->host && q <= r->host + r->size && len <= (uint64_t)(r->host + r->size - q))
            return true;
    }
    return false;
}

static bool rings_mapped(const struct stub_dev *s, const struct vq *vq)
{
    return !s->vu || (in_backend(s->vu, vq->desc, VQ_DESC_BYTES(vq->size)) &&
                      in_backend(s->vu, vq->avail, VQ_AVAIL_BYTES(vq->size)) &&
                      in_backend(s->vu, vq->used, VQ_USED_BYTES(vq->size)));
}

static int stub_queue_start(struct virtio_dev *d, unsigned q, const struct vq *vq, int kick_fd)
{
    struct stub_dev *s = (struct stub_dev *)d;
    s->start_calls++;
    if (q >= STUB_NQ || !vq || !vq->desc || !vq->avail || !vq->used || kick_fd < 0 ||
        fcntl(kick_fd, F_GETFD) < 0) {
        breach(s, "queue_start: bad queue, unmapped vq or no open kick fd");
        return -1;
    }
    if (!rings_mapped(s, vq)) {
        breach(s, "queue_start: rings outside the back-end's mappings");
    } else {
        /* What a device reads first: a bogus mapping faults here, inside
         * the test, rather than later in some device's thread. */
        volatile const uint8_t *idx = vq->avail + 2;
        (void)*idx;
    }
    /* Device models may size per-queue state by queue_max, so the driver
     * must not get a bigger queue than that. */
    if (!vq->size || (vq->size & (vq->size - 1)) || vq->size > d->queue_max)
        breach(s, "queue_start: queue size 0, not a power of 2 or larger than queue_max");
    /* "Called with d->features final". */
    if ((d->features & s->start_needs) != s->start_needs)
        breach(s, "queue_start: features not negotiated");
    if (s->starts[q] != s->stops[q])
        breach(s, "queue_start: queue already started");
    if (s->refuse_start && s->refuse_start(vq))
        return -1;
    s->starts[q]++;
    s->vq[q] = vq;
    s->vq_at_start[q] = *vq;
    s->kick_fd[q] = kick_fd;
    s->features_at_start = d->features;
    return 0;
}

static uint16_t stub_queue_stop(struct virtio_dev *d, unsigned q)
{
    struct stub_dev *s = (struct stub_dev *)d;
    if (q >= STUB_NQ || s->stops[q] >= s->starts[q]) {
        breach(s, "queue_stop: queue not started");
        return 0;
    }
    s->stops[q]++;
    return s->stop_base ? (uint16_t)(s->stop_base + q) : s->vq[q]->last_avail;
}

static const struct virtio_dev_ops stub_ops = {
    .config_read = stub_config_read,
    .config_write = stub_config_write,
    .queue_start = stub_queue_start,
    .queue_stop = stub_queue_stop,
};

void stub_dev_init(struct stub_dev *s)
{
    *s = (struct stub_dev){
        .d = {
            .ops = &stub_ops,
            .device_id = VIRTIO_ID_BLOCK,
            .host_features = STUB_HOST_FEATURES,
            .num_queues = STUB_NQ,
            .queue_max = STUB_QMAX,
            .config_len = STUB_CFG_LEN,
        },
    };
    stub_dev_fill_config(s);
}

void stub_dev_fill_config(struct stub_dev *s)
{
    for (unsigned i = 0; i < STUB_CFG_LEN; i++)
        s->config[i] = (uint8_t)(0xA0 + i);
}

unsigned stub_dev_running(const struct stub_dev *s)
{
    unsigned n = 0;
    for (unsigned q = 0; q < STUB_NQ; q++)
        n += s->starts[q] - s->stops[q];
    return n;
}

unsigned count_memfd_maps(const char *name)
{
    char want[128];
    snprintf(want, sizeof(want), "memfd:%s", name);
    FILE *fp = fopen("/proc/self/maps", "r");
    if (!fp)
        return UINT_MAX;
    char line[512];
    unsigned n = 0;
    while (fgets(line, sizeof(line), fp))
        n += strstr(line, want) != NULL;
    fclose(fp);
    return n;
}

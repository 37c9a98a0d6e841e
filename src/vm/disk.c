#include "vm/disk.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void disk_opts_defaults(struct disk_opts *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    o->path = path;
    o->iothreads = DISK_DEFAULT_IOTHREADS;
    o->cache = BLK_CACHE_WRITEBACK;
    o->aio = AIO_AUTO;
    o->poll_us = disk_default_poll_us();
}

unsigned disk_default_poll_us(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n >= DISK_POLL_MIN_CPUS ? DISK_POLL_US : 0;
}

struct bdev *disk_image_open(const struct disk_opts *o, char *err, size_t errlen)
{
    struct bdev_opts bo = {.path = o->path, .format = o->format, .ro = o->ro, .cache = o->cache, .aio = o->aio,
                           .no_backing = o->no_backing, .ro_hint = o->ro_hint};
    return bdev_open(&bo, err, errlen);
}

int disk_open(struct disk *d, const struct disk_opts *o, struct event_loop *main_loop, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    if (o->queues < 1 || o->queues > VBLK_MAX_QUEUES) {
        snprintf(err, errlen, "disk %s: queues=%u: expected 1 to %u", o->path, o->queues, VBLK_MAX_QUEUES);
        return -1;
    }
    if (o->iothreads > IOTHREAD_GROUP_MAX) {
        snprintf(err, errlen, "disk %s: iothread=%u: expected 0 to %u", o->path, o->iothreads, IOTHREAD_GROUP_MAX);
        return -1;
    }
    d->owns_image = !o->image;
    d->bs = o->image ? o->image : disk_image_open(o, err, errlen);
    if (!d->bs)
        return -1;
    /* A disk the guest can neither read nor write is a mistake (a file
     * truncated, an image not made yet), never what the user meant. */
    if (!d->bs->size) {
        snprintf(err, errlen, "disk %s: the image is empty (0 bytes); expected a disk image (vireo image create "
                 "FILE SIZE makes one)", o->path);
        if (d->owns_image)
            bdev_close(d->bs);
        return -1;
    }
    if (iothread_group_start(&d->threads, "vireo-io", o->iothreads, o->queues, (uint64_t)o->poll_us * 1000,
                             o->pin_iothreads ? &o->iothread_cpus : NULL, main_loop) < 0) {
        snprintf(err, errlen, "disk %s: cannot start an I/O thread: %s", o->path, strerror(errno));
        if (d->owns_image)
            bdev_close(d->bs);
        return -1;
    }
    struct vblk_opts vo = {.queues = o->queues};
    memcpy(vo.serial, o->serial, sizeof(vo.serial));
    struct event_loop *loops[VBLK_MAX_QUEUES];
    iothread_group_loops(&d->threads, loops, o->queues);
    d->blk = vblk_new(&vo, d->bs, loops, err, errlen);
    if (!d->blk) {
        iothread_group_stop(&d->threads);
        if (d->owns_image)
            bdev_close(d->bs);
        return -1;
    }
    d->queues = o->queues;
    return 0;
}

void disk_describe(const struct disk *d, char *buf, size_t len)
{
    char where[64], back[1024];
    iothread_group_describe(&d->threads, where, sizeof(where));
    bdev_describe(d->bs, back, sizeof(back));
    snprintf(buf, len, "%s (%s, %u queue%s on %s)", d->bs->path, back, d->queues, d->queues > 1 ? "s" : "", where);
}

void disk_close(struct disk *d)
{
    /* Queues first (freed on their loops), then the threads, then the
     * image: bdev_close flushes it.  An image the caller keeps stays open,
     * its queues gone. */
    vblk_free(d->blk);
    d->blk = NULL;
    iothread_group_stop(&d->threads);
    if (d->owns_image)
        bdev_close(d->bs);
    d->bs = NULL;
}

/* libFuzzer target: a hostile driver (vpci_driver.c) against the real
 * virtio-pci transport with the real virtio-blk model behind it, on a
 * 1 MiB raw image in tmpfs: writeback with aio=auto (requests done inline)
 * or O_DIRECT with io_uring (bounce buffers, the ring), by the input's
 * first byte.  Two queues on the fuzzer's own loop, as iothread=0 serves
 * them.  The device lives for the whole run (a guest's reboots meet it as
 * a reset leaves it); each input gets a fresh transport. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/blk.h"
#include "vpci_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMG_SIZE (1024 * 1024)

static struct bdev *open_image(bool direct)
{
    char path[64];
    snprintf(path, sizeof(path), "/dev/shm/vireo-fuzz-blk-%d-%d", (int)getpid(), direct);
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, IMG_SIZE) < 0)
        abort();
    close(fd);
    struct bdev_opts o = {.path = path, .cache = direct ? BLK_CACHE_NONE : BLK_CACHE_WRITEBACK,
                          .aio = direct ? AIO_IO_URING : AIO_AUTO};
    char err[256];
    struct bdev *bs = bdev_open(&o, err, sizeof(err));
    unlink(path);
    if (!bs) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return bs;
}

/* rec[2]: type, [3..4]: sector, [5]: length, [6]: layout, [7]: segment flags. */
static int post_blk(struct vdrv *d, unsigned q, const uint8_t *r)
{
    static const uint32_t types[8] = {VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID,
                                      VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES, VIRTIO_BLK_T_IN, 77};
    uint32_t type = types[r[2] & 7];
    uint64_t sector = (uint64_t)(r[3] | (r[4] & 0x0F) << 8);
    if (r[4] & 0x80)
        sector = UINT64_MAX - r[3];
    uint32_t len = ((r[5] & 0x1Fu) + 1) * 512 - (r[6] & 0x40 ? r[6] & 0x3Fu : 0);
    unsigned skew = (r[6] >> 1) & 7;   /* data not aligned for O_DIRECT */
    uint64_t h = vdrv_buf(d, 16), st = vdrv_buf(d, 1), buf;
    uint32_t hdr[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    memcpy(vdrv_ptr(d, h), hdr, 16);
    bool writable;
    if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
        buf = vdrv_buf(d, 16);
        uint32_t seg[4] = {(uint32_t)sector, (uint32_t)(sector >> 32), len / 512, r[7] & 3};
        memcpy(vdrv_ptr(d, buf), seg, 16);
        len = 16;
        writable = false;
    } else {
        buf = vdrv_buf(d, len + skew) + skew;
        writable = type != VIRTIO_BLK_T_OUT;
    }
    if (r[6] & 1)
        writable = !writable;   /* the wrong direction */
    unsigned a = vdrv_next_desc(d, q), b = vdrv_next_desc(d, q), c = vdrv_next_desc(d, q);
    if (r[7] & 0x40) {
        /* One indirect descriptor pointing at a table of three. */
        uint64_t t = vdrv_buf(d, 48);
        struct virtq_desc tab[3] = {
            {h, 16, VIRTQ_DESC_F_NEXT, 1},
            {buf, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (writable ? VIRTQ_DESC_F_WRITE : 0)), 2},
            {st, 1, VIRTQ_DESC_F_WRITE, 0},
        };
        memcpy(vdrv_ptr(d, t), tab, sizeof(tab));
        vdrv_set_desc(d, q, a, t, sizeof(tab), VIRTQ_DESC_F_INDIRECT, 0);
        return (int)a;
    }
    vdrv_set_desc(d, q, a, h, 16, VIRTQ_DESC_F_NEXT, (uint16_t)b);
    vdrv_set_desc(d, q, b, buf, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (writable ? VIRTQ_DESC_F_WRITE : 0)),
                  (uint16_t)c);
    vdrv_set_desc(d, q, c, st, r[7] & 0x20 ? 0 : 1, VIRTQ_DESC_F_WRITE, 0);
    return (int)a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_loop loop;
    static struct vblk *devs[2];
    if (!devs[0]) {
        event_loop_init(&loop);
        event_loop_set_owner(&loop);
        /* One device per image for the whole run, a fresh transport per
         * input: each input starts with a device as a reset leaves it (as
         * each boot of a guest finds it).  Making the device anew per
         * input costs an io_uring teardown, milliseconds each. */
        struct vblk_opts o = {.queues = 2, .serial = "fuzz"};
        struct event_loop *loops[2] = {&loop, &loop};
        char err[256];
        for (int i = 0; i < 2; i++)
            if (!(devs[i] = vblk_new(&o, open_image(i), loops, err, sizeof(err))))
                abort();
    }
    if (size < 1)
        return 0;
    static struct vdrv d;
    vdrv_init(&d, vblk_dev(devs[data[0] & 1]), &loop, post_blk);
    vdrv_play(&d, data + 1, size - 1);
    vdrv_destroy(&d);
    return 0;
}

/* cache=none on storage with 4 KiB logical sectors (run by blk_4k.sh on
 * ext2 over a loop device made with --sector-size 4096): the alignment is
 * probed, not assumed; the guest is told 4 KiB blocks; buffers that
 * O_DIRECT cannot take are bounced; write-zeroes done as writes (ext2 has
 * no ZERO_RANGE) writes from an aligned buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/dio_probe.h"
#include "virtio/blk.h"

#define SIZE (1024 * 1024)

static char path[256];

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("VIREO_4K_DIR");
    if (!dir)
        fail_msg("VIREO_4K_DIR is not set: run through blk_4k.sh");
    snprintf(path, sizeof(path), "%s/disk.img", dir);
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    uint8_t *img = malloc(SIZE);
    for (size_t i = 0; i < SIZE; i++)
        img[i] = (uint8_t)(i / 512 + 1);
    assert_int_equal(write(fd, img, SIZE), SIZE);
    free(img);
    assert_int_equal(fsync(fd), 0);
    close(fd);
    return 0;
}

static void probed_by_statx_and_by_reads(void **state)
{
    (void)state;
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    assert_true(fd >= 0);
    struct dio_align a, r;
    dio_probe(fd, false, true, &a);
    assert_int_equal(a.offset, 4096);
    dio_probe(fd, false, false, &r);
    assert_int_equal(r.offset, 4096);
    assert_true(r.mem >= 1 && r.mem <= 4096);
    /* What the probe found works, and half the offset alignment does not. */
    uint8_t *buf = aligned_alloc(8192, 16384);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf + r.mem, 4096, 0), 4096);
    assert_int_equal(pread(fd, buf, 2048, 0), -1);
    free(buf);
    close(fd);
}

struct io {
    struct bdev_req io;
    int ret;
    bool done;
};

static void io_done(struct bdev_req *b, int ret)
{
    ((struct io *)b)->ret = ret;
    ((struct io *)b)->done = true;
}

static int run(struct event_loop *loop, struct bdev_queue *q, enum bdev_op op, uint64_t off, struct iovec *iov,
               unsigned n, uint64_t len)
{
    struct io r = {.io = {.op = op, .offset = off, .len = len, .iov = iov, .iovcnt = n, .done = io_done}};
    bdev_submit(q, &r.io);
    bdev_unplug(q);
    for (int i = 0; i < 500 && !r.done; i++)
        event_loop_run_once(loop, 10);
    assert_true(r.done);
    return r.ret;
}

static void guest_sees_4k_blocks_and_io_works(void **state)
{
    (void)state;
    struct event_loop loop;
    assert_int_equal(event_loop_init(&loop), 0);
    event_loop_set_owner(&loop);
    struct bdev_opts o = {.path = path, .cache = BLK_CACHE_NONE, .aio = AIO_IO_URING};
    char err[256];
    struct bdev *bs = bdev_open(&o, err, sizeof(err));
    if (!bs)
        fail_msg("%s", err);
    assert_int_equal(bs->request_align, 4096);
    assert_int_equal(bs->block_size, 4096);
    struct vblk_opts vo = {.queues = 1};
    struct event_loop *loops[1] = {&loop};
    struct vblk *b = vblk_new(&vo, bs, loops, err, sizeof(err));
    if (!b)
        fail_msg("%s", err);
    struct virtio_dev *d = vblk_dev(b);
    uint32_t blk_size, align;
    d->ops->config_read(d, 20, &blk_size, 4);
    d->ops->config_read(d, 44, &align, 4);
    assert_int_equal(blk_size, 4096);
    assert_int_equal(align, 8);   /* discard_sector_alignment, in sectors */
    vblk_free(b);
    char desc[256];
    bdev_describe(bs, desc, sizeof(desc));
    assert_non_null(strstr(desc, "4096-byte blocks"));

    struct bdev_queue *q = bdev_queue_new(bs, &loop, 4, err, sizeof(err));
    if (!q)
        fail_msg("%s", err);
    uint8_t *mem = aligned_alloc(8192, 65536);
    assert_non_null(mem);
    /* Two 2 KiB pieces: each shorter than a block, so bounced (kernels
     * before 6.x refuse such pieces under O_DIRECT). */
    memset(mem + 512, 0xA5, 4096);
    struct iovec two[2] = {{mem + 512, 2048}, {mem + 512 + 2048, 2048}};
    assert_int_equal(run(&loop, q, BDEV_WRITE, 8192, two, 2, 4096), 0);
    assert_true(q->stats.bounce_peak > 0);
    /* Write-zeroes: no ZERO_RANGE on ext2, so writes of zeroes. */
    assert_int_equal(run(&loop, q, BDEV_WRITE_ZEROES, 16384, NULL, 0, 8192), 0);
    struct iovec one = {mem + 16384, 32768};
    assert_int_equal(run(&loop, q, BDEV_READ, 8192, &one, 1, 32768), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(mem[16384 + i], 0xA5);
    for (int i = 8192; i < 16384; i++)
        assert_int_equal(mem[16384 + i], 0);
    assert_int_equal(mem[16384 + 16384], (uint8_t)(24576 / 512 + 1));
    /* 512-byte I/O is refused before it reaches the disk. */
    struct iovec small = {mem, 512};
    assert_int_equal(run(&loop, q, BDEV_READ, 512, &small, 1, 512), -22);
    bdev_queue_free(q);
    free(mem);
    bdev_close(bs);
    event_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(probed_by_statx_and_by_reads, setup),
        cmocka_unit_test_setup(guest_sees_4k_blocks_and_io_works, setup),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(path);
    return r;
}

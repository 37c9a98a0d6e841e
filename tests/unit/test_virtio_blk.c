/* virtio-blk device model against hostile and ordinary requests: a real
 * image file, the queue served on the test thread's event loop (the
 * iothread=0 mode), both I/O engines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "block/bdev_driver.h"
#include "eventloop/iothread.h"
#include "page_dirty.h"
#include "virtio/blk.h"

#define MEM_GPA   0x10000ULL
#define MEM_SIZE  (1024 * 1024)
#define QSIZE     16
#define DESC_GPA  (MEM_GPA + 0x0000)
#define AVAIL_GPA (MEM_GPA + 0x1000)
#define USED_GPA  (MEM_GPA + 0x2000)
#define BUF_GPA   (MEM_GPA + 0x4000)   /* requests' buffers from here */
#define DISK_SIZE (1024 * 1024)

struct fixture {
    char path[64];
    uint8_t *mem;
    struct memmap map;
    struct event_loop loop;
    struct bdev *bs;
    struct vblk *blk;
    struct virtio_dev *dev;
    struct vq vq;
    int kick;
    int notified;
    int broken;
    uint16_t avail_idx;
    uint64_t next_buf;
};

static void on_notify(void *t, unsigned q)
{
    (void)q;
    ((struct fixture *)t)->notified++;
}

static void on_broken(void *t, const char *why)
{
    (void)why;
    ((struct fixture *)t)->broken++;
}

/* Features the next setup's driver refuses. */
static uint64_t refused_features;
/* A fake back-end for the next setup instead of a raw image. */
static const struct bdev_driver *next_driver;

static int setup_with(void **state, enum aio_kind aio, bool ro, const char *dir)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "%s/vireo-blk-XXXXXX", dir);
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    /* A recognisable byte in every sector, so reads can be checked. */
    uint8_t *img = malloc(DISK_SIZE);
    for (size_t i = 0; i < DISK_SIZE; i++)
        img[i] = (uint8_t)(i / 512 + 1);
    assert_int_equal(write(fd, img, DISK_SIZE), DISK_SIZE);
    free(img);
    close(fd);
    f->mem = aligned_alloc(4096, MEM_SIZE);
    memset(f->mem, 0, MEM_SIZE);
    assert_int_equal(memmap_add(&f->map, MEM_GPA, MEM_SIZE, f->mem), 0);
    assert_int_equal(event_loop_init(&f->loop), 0);
    event_loop_set_owner(&f->loop);
    struct bdev_opts bo = {.path = f->path, .ro = ro, .cache = BLK_CACHE_WRITEBACK, .aio = aio};
    char err[256];
    f->bs = next_driver ? bdev_open_driver(next_driver, &bo, err, sizeof(err)) : bdev_open(&bo, err, sizeof(err));
    next_driver = NULL;
    assert_non_null(f->bs);
    struct vblk_opts o = {.queues = 1};
    snprintf(o.serial, sizeof(o.serial), "serial-0123456789abc");
    struct event_loop *loops[1] = {&f->loop};
    f->blk = vblk_new(&o, f->bs, loops, err, sizeof(err));
    if (!f->blk && aio == AIO_IO_URING) {
        /* io_uring can be disabled by the host (sysctl, seccomp); only an
         * explicit statement of that turns these cases into skips, so a
         * broken engine cannot pass as "skipped". */
        bdev_close(f->bs);
        unlink(f->path);
        free(f->mem);
        free(f);
        *state = NULL;
        if (!getenv("VIREO_TEST_NO_IO_URING"))
            fail_msg("io_uring engine failed: %s (set VIREO_TEST_NO_IO_URING=1 where the host disables io_uring)",
                     err);
        skip();
        return 0;
    }
    assert_non_null(f->blk);
    f->dev = vblk_dev(f->blk);
    f->dev->transport = f;
    f->dev->notify = on_notify;
    f->dev->broken = on_broken;
    f->dev->features = f->dev->host_features & ~refused_features;
    refused_features = 0;
    assert_int_equal(vq_map(&f->vq, &f->map, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
    vq_set_base(&f->vq, 0);
    f->kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 0, &f->vq, f->kick), 0);
    f->next_buf = BUF_GPA;
    *state = f;
    return 0;
}

static int setup_threads(void **state) { return setup_with(state, AIO_THREADS, false, "/tmp"); }
static int setup_uring(void **state) { return setup_with(state, AIO_IO_URING, false, "/tmp"); }
static int setup_ro(void **state) { return setup_with(state, AIO_THREADS, true, "/tmp"); }
/* tmpfs has no FALLOC_FL_ZERO_RANGE: write-zeroes falls back to writes. */
static int setup_tmpfs(void **state) { return setup_with(state, AIO_IO_URING, false, "/dev/shm"); }
/* aio=auto on tmpfs: small requests are served inline, on the loop. */
static int setup_inline(void **state) { return setup_with(state, AIO_AUTO, false, "/dev/shm"); }
/* A driver that does not accept VIRTIO_BLK_F_FLUSH. */
static int setup_noflush_threads(void **state)
{
    refused_features = BIT(VIRTIO_BLK_F_FLUSH);
    return setup_with(state, AIO_THREADS, false, "/tmp");
}
static int setup_noflush_uring(void **state)
{
    refused_features = BIT(VIRTIO_BLK_F_FLUSH);
    return setup_with(state, AIO_IO_URING, false, "/tmp");
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    f->dev->ops->queue_stop(f->dev, 0);
    vblk_free(f->blk);
    bdev_close(f->bs);
    event_loop_destroy(&f->loop);
    close(f->kick);
    unlink(f->path);
    free(f->mem);
    free(f);
    return 0;
}

static uint8_t *gpa(struct fixture *f, uint64_t a)
{
    return f->mem + (a - MEM_GPA);
}

/* Guest buffer of len bytes (16-aligned), zeroed. */
static uint64_t alloc_buf(struct fixture *f, size_t len)
{
    uint64_t a = f->next_buf;
    f->next_buf += (len + 4095) & ~4095ULL;
    assert_true(f->next_buf <= MEM_GPA + MEM_SIZE);
    memset(gpa(f, a), 0, len);
    return a;
}

struct seg {
    uint64_t addr;
    uint32_t len;
    bool writable;
};

static uint16_t used_idx(struct fixture *f)
{
    uint16_t v;
    memcpy(&v, gpa(f, USED_GPA + 2), 2);
    return v;
}

/* Posts a chain of n segments, kicks, and runs the loop until the device
 * answers (used index moves) or breaks.  Returns the used length. */
static uint32_t submit(struct fixture *f, const struct seg *s, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        struct virtq_desc d = {.addr = s[i].addr, .len = s[i].len,
                               .flags = (uint16_t)((s[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
                                                   (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
                               .next = (uint16_t)(i + 1)};
        memcpy(gpa(f, DESC_GPA + 16 * i), &d, sizeof(d));
    }
    uint16_t head = 0, before = used_idx(f);
    memcpy(gpa(f, AVAIL_GPA + 4 + 2 * (f->avail_idx % QSIZE)), &head, 2);
    f->avail_idx++;
    memcpy(gpa(f, AVAIL_GPA + 2), &f->avail_idx, 2);
    uint64_t one = 1;
    assert_int_equal(write(f->kick, &one, 8), 8);
    int broken_before = f->broken;
    for (int i = 0; i < 500 && used_idx(f) == before && f->broken == broken_before; i++)
        event_loop_run_once(&f->loop, 10);
    if (used_idx(f) == before)
        return UINT32_MAX;
    uint32_t len;
    memcpy(&len, gpa(f, USED_GPA + 4 + 8 * (before % QSIZE) + 4), 4);
    return len;
}

struct hdr {
    uint32_t type, ioprio;
    uint64_t sector;
};

static uint64_t put_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
    uint64_t a = alloc_buf(f, 16);
    struct hdr h = {type, 0, sector};
    memcpy(gpa(f, a), &h, 16);
    return a;
}

/* hdr + one data segment + status; returns the status byte. */
static uint8_t rw(struct fixture *f, uint32_t type, uint64_t sector, uint64_t data, uint32_t len, bool data_writable,
                  uint32_t *used)
{
    uint64_t st = alloc_buf(f, 1);
    *gpa(f, st) = 0xAA;
    struct seg s[3] = {{put_hdr(f, type, sector), 16, false}, {data, len, data_writable}, {st, 1, true}};
    uint32_t u = submit(f, s, 3);
    if (used)
        *used = u;
    return *gpa(f, st);
}

static void write_then_read_back(void **state)
{
    struct fixture *f = *state;
    uint64_t w = alloc_buf(f, 4096), r = alloc_buf(f, 4096);
    for (int i = 0; i < 4096; i++)
        gpa(f, w)[i] = (uint8_t)(i * 7);
    uint32_t used;
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 8, w, 4096, false, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 1);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 8, r, 4096, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 4097);
    assert_memory_equal(gpa(f, r), gpa(f, w), 4096);
    /* And the file has it. */
    FILE *fp = fopen(f->path, "rb");
    uint8_t back[4096];
    fseek(fp, 8 * 512, SEEK_SET);
    assert_int_equal(fread(back, 1, 4096, fp), 4096);
    fclose(fp);
    assert_memory_equal(back, gpa(f, w), 4096);
    assert_true(f->notified > 0);
    assert_int_equal(f->broken, 0);
}

static void header_split_across_descriptors(void **state)
{
    struct fixture *f = *state;
    /* Drivers may frame requests any way they like (2.6.4). */
    uint64_t h = put_hdr(f, VIRTIO_BLK_T_IN, 3), r = alloc_buf(f, 512), st = alloc_buf(f, 1);
    struct seg s[4] = {{h, 8, false}, {h + 8, 8, false}, {r, 512, true}, {st, 1, true}};
    assert_int_equal(submit(f, s, 4), 513);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_OK);
    assert_int_equal(gpa(f, r)[0], 4);   /* sector 3's marker */
}

static void out_of_range_sectors_fail(void **state)
{
    struct fixture *f = *state;
    uint64_t r = alloc_buf(f, 4096);
    uint64_t last = DISK_SIZE / 512 - 1;
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, last, r, 512, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, last, r, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, last + 1, r, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    /* sector * 512 would wrap 64 bits. */
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, UINT64_MAX / 256, r, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, UINT64_MAX, r, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    /* Not a whole number of sectors. */
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, r, 100, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(f->broken, 0);
    /* Counted by reason. */
    struct blk_qstats_snap st;
    vblk_stats(f->blk, &st);
    assert_int_equal(st.refused[BLK_REQ_OUT_OF_RANGE], 5);
    assert_int_equal(st.refused[BLK_REQ_BAD_DIRECTION], 0);
}

static void read_into_device_readable_buffer_fails(void **state)
{
    struct fixture *f = *state;
    uint64_t r = alloc_buf(f, 512);
    memset(gpa(f, r), 0x5A, 512);
    /* A read whose data buffer the device may not write. */
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, r, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    for (int i = 0; i < 512; i++)
        assert_int_equal(gpa(f, r)[i], 0x5A);
    /* A write whose data the device would have to write. */
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, r, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(f->broken, 0);
}

static void missing_status_byte_breaks_device(void **state)
{
    struct fixture *f = *state;
    struct seg s[1] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}};
    submit(f, s, 1);
    assert_int_equal(f->broken, 1);
}

static void short_header_breaks_device(void **state)
{
    struct fixture *f = *state;
    uint64_t st = alloc_buf(f, 1);
    struct seg s[2] = {{put_hdr(f, VIRTIO_BLK_T_IN, 0), 8, false}, {st, 1, true}};
    submit(f, s, 2);
    assert_int_equal(f->broken, 1);
}

static void descriptor_outside_memory_breaks_device(void **state)
{
    struct fixture *f = *state;
    uint64_t st = alloc_buf(f, 1);
    struct seg s[3] = {{put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false},
                       {MEM_GPA + MEM_SIZE - 256, 512, true}, {st, 1, true}};
    submit(f, s, 3);
    assert_int_equal(f->broken, 1);
}

static void flush_get_id_and_unknown(void **state)
{
    struct fixture *f = *state;
    uint64_t st = alloc_buf(f, 1);
    struct seg fl[2] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
    assert_int_equal(submit(f, fl, 2), 1);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_OK);

    uint64_t id = alloc_buf(f, 20);
    uint32_t used;
    assert_int_equal(rw(f, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, &used), VIRTIO_BLK_S_OK);
    assert_int_equal(used, 21);
    assert_memory_equal(gpa(f, id), "serial-0123456789abc", 20);

    uint64_t d = alloc_buf(f, 512);
    assert_int_equal(rw(f, 99, 0, d, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(f->broken, 0);
}

struct dseg {
    uint64_t sector;
    uint32_t num, flags;
};

static uint8_t discard(struct fixture *f, uint32_t type, const struct dseg *d, unsigned n)
{
    uint64_t p = alloc_buf(f, 16 * n), st = alloc_buf(f, 1);
    memcpy(gpa(f, p), d, 16 * n);
    struct seg s[3] = {{put_hdr(f, type, 0), 16, false}, {p, 16 * n, false}, {st, 1, true}};
    submit(f, s, 3);
    return *gpa(f, st);
}

static void discard_and_write_zeroes(void **state)
{
    struct fixture *f = *state;
    uint64_t r = alloc_buf(f, 8192);
    struct dseg one = {16, 8, 0};
    assert_int_equal(discard(f, VIRTIO_BLK_T_DISCARD, &one, 1), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 16, r, 4096, true, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(gpa(f, r)[i], 0);
    struct dseg wz = {32, 16, 0}, wz_unmap = {64, 16, 1};
    assert_int_equal(discard(f, VIRTIO_BLK_T_WRITE_ZEROES, &wz, 1), VIRTIO_BLK_S_OK);
    assert_int_equal(discard(f, VIRTIO_BLK_T_WRITE_ZEROES, &wz_unmap, 1), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 32, r, 8192, true, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 8192; i++)
        assert_int_equal(gpa(f, r)[i], 0);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 64, r, 8192, true, NULL), VIRTIO_BLK_S_OK);
    for (int i = 0; i < 8192; i++)
        assert_int_equal(gpa(f, r)[i], 0);
    /* Neighbours untouched. */
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 48, r, 512, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(gpa(f, r)[0], 49);

    struct dseg two[2] = {{0, 1, 0}, {2, 1, 0}};
    assert_int_equal(discard(f, VIRTIO_BLK_T_DISCARD, two, 2), VIRTIO_BLK_S_UNSUPP);
    struct dseg past = {DISK_SIZE / 512 - 1, 2, 0};
    assert_int_equal(discard(f, VIRTIO_BLK_T_DISCARD, &past, 1), VIRTIO_BLK_S_IOERR);
    struct dseg unmap_on_discard = {0, 1, 1};
    assert_int_equal(discard(f, VIRTIO_BLK_T_DISCARD, &unmap_on_discard, 1), VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(f->broken, 0);
}

static void read_only_disk_refuses_writes(void **state)
{
    struct fixture *f = *state;
    assert_true(f->dev->host_features & BIT(VIRTIO_BLK_F_RO));
    uint64_t w = alloc_buf(f, 512);
    memset(gpa(f, w), 0xEE, 512);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, w, 512, false, NULL), VIRTIO_BLK_S_IOERR);
    struct dseg one = {0, 1, 0};
    assert_int_equal(discard(f, VIRTIO_BLK_T_DISCARD, &one, 1), VIRTIO_BLK_S_IOERR);
    assert_int_equal(discard(f, VIRTIO_BLK_T_WRITE_ZEROES, &one, 1), VIRTIO_BLK_S_IOERR);
    FILE *fp = fopen(f->path, "rb");
    uint8_t back[512];
    assert_int_equal(fread(back, 1, 512, fp), 512);
    fclose(fp);
    assert_int_equal(back[0], 1);
}

static void config_space(void **state)
{
    struct fixture *f = *state;
    uint64_t cap;
    uint32_t seg_max, blk_size;
    f->dev->ops->config_read(f->dev, 0, &cap, 8);
    f->dev->ops->config_read(f->dev, 12, &seg_max, 4);
    f->dev->ops->config_read(f->dev, 20, &blk_size, 4);
    assert_int_equal(cap, DISK_SIZE / 512);
    assert_int_equal(seg_max, VBLK_QUEUE_SIZE - 2);
    assert_int_equal(blk_size, 512);
    /* Reads past the end are zeroes, not a crash. */
    uint8_t z[8] = {1};
    f->dev->ops->config_read(f->dev, 4000, z, 8);
    assert_int_equal(z[0], 0);
}

static bool described_inline(struct fixture *f)
{
    char d[512];
    bdev_describe(f->bs, d, sizeof(d));
    return strstr(d, "inline") != NULL;
}

/* Inline service is for files in memory under aio=auto only: an explicit
 * engine is taken at its word, and a disk-backed file could block the
 * loop. */
static void inline_only_in_memory_under_auto(void **state)
{
    struct fixture *f = *state;
    assert_true(described_inline(f));
    teardown(state);
    setup_with(state, AIO_IO_URING, false, "/dev/shm");
    assert_false(described_inline(*state));
    teardown(state);
    setup_with(state, AIO_AUTO, false, "/tmp");
    /* /tmp may itself be a tmpfs on some hosts. */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "stat -f -c %%T %s | grep -q tmpfs", ((struct fixture *)*state)->path);
    assert_int_equal(described_inline(*state), system(cmd) == 0);
}

/* 256 KiB goes to the engine, 4 KiB inline; both must land. */
static void large_and_small_transfers(void **state)
{
    struct fixture *f = *state;
    uint64_t big = alloc_buf(f, 256 * 1024), back = alloc_buf(f, 256 * 1024);
    for (int i = 0; i < 256 * 1024; i++)
        gpa(f, big)[i] = (uint8_t)(i * 13 + 1);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 16, big, 256 * 1024, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 8, big, 4096, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 16, back, 256 * 1024, true, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(gpa(f, back), gpa(f, big), 256 * 1024);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 8, back, 4096, true, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(gpa(f, back), gpa(f, big), 4096);
    assert_int_equal(f->broken, 0);
}

static int dirty(const char *path, uint64_t off, size_t len)
{
    int d = file_range_dirty(path, off, len);
    if (d < 0 && getenv("VIREO_TEST_NO_KPAGEFLAGS"))
        skip();
    if (d < 0)
        fail_msg("cannot read page flags of %s: %s (root is needed; set VIREO_TEST_NO_KPAGEFLAGS=1 to skip)", path,
                 strerror(errno));
    return d;
}

/* A driver that negotiated FLUSH gets a write-back disk: a write may sit
 * in the host's page cache until the guest flushes. */
static void with_flush_writes_wait_for_a_flush(void **state)
{
    struct fixture *f = *state;
    uint64_t w = alloc_buf(f, 4096);
    memset(gpa(f, w), 0x6B, 4096);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 128, w, 4096, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(dirty(f->path, 128 * 512, 4096), 1);
    uint64_t st = alloc_buf(f, 1);
    struct seg fl[2] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
    submit(f, fl, 2);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_OK);
    assert_int_equal(dirty(f->path, 128 * 512, 4096), 0);
}

/* A driver that did not (Linux then takes the disk for write-through and
 * never flushes) gets a write-through disk, as QEMU's
 * virtio_blk_set_status makes it: a completed write is on stable storage. */
static void without_flush_writes_are_write_through(void **state)
{
    struct fixture *f = *state;
    uint64_t w = alloc_buf(f, 4096);
    memset(gpa(f, w), 0x6B, 4096);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 128, w, 4096, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(dirty(f->path, 128 * 512, 4096), 0);
    /* (Write-zeroes is fallocate here, which leaves no dirty pages to see;
     * it is followed by fdatasync.) */
    struct dseg wz = {256, 16, 0};
    assert_int_equal(discard(f, VIRTIO_BLK_T_WRITE_ZEROES, &wz, 1), VIRTIO_BLK_S_OK);
    uint64_t r = alloc_buf(f, 4096);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 128, r, 4096, true, NULL), VIRTIO_BLK_S_OK);
    assert_memory_equal(gpa(f, r), gpa(f, w), 4096);
    /* And FLUSH itself stays unsupported for this driver. */
    uint64_t st = alloc_buf(f, 1);
    struct seg fl[2] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
    submit(f, fl, 2);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_UNSUPP);
}

/* ---- a driver that refills the ring faster than the device empties it ---- */

/* A ring of its own, of the largest size, away from the fixture's. */
#define BIG_QSIZE 1024
#define BIG_DESC  (MEM_GPA + 0x80000)
#define BIG_AVAIL (MEM_GPA + 0x84000)
#define BIG_USED  (MEM_GPA + 0x86000)
#define CHAIN     4000   /* descriptors per request, nearly all empty */

struct refill {
    struct fixture *f;
    int other_fd;              /* the loop's other work */
    atomic_bool other_ran;
    atomic_uint completed;
    bool timed_out;
};

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

/* Keeps the ring full of one request, head 0 posted again and again, that
 * completes at once (sectors past the end) but takes the device long to
 * walk (thousands of empty descriptors); once the device is busy with
 * them, the loop's other work arrives.  Runs until that work was done, or
 * 2 s: a device that never comes back to its loop would hold it as long. */
static void *refill_thread(void *arg)
{
    struct refill *r = arg;
    struct fixture *f = r->f;
    uint16_t avail = 0;
    bool signalled = false;
    uint64_t one = 1, t0 = now_ms();
    while (!atomic_load(&r->other_ran)) {
        if (now_ms() - t0 > 2000) {
            r->timed_out = true;
            break;
        }
        uint16_t used = __atomic_load_n((uint16_t *)gpa(f, BIG_USED + 2), __ATOMIC_ACQUIRE);
        atomic_store(&r->completed, used);
        if (!signalled && used >= 64) {
            (void)!write(r->other_fd, &one, 8);
            signalled = true;
        }
        if ((uint16_t)(avail - used) >= BIG_QSIZE / 2)
            continue;
        bool idle = avail == used;
        while ((uint16_t)(avail - used) < BIG_QSIZE) {
            uint16_t head = 0;
            memcpy(gpa(f, BIG_AVAIL + 4 + 2 * (avail % BIG_QSIZE)), &head, 2);
            avail++;
        }
        __atomic_store_n((uint16_t *)gpa(f, BIG_AVAIL + 2), avail, __ATOMIC_RELEASE);
        /* A busy device finds the new entries without a kick. */
        if (idle)
            (void)!write(f->kick, &one, 8);
    }
    return NULL;
}

static void on_other(void *opaque, uint32_t events)
{
    (void)events;
    struct refill *r = opaque;
    uint64_t v;
    (void)!read(r->other_fd, &v, 8);
    atomic_store(&r->other_ran, true);
}

/* However fast the driver refills the ring with requests that complete at
 * once, the device comes back to the event loop's other work (with
 * iothread=0 that is the VMM's main loop: signals, console, control
 * socket) instead of holding it as long as the driver goes on. */
static void request_loop_yields_to_other_work(void **state)
{
    struct fixture *f = *state;
    f->dev->ops->queue_stop(f->dev, 0);
    assert_int_equal(vq_map(&f->vq, &f->map, BIG_QSIZE, BIG_DESC, BIG_AVAIL, BIG_USED, false), 0);
    vq_set_base(&f->vq, 0);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 0, &f->vq, f->kick), 0);
    uint64_t st = alloc_buf(f, 1), tab = alloc_buf(f, CHAIN * 16);
    struct virtq_desc desc = {tab, CHAIN * 16, VIRTQ_DESC_F_INDIRECT, 0};
    memcpy(gpa(f, BIG_DESC), &desc, sizeof(desc));
    for (unsigned i = 0; i < CHAIN; i++) {
        struct virtq_desc e = {st, 0, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1)};
        if (i == 0)
            e = (struct virtq_desc){put_hdr(f, VIRTIO_BLK_T_IN, DISK_SIZE / 512 + 7), 16, VIRTQ_DESC_F_NEXT, 1};
        if (i == CHAIN - 1)
            e = (struct virtq_desc){st, 1, VIRTQ_DESC_F_WRITE, 0};
        memcpy(gpa(f, tab + 16 * i), &e, sizeof(e));
    }
    struct refill r = {.f = f, .other_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
    struct el_watch w;
    assert_int_equal(event_loop_add(&f->loop, &w, r.other_fd, EPOLLIN, on_other, &r), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, refill_thread, &r), 0);
    uint64_t t0 = now_ms();
    while (!atomic_load(&r.other_ran) && now_ms() - t0 < 5000)
        event_loop_run_once(&f->loop, 100);
    pthread_join(t, NULL);
    event_loop_del(&f->loop, &w);
    close(r.other_fd);
    assert_true(atomic_load(&r.other_ran));
    assert_false(r.timed_out);
    assert_true(atomic_load(&r.completed) >= 64);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_IOERR);
    assert_int_equal(f->broken, 0);
    /* Back to the fixture's ring for teardown. */
    f->dev->ops->queue_stop(f->dev, 0);
    assert_int_equal(vq_map(&f->vq, &f->map, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
    assert_int_equal(f->dev->ops->queue_start(f->dev, 0, &f->vq, f->kick), 0);
}

/* ---- stopping a queue while its I/O thread completes a request ---- */

/* A back-end that holds each request until the test lets it go. */
static struct bdev_req *held;
static struct bdev_queue *held_q;
static atomic_bool holding;

static int hold_open(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen)
{
    (void)o, (void)err, (void)errlen;
    bs->size = DISK_SIZE;
    return 0;
}

static void hold_close(struct bdev *bs)
{
    (void)bs;
}

static void hold_submit(struct bdev_queue *q, struct bdev_req *r)
{
    held = r;
    held_q = q;
    atomic_store(&holding, true);
}

static const struct bdev_driver hold_driver = {
    .name = "hold", .open = hold_open, .close = hold_close, .submit = hold_submit,
};

/* On the I/O thread: the request completes, in a batch of its own. */
static void release_held(void *arg)
{
    (void)arg;
    bdev_req_done(held_q, held, 0);
    bdev_queue_batch_end(held_q);
}

struct race {
    struct virtio_dev *dev;
    atomic_bool stop_returned;
    bool seen;
    int notified;
};

static struct race race;

/* The interrupt for the completion, sent from the I/O thread: it takes a
 * while, and notes whether queue_stop returned meanwhile. */
static void race_notify(void *t, unsigned q)
{
    (void)t, (void)q;
    usleep(100 * 1000);
    if (atomic_load(&race.stop_returned))
        race.seen = true;
    race.notified++;
}

static void *stopper(void *arg)
{
    (void)arg;
    race.dev->ops->queue_stop(race.dev, 0);
    atomic_store(&race.stop_returned, true);
    return NULL;
}

/* queue_stop returns only once the queue's I/O thread is done with the
 * queue: not while it still sends the interrupt for the last completion
 * (the transport then resets the queue and the next driver may reuse the
 * rings: the I/O thread must not touch them any more). */
static void stop_waits_for_the_io_thread(void **state)
{
    (void)state;
    struct iothread t;
    assert_int_equal(iothread_start(&t, "blk-race", 0, NULL), 0);
    uint8_t *mem = aligned_alloc(4096, MEM_SIZE);
    memset(mem, 0, MEM_SIZE);
    struct memmap map = {0};
    assert_int_equal(memmap_add(&map, MEM_GPA, MEM_SIZE, mem), 0);
    struct bdev_opts o = {.path = "hold"};
    char err[256];
    struct bdev *bs = bdev_open_driver(&hold_driver, &o, err, sizeof(err));
    assert_non_null(bs);
    struct vblk_opts vo = {.queues = 1};
    struct event_loop *loops[1] = {&t.loop};
    struct vblk *b = vblk_new(&vo, bs, loops, err, sizeof(err));
    assert_non_null(b);
    memset(&race, 0, sizeof(race));
    race.dev = vblk_dev(b);
    race.dev->notify = race_notify;
    race.dev->broken = on_broken;
    race.dev->features = race.dev->host_features;
    struct vq vq;
    assert_int_equal(vq_map(&vq, &map, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
    vq_set_base(&vq, 0);
    int kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    assert_int_equal(race.dev->ops->queue_start(race.dev, 0, &vq, kick), 0);
    /* A read: header, 512 bytes, status. */
    struct hdr h = {VIRTIO_BLK_T_IN, 0, 0};
    memcpy(mem + (BUF_GPA - MEM_GPA), &h, 16);
    struct virtq_desc d[3] = {
        {BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 1},
        {BUF_GPA + 4096, 512, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2},
        {BUF_GPA + 8192, 1, VIRTQ_DESC_F_WRITE, 0},
    };
    memcpy(mem + (DESC_GPA - MEM_GPA), d, sizeof(d));
    uint16_t one16 = 1;
    memcpy(mem + (AVAIL_GPA - MEM_GPA) + 2, &one16, 2);
    atomic_store(&holding, false);
    uint64_t one = 1;
    assert_int_equal(write(kick, &one, 8), 8);
    for (int i = 0; i < 2000 && !atomic_load(&holding); i++)
        usleep(1000);
    assert_true(atomic_load(&holding));
    pthread_t st;
    assert_int_equal(pthread_create(&st, NULL, stopper, NULL), 0);
    usleep(50 * 1000);   /* the stopper waits for the request */
    assert_false(atomic_load(&race.stop_returned));
    event_loop_call(&t.loop, release_held, NULL);
    pthread_join(st, NULL);
    assert_int_equal(race.notified, 1);
    assert_false(race.seen);
    assert_int_equal(mem[BUF_GPA + 8192 - MEM_GPA], VIRTIO_BLK_S_OK);
    vblk_free(b);
    bdev_close(bs);
    iothread_stop(&t);
    close(kick);
    free(mem);
}

/* ---- accounting (blk_stats.h) ---- */

static struct blk_qstats_snap stats(struct fixture *f)
{
    struct blk_qstats_snap s;
    vblk_stats(f->blk, &s);
    return s;
}

/* Every kind of request is counted once, with its bytes, and timed once;
 * a refused one is counted by reason and not as a request. */
static void accounting_counts_requests(void **state)
{
    struct fixture *f = *state;
    uint64_t w = alloc_buf(f, 4096), r = alloc_buf(f, 8192), st = alloc_buf(f, 1);
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 8, w, 4096, false, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 8, r, 4096, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 16, r, 8192, true, NULL), VIRTIO_BLK_S_OK);
    struct seg fl[2] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
    assert_int_equal(submit(f, fl, 2), 1);
    uint64_t id = alloc_buf(f, 20);
    assert_int_equal(rw(f, VIRTIO_BLK_T_GET_ID, 0, id, 20, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, DISK_SIZE / 512, r, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    assert_int_equal(rw(f, 99, 0, r, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
    struct blk_qstats_snap s = stats(f);
    assert_int_equal(s.ops[BLK_OP_WRITE], 1);
    assert_int_equal(s.bytes[BLK_OP_WRITE], 4096);
    assert_int_equal(s.ops[BLK_OP_READ], 2);
    assert_int_equal(s.bytes[BLK_OP_READ], 4096 + 8192);
    assert_int_equal(s.ops[BLK_OP_FLUSH], 1);
    assert_int_equal(s.ops[BLK_OP_GET_ID], 1);
    assert_int_equal(s.refused[BLK_REQ_OUT_OF_RANGE], 1);
    assert_int_equal(s.refused[BLK_REQ_UNSUPPORTED], 1);
    for (unsigned i = 0; i < BLK_OP_N; i++)
        assert_int_equal(s.failed[i], 0);
    for (unsigned i = 0; i < BLK_HERR_N; i++)
        assert_int_equal(s.host_errors[i], 0);
    /* One latency per request, in its kind's histogram and each stage. */
    assert_int_equal(s.lat[BLK_OP_READ].count, 2);
    assert_int_equal(s.lat[BLK_OP_WRITE].count, 1);
    assert_int_equal(s.lat[BLK_OP_FLUSH].count, 1);
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        assert_int_equal(s.stage[i].count, 5);
    /* A stage is part of the whole. */
    uint64_t whole = 0, parts = 0;
    for (unsigned i = 0; i < BLK_OP_N; i++)
        whole += s.lat[i].sum_ns;
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        parts += s.stage[i].sum_ns;
    assert_int_equal(whole, parts);
    assert_true(s.kicks >= 7);
    assert_true(s.notifies >= 1);
    assert_int_equal(s.inflight, 0);
}

/* A back-end that fails requests with the errno the test sets, or holds
 * one until the test releases it. */
static int fake_errno;
static bool fake_hold;

static void fake_submit(struct bdev_queue *q, struct bdev_req *r)
{
    if (fake_hold) {
        held = r;
        held_q = q;
        return;
    }
    bdev_req_done_later(q, r, fake_errno);
}

static int fake_open(struct bdev *bs, const struct bdev_opts *o, char *err, size_t errlen)
{
    return hold_open(bs, o, err, errlen);
}

static void fake_close(struct bdev *bs)
{
    (void)bs;
}

static const struct bdev_driver fake_driver = {
    .name = "fake", .open = fake_open, .close = fake_close, .submit = fake_submit,
};


static int setup_fake(void **state)
{
    next_driver = &fake_driver;
    fake_errno = 0;
    fake_hold = false;
    return setup_with(state, AIO_THREADS, false, "/tmp");
}

/* Host failures: counted by kind, and as failed requests of their kind;
 * the guest gets IOERR. */
static void host_errors_are_counted(void **state)
{
    struct fixture *f = *state;
    uint64_t b = alloc_buf(f, 4096), st = alloc_buf(f, 1);
    fake_errno = -EIO;
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, b, 4096, true, NULL), VIRTIO_BLK_S_IOERR);
    fake_errno = -ENOSPC;
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, b, 4096, false, NULL), VIRTIO_BLK_S_IOERR);
    fake_errno = -EDQUOT;
    assert_int_equal(rw(f, VIRTIO_BLK_T_OUT, 0, b, 4096, false, NULL), VIRTIO_BLK_S_IOERR);
    fake_errno = -EFBIG;
    struct seg fl[2] = {{put_hdr(f, VIRTIO_BLK_T_FLUSH, 0), 16, false}, {st, 1, true}};
    assert_int_equal(submit(f, fl, 2), 1);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_IOERR);
    fake_errno = 0;
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, b, 4096, true, NULL), VIRTIO_BLK_S_OK);
    struct blk_qstats_snap s = stats(f);
    assert_int_equal(s.host_errors[BLK_HERR_IO], 1);
    assert_int_equal(s.host_errors[BLK_HERR_NOSPACE], 2);
    assert_int_equal(s.host_errors[BLK_HERR_OTHER], 1);
    assert_int_equal(s.failed[BLK_OP_READ], 1);
    assert_int_equal(s.failed[BLK_OP_WRITE], 2);
    assert_int_equal(s.failed[BLK_OP_FLUSH], 1);
    assert_int_equal(s.ops[BLK_OP_READ], 2);
    assert_int_equal(s.bytes[BLK_OP_READ], 4096);   /* the failed read moved nothing */
    assert_int_equal(s.bytes[BLK_OP_WRITE], 0);
}

/* A request the host holds for 30 ms: the host stage and the whole
 * latency say at least that, the VMM and notify stages far less. */
static void host_time_is_measured(void **state)
{
    struct fixture *f = *state;
    uint64_t b = alloc_buf(f, 4096), st = alloc_buf(f, 1);
    fake_hold = true;
    held = NULL;
    struct seg s3[3] = {{put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false}, {b, 4096, true}, {st, 1, true}};
    assert_int_equal(submit(f, s3, 3), UINT32_MAX);   /* held: no answer */
    assert_non_null(held);
    assert_int_equal(stats(f).inflight, 1);
    usleep(30 * 1000);
    bdev_req_done(held_q, held, 0);
    bdev_queue_batch_end(held_q);
    assert_int_equal(*gpa(f, st), VIRTIO_BLK_S_OK);
    struct blk_qstats_snap s = stats(f);
    assert_int_equal(s.inflight, 0);
    assert_int_equal(s.stage[BLK_STAGE_HOST].count, 1);
    assert_true(s.stage[BLK_STAGE_HOST].sum_ns >= 30000000);
    assert_true(log2hist_quantile(&s.stage[BLK_STAGE_HOST], 0.5) >= 16.7e6);   /* its bucket: (2^24, 2^25] ns */
    assert_true(s.lat[BLK_OP_READ].sum_ns >= s.stage[BLK_STAGE_HOST].sum_ns);
    assert_true(s.stage[BLK_STAGE_VMM].sum_ns < 10000000);
    assert_true(s.stage[BLK_STAGE_NOTIFY].sum_ns < 10000000);
}

/* VIREO_ACCOUNTING=off: nothing is timed or counted but refusals and host
 * errors, which are always counted. */
static int setup_off(void **state)
{
    setenv("VIREO_ACCOUNTING", "off", 1);
    int r = setup_fake(state);
    unsetenv("VIREO_ACCOUNTING");
    return r;
}

static void accounting_off(void **state)
{
    struct fixture *f = *state;
    assert_false(vblk_accounting(f->blk));
    uint64_t b = alloc_buf(f, 4096);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, b, 4096, true, NULL), VIRTIO_BLK_S_OK);
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, DISK_SIZE / 512, b, 512, true, NULL), VIRTIO_BLK_S_IOERR);
    fake_errno = -EIO;
    assert_int_equal(rw(f, VIRTIO_BLK_T_IN, 0, b, 4096, true, NULL), VIRTIO_BLK_S_IOERR);
    struct blk_qstats_snap s = stats(f);
    assert_int_equal(s.ops[BLK_OP_READ], 0);
    assert_int_equal(s.lat[BLK_OP_READ].count, 0);
    assert_int_equal(s.kicks, 0);
    assert_int_equal(s.refused[BLK_REQ_OUT_OF_RANGE], 1);
    assert_int_equal(s.host_errors[BLK_HERR_IO], 1);
}

#define EVERY_ENGINE(t) cmocka_unit_test_setup_teardown(t, setup_threads, teardown), \
                cmocka_unit_test_setup_teardown(t, setup_uring, teardown), \
                cmocka_unit_test_setup_teardown(t, setup_inline, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        EVERY_ENGINE(write_then_read_back),
        EVERY_ENGINE(header_split_across_descriptors),
        EVERY_ENGINE(out_of_range_sectors_fail),
        EVERY_ENGINE(read_into_device_readable_buffer_fails),
        EVERY_ENGINE(missing_status_byte_breaks_device),
        EVERY_ENGINE(short_header_breaks_device),
        EVERY_ENGINE(descriptor_outside_memory_breaks_device),
        EVERY_ENGINE(flush_get_id_and_unknown),
        EVERY_ENGINE(discard_and_write_zeroes),
        EVERY_ENGINE(config_space),
        EVERY_ENGINE(large_and_small_transfers),
        EVERY_ENGINE(request_loop_yields_to_other_work),
        EVERY_ENGINE(accounting_counts_requests),
        cmocka_unit_test_setup_teardown(host_errors_are_counted, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(host_time_is_measured, setup_fake, teardown),
        cmocka_unit_test_setup_teardown(accounting_off, setup_off, teardown),
        cmocka_unit_test_setup_teardown(read_only_disk_refuses_writes, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(discard_and_write_zeroes, setup_tmpfs, teardown),
        cmocka_unit_test_setup_teardown(inline_only_in_memory_under_auto, setup_inline, teardown),
        cmocka_unit_test(stop_waits_for_the_io_thread),
        cmocka_unit_test_setup_teardown(with_flush_writes_wait_for_a_flush, setup_threads, teardown),
        cmocka_unit_test_setup_teardown(with_flush_writes_wait_for_a_flush, setup_uring, teardown),
        cmocka_unit_test_setup_teardown(without_flush_writes_are_write_through, setup_noflush_threads, teardown),
        cmocka_unit_test_setup_teardown(without_flush_writes_are_write_through, setup_noflush_uring, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* virtio-blk device model against hostile and ordinary requests: a real
 * image file, the queue served on the test thread's event loop (the
 * iothread=0 mode), both I/O engines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
    struct vblk_opts o = {.path = f->path, .ro = ro, .cache = BLK_CACHE_WRITEBACK, .iothreads = 0,
                          .queues = 1, .aio = aio};
    snprintf(o.serial, sizeof(o.serial), "serial-0123456789abc");
    char err[256];
    f->blk = vblk_new(&o, &f->loop, err, sizeof(err));
    if (!f->blk && aio == AIO_IO_URING) {
        /* io_uring can be disabled by the host (sysctl, seccomp); only an
         * explicit statement of that turns these cases into skips, so a
         * broken engine cannot pass as "skipped". */
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
    f->dev->features = f->dev->host_features;
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

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    f->dev->ops->queue_stop(f->dev, 0);
    vblk_free(f->blk);
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
    vblk_describe(f->blk, d, sizeof(d));
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
        cmocka_unit_test_setup_teardown(read_only_disk_refuses_writes, setup_ro, teardown),
        cmocka_unit_test_setup_teardown(discard_and_write_zeroes, setup_tmpfs, teardown),
        cmocka_unit_test_setup_teardown(inline_only_in_memory_under_auto, setup_inline, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

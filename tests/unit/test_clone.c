/* The parts of cloning and backing up disks that need no VM: lvm2's
 * report, LVM names and snapshot sizes, the names of copies, qcow2
 * overlays and the overlay switch, where an image's data is (raw holes,
 * qcow2 chains), the sparse copy, and the backup stream (written and read
 * back, and every kind of damage refused). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <cmocka.h>

#include "block/bfile.h"
#include "block/qcow2.h"
#include "block/qcow2_sync.h"
#include "cli/vm_source.h"
#include "image/backup_stream.h"
#include "image/img_clone.h"
#include "image/img_overlay.h"
#include "image/img_reader.h"
#include "image/lvm.h"
#include "image/reflink.h"
#include "image/sparse_copy.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: %s", path, strerror(errno));
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static void lvm_report(void **state)
{
    (void)state;
    char path[512], err[256];
    snprintf(path, sizeof(path), "%s/lvs-thin-and-classic.json", getenv("LVM_FIXTURES"));
    size_t len;
    char *json = slurp(path, &len);
    struct lvm_lv *lvs;
    size_t n;
    assert_int_equal(lvm_report_parse(json, len, &lvs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 6);
    const struct lvm_lv *web = lvm_report_find_dev(lvs, n, 253, 0), *db = lvm_report_find_dev(lvs, n, 253, 4);
    assert_non_null(web);
    assert_string_equal(web->vg, "vg0");
    assert_string_equal(web->name, "web");
    assert_int_equal(web->size, 21474836480ull);
    assert_int_equal(web->vg_free, 42949672960ull);
    assert_false(lvm_is_thin(web));
    assert_non_null(db);
    assert_true(lvm_is_thin(db));
    assert_string_equal(db->pool, "pool");
    assert_null(lvm_report_find_dev(lvs, n, -1, -1));    /* inactive volumes have no device */
    assert_null(lvm_report_find_dev(lvs, n, 253, 9));
    assert_ptr_equal(lvm_report_find(lvs, n, "vg1", "web"), &lvs[5]);
    assert_null(lvm_report_find(lvs, n, "vg1", "db"));
    /* A classic snapshot can take every block of its origin, plus the
     * exception store's metadata, in whole extents. */
    uint64_t cow = lvm_full_cow_size(web);
    assert_true(cow >= web->size + web->size / 256 + 2 * 4096);
    assert_int_equal(cow % web->extent_size, 0);
    char name[LVM_NAME_MAX + 1];
    assert_int_equal(lvm_dst_name(web, "web2", name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "web2");
    assert_int_equal(lvm_dst_name(web, "vg0/web2", name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "web2");
    assert_int_equal(lvm_dst_name(web, "/dev/vg0/web-3.x_y+z", name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "web-3.x_y+z");
    assert_int_equal(lvm_dst_name(web, "vg1/web2", name, sizeof(name), err, sizeof(err)), -1);
    assert_string_equal(err, "vg1/web2: an LVM snapshot of vg0/web stays in volume group vg0; expected vg0/NAME or NAME");
    assert_int_equal(lvm_dst_name(web, "/tmp/x.img", name, sizeof(name), err, sizeof(err)), -1);
    assert_int_equal(lvm_dst_name(web, "-x", name, sizeof(name), err, sizeof(err)), -1);
    assert_int_equal(lvm_dst_name(web, "snapshot1", name, sizeof(name), err, sizeof(err)), -1);
    assert_int_equal(lvm_dst_name(web, "a_tmeta", name, sizeof(name), err, sizeof(err)), -1);
    assert_int_equal(lvm_dst_name(web, "sp ace", name, sizeof(name), err, sizeof(err)), -1);
    assert_string_equal(err, "'sp ace' is not a name lvm2 accepts for a logical volume (letters, digits, + _ . -, not "
                             "starting with '-', no reserved words)");
    free(lvs);
    /* Output that is not a report. */
    assert_int_equal(lvm_report_parse("{}", 2, &lvs, &n, err, sizeof(err)), -1);
    assert_string_equal(err, "lvs: unexpected output (no \"report\" array)");
    const char *missing = "{\"report\":[{\"lv\":[{\"vg_name\":\"v\",\"lv_name\":\"l\"}]}]}";
    assert_int_equal(lvm_report_parse(missing, strlen(missing), &lvs, &n, err, sizeof(err)), -1);
    assert_string_equal(err, "lvs: unexpected output (volume 1: a field is missing or malformed)");
    const char *empty = "{\"report\":[{\"lv\":[]}]}";
    assert_int_equal(lvm_report_parse(empty, strlen(empty), &lvs, &n, err, sizeof(err)), 0);
    assert_int_equal(n, 0);
    free(lvs);
    free(json);
}

static void copy_names(void **state)
{
    (void)state;
    char out[256];
    vm_source_rename("web.qcow2", "web", "web2", out, sizeof(out));
    assert_string_equal(out, "web2.qcow2");
    vm_source_rename("disk-web-data.img", "web", "shop", out, sizeof(out));
    assert_string_equal(out, "disk-shop-data.img");
    vm_source_rename("root.img", "web", "web2", out, sizeof(out));
    assert_string_equal(out, "web2-root.img");
}

static char dir[] = "/tmp/vireo-test-clone-XXXXXX";

static void path(char *out, const char *name)
{
    snprintf(out, 512, "%s/%s", dir, name);
}

static void write_at(const char *p, uint64_t off, const void *buf, size_t len)
{
    int fd = open(p, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, buf, len, (off_t)off), (ssize_t)len);
    close(fd);
}

static void make_qcow2(const char *p, uint64_t size, const char *backing, const char *bfmt)
{
    struct bfile *f;
    char err[512];
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    f = bfile_fd_wrap(fd, 1);
    struct qcow2_create_opts o = {.size = size, .backing = backing, .backing_fmt = bfmt};
    if (qcow2_create(f, &o, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    bfile_close(f);
}

static struct qcow2 *open_q(const char *p, bool ro)
{
    struct bfile *f;
    struct qcow2 *q;
    char err[1024];
    if (bfile_fd_open(&f, p, ro, false, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    struct qcow2_open_opts o = {.read_only = ro};
    if (qcow2_open(&q, f, p, &o, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return q;
}

static void qwrite(const char *p, uint64_t off, char c, size_t len)
{
    struct qcow2 *q = open_q(p, false);
    char *buf = malloc(len);
    memset(buf, c, len);
    assert_int_equal(qcow2_sync_write(q, buf, len, off), 0);
    free(buf);
    assert_int_equal(qcow2_close(q), 0);
}

static char qbyte(const char *p, uint64_t off)
{
    struct qcow2 *q = open_q(p, true);
    char c;
    assert_int_equal(qcow2_sync_read(q, &c, 1, off), 0);
    qcow2_close(q);
    return c;
}

static void overlays(void **state)
{
    (void)state;
    char base[512], top[512], o2[512], err[2048], name[512];
    path(base, "web.qcow2");
    path(top, "sub/other.qcow2");
    path(o2, "web2.qcow2");
    make_qcow2(base, 16 << 20, NULL, NULL);
    qwrite(base, 1 << 20, 'A', 4096);
    /* Backing names: the file name in one folder, else absolute. */
    assert_int_equal(img_backing_name(o2, base, name, sizeof(name), err, sizeof(err)), 0);
    assert_string_equal(name, "web.qcow2");
    char sub[512];
    path(sub, "sub");
    mkdir(sub, 0755);
    assert_int_equal(img_backing_name(top, base, name, sizeof(name), err, sizeof(err)), 0);
    char want[600];
    snprintf(want, sizeof(want), "%s/web.qcow2", dir);
    assert_string_equal(name, want);
    /* The switch: the image becomes a read-only base, an overlay on it
     * takes its place, and another overlay on the base is the clone. */
    char newbase[512];
    assert_int_equal(img_overlay_switch(base, newbase, sizeof(newbase), err, sizeof(err)), 0);
    assert_non_null(strstr(newbase, "/web.base-"));
    assert_int_equal(strcmp(newbase + strlen(newbase) - 6, ".qcow2"), 0);
    struct stat st;
    assert_int_equal(stat(newbase, &st), 0);
    assert_int_equal(st.st_mode & 0222, 0);
    assert_int_equal(img_overlay_create(newbase, IMG_FORMAT_QCOW2, o2, err, sizeof(err)), 0);
    struct qcow2 *q = open_q(base, true);
    struct qcow2_info qi;
    qcow2_get_info(q, &qi);
    assert_string_equal(qi.backing_fmt, "qcow2");
    assert_ptr_not_equal(strstr(newbase, qi.backing_name), NULL);
    qcow2_close(q);
    assert_int_equal(qbyte(base, 1 << 20), 'A');
    assert_int_equal(qbyte(o2, 1 << 20), 'A');
    qwrite(o2, 1 << 20, 'B', 512);
    assert_int_equal(qbyte(o2, 1 << 20), 'B');
    assert_int_equal(qbyte(base, 1 << 20), 'A');
    qwrite(base, 2 << 20, 'C', 512);
    assert_int_equal(qbyte(o2, 2 << 20), 0);
    /* DST exists: refused, nothing changed. */
    assert_int_equal(img_overlay_create(newbase, IMG_FORMAT_QCOW2, o2, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s exists; nothing was changed", o2);
    assert_string_equal(err, want);
    /* An image in use (write-locked) cannot be switched; nothing changes. */
    struct bfile *held;
    assert_int_equal(bfile_fd_open(&held, o2, false, false, err, sizeof(err)), 0);
    char nb[512];
    assert_int_equal(img_overlay_switch(o2, nb, sizeof(nb), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "in use by another VM or process"));
    bfile_close(held);
    /* A missing backing file is reported with the chain. */
    char lost[512], ov[512];
    path(lost, "lost.qcow2");
    path(ov, "lost-overlay.qcow2");
    make_qcow2(lost, 1 << 20, "gone.raw", "raw");
    assert_int_equal(img_overlay_create(lost, IMG_FORMAT_QCOW2, ov, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "backing file 'gone.raw'"));
    assert_non_null(strstr(err, "No such file or directory"));
    assert_int_equal(access(ov, F_OK), -1);
}

static void reader_extents(void **state)
{
    (void)state;
    char raw[512], top[512], err[2048];
    path(raw, "chain.raw");
    path(top, "chain.qcow2");
    char buf[65536];
    memset(buf, 'r', sizeof(buf));
    write_at(raw, 4 << 20, buf, sizeof(buf));   /* data at 4 MiB in a raw base */
    assert_int_equal(truncate(raw, 32 << 20), 0);
    make_qcow2(top, 32 << 20, "chain.raw", "raw");
    qwrite(top, 10 << 20, 'q', 65536);            /* data at 10 MiB in the overlay */
    struct img_reader r;
    assert_int_equal(img_reader_open(&r, top, IMG_FORMAT_QCOW2, true, err, sizeof(err)), 0);
    assert_int_equal(img_reader_size(&r), 32 << 20);
    uint64_t s, l;
    assert_int_equal(img_reader_next_data(&r, 0, 1ull << 30, &s, &l), 0);
    assert_true(s <= (4 << 20) && s + l >= (4 << 20) + 65536 && l <= (1 << 20));
    assert_int_equal(img_reader_next_data(&r, s + l, 1ull << 30, &s, &l), 0);
    assert_int_equal(s, 10 << 20);
    assert_int_equal(l, 65536);
    assert_int_equal(img_reader_next_data(&r, s + l, 1ull << 30, &s, &l), 0);
    assert_int_equal(l, 0);
    char c[2];
    assert_int_equal(img_reader_read(&r, c, 2, (10 << 20) - 1), 0);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 'q');
    img_reader_close(&r);
    /* A raw file: SEEK_DATA's extents. */
    assert_int_equal(img_reader_open(&r, raw, IMG_FORMAT_RAW, true, err, sizeof(err)), 0);
    assert_int_equal(img_reader_next_data(&r, 0, 1ull << 30, &s, &l), 0);
    assert_true(s <= (4 << 20) && s + l >= (4 << 20) + 65536);
    assert_int_equal(img_reader_next_data(&r, s + l, 1ull << 30, &s, &l), 0);
    assert_int_equal(l, 0);
    img_reader_close(&r);
}

static void sparse_copies(void **state)
{
    (void)state;
    char src[512], dst[512], err[1024];
    path(src, "sparse.raw");
    path(dst, "sparse-copy.raw");
    char buf[8192];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 7);
    write_at(src, 3 << 20, buf, sizeof(buf));
    write_at(src, 40 << 20, buf, 100);
    assert_int_equal(truncate(src, 64 << 20), 0);
    int fd = open(src, O_RDONLY);
    uint64_t data;
    assert_int_equal(sparse_data_bytes(fd, 64 << 20, &data), 0);
    assert_true(data >= sizeof(buf) && data < (2 << 20));
    struct progress pr;
    progress_start(&pr, "t", data);
    assert_int_equal(sparse_copy(fd, 64 << 20, dst, 0600, &pr, err, sizeof(err)), 0);
    assert_int_equal(pr.done, data);
    struct stat st;
    assert_int_equal(stat(dst, &st), 0);
    assert_int_equal(st.st_size, 64 << 20);
    assert_true((uint64_t)st.st_blocks * 512 < (4 << 20));   /* the holes stayed holes */
    int d = open(dst, O_RDONLY);
    char got[8192];
    assert_int_equal(pread(d, got, sizeof(got), 3 << 20), (ssize_t)sizeof(got));
    assert_memory_equal(got, buf, sizeof(buf));
    assert_int_equal(pread(d, got, 100, 40 << 20), 100);
    assert_memory_equal(got, buf, 100);
    close(d);
    /* Never over an existing file. */
    assert_int_equal(sparse_copy(fd, 64 << 20, dst, 0600, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "File exists"));
    /* Reflinks: where the file system cannot, nothing is left behind. */
    char rl[512];
    path(rl, "reflink.raw");
    int r = reflink_file(fd, rl, 0600, err, sizeof(err));
    if (r == 1)
        assert_int_equal(access(rl, F_OK), -1);
    else
        assert_int_equal(r, 0);
    close(fd);
}

static void crc_of_zeros(void **state)
{
    (void)state;
    static const uint64_t lens[] = {0, 1, 4095, 4096, 4097, 65536 * 3 + 17, (1 << 20) + 3};
    uint8_t *z = calloc(1, (1 << 20) + 3);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint32_t seed = (uint32_t)crc32(0, (const Bytef *)"seed", 4);
        assert_int_equal(backup_crc_zeros(seed, lens[i]), (uint32_t)crc32(seed, z, (uInt)lens[i]));
    }
    free(z);
}

/* ---- the backup stream ---- */

struct mem_sink {
    uint8_t *disk[BACKUP_MAX_DISKS];
    uint64_t size[BACKUP_MAX_DISKS];
    char cfg[4096];
    unsigned ends;
};

static int s_manifest(void *ctx, const struct backup_manifest *m, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct mem_sink *s = ctx;
    for (unsigned i = 0; i < m->ndisks; i++) {
        s->size[i] = m->disks[i].size;
        s->disk[i] = m->disks[i].size <= (64 << 20) ? calloc(1, m->disks[i].size) : NULL;
    }
    return 0;
}

static int s_config(void *ctx, const char *text, size_t len, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct mem_sink *s = ctx;
    snprintf(s->cfg, sizeof(s->cfg), "%.*s", (int)len, text);
    return 0;
}

static int s_data(void *ctx, unsigned i, const void *buf, size_t len, uint64_t off, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct mem_sink *s = ctx;
    assert_true(off + len <= s->size[i]);
    if (s->disk[i])
        memcpy(s->disk[i] + off, buf, len);
    return 0;
}

static int s_end(void *ctx, unsigned i, char *err, size_t errlen)
{
    (void)i, (void)err, (void)errlen;
    ((struct mem_sink *)ctx)->ends++;
    return 0;
}

static void sink_free(struct mem_sink *s)
{
    for (unsigned i = 0; i < BACKUP_MAX_DISKS; i++)
        free(s->disk[i]);
    memset(s, 0, sizeof(*s));
}

static int read_file(const char *p, struct mem_sink *s, struct backup_manifest *m, char *err, size_t errlen)
{
    struct backup_sink sink = {s, s_manifest, s_config, s_data, s_end};
    int fd = open(p, O_RDONLY);
    assert_true(fd >= 0);
    int r = backup_read_fd(fd, &sink, m, err, errlen);
    close(fd);
    return r;
}

static void backup_round_trip(void **state)
{
    (void)state;
    char raw[512], q[512], out[512], err[2048];
    path(raw, "bk.raw");
    path(q, "bk.qcow2");
    path(out, "bk.tar");
    char buf[4096];
    memset(buf, 'x', sizeof(buf));
    write_at(raw, 1 << 20, buf, sizeof(buf));
    assert_int_equal(truncate(raw, 8 << 20), 0);
    make_qcow2(q, 4 << 20, "bk.raw", "raw");   /* a chain: flattened in the backup */
    qwrite(q, 2 << 20, 'y', 1000);
    struct img_reader r1, r2;
    assert_int_equal(img_reader_open(&r1, raw, IMG_FORMAT_RAW, true, err, sizeof(err)), 0);
    assert_int_equal(img_reader_open(&r2, q, IMG_FORMAT_QCOW2, true, err, sizeof(err)), 0);
    static struct backup_manifest m;
    memset(&m, 0, sizeof(m));
    strcpy(m.name, "web");
    strcpy(m.created, "2024-01-01T00:00:00Z");
    strcpy(m.config, "web.cfg");
    m.ndisks = 2;
    strcpy(m.disks[0].file, "web-xvda.raw");
    strcpy(m.disks[0].vdev, "xvda");
    m.disks[0].size = 8 << 20;
    strcpy(m.disks[1].file, "web-xvdb.raw");
    strcpy(m.disks[1].vdev, "xvdb");
    m.disks[1].size = 4 << 20;
    m.disks[1].ro = true;
    struct img_reader *rs[2] = {&r1, &r2};
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const char cfg[] = "name = \"web\"\n";
    assert_int_equal(backup_write(fd, &m, cfg, strlen(cfg), rs, NULL, NULL, err, sizeof(err)), 0);
    close(fd);
    img_reader_close(&r1);
    img_reader_close(&r2);
    assert_true(m.disks[0].data_bytes >= 4096 && m.disks[0].data_bytes < (1 << 20));
    struct mem_sink s = {0};
    static struct backup_manifest got;
    if (read_file(out, &s, &got, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_string_equal(got.name, "web");
    assert_int_equal(got.ndisks, 2);
    assert_true(got.disks[1].ro);
    assert_int_equal(got.disks[0].crc32, m.disks[0].crc32);
    assert_string_equal(s.cfg, cfg);
    assert_int_equal(s.ends, 2);
    assert_memory_equal(s.disk[0] + (1 << 20), buf, 4096);
    assert_int_equal(s.disk[0][(1 << 20) - 1], 0);
    assert_int_equal(s.disk[1][(1 << 20)], 'x');   /* from the raw backing file */
    assert_int_equal(s.disk[1][(2 << 20) + 999], 'y');
    assert_int_equal(s.disk[1][(2 << 20) + 1000], 0);
    sink_free(&s);

    /* Cut short anywhere: refused. */
    size_t len;
    char *whole = slurp(out, &len);
    char cut[512];
    path(cut, "cut.tar");
    for (size_t at = 100; at < len; at += len / 7) {
        int c = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(write(c, whole, at), (ssize_t)at);
        close(c);
        assert_int_equal(read_file(cut, &s, &got, err, sizeof(err)), -1);
        sink_free(&s);
    }
    /* One bit flipped in a disk's data: the CRC says so. */
    char *x = memmem(whole, len, "xxxxxxxx", 8);
    assert_non_null(x);
    x[5] ^= 1;
    int c = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(c, whole, len), (ssize_t)len);
    close(c);
    assert_int_equal(read_file(cut, &s, &got, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "web-xvda.raw: damaged: its CRC-32 is"));
    sink_free(&s);
    free(whole);
}

/* A stream made by hand: entries of our choosing. */
struct hand {
    const char *name;
    const char *data;
    int64_t size;     /* -1: strlen(data) */
};

static void write_hand(const char *p, const struct hand *h, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax(a);
    assert_int_equal(archive_write_open_filename(a, p), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    for (size_t i = 0; i < n; i++) {
        archive_entry_clear(e);
        archive_entry_set_pathname(e, h[i].name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0600);
        size_t len = strlen(h[i].data);
        archive_entry_set_size(e, h[i].size >= 0 ? h[i].size : (int64_t)len);
        archive_write_header(a, e);
        archive_write_data(a, h[i].data, len);
    }
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
}

static const char *hand_error(const struct hand *h, size_t n)
{
    static char err[2048];
    char p[512];
    path(p, "hand.tar");
    write_hand(p, h, n);
    struct mem_sink s = {0};
    static struct backup_manifest m;
    if (read_file(p, &s, &m, err, sizeof(err)) == 0)
        snprintf(err, sizeof(err), "accepted");
    sink_free(&s);
    return err;
}

#define MANIFEST(disks) "{\"vireo-backup\":1,\"name\":\"web\",\"created\":\"now\",\"config\":\"web.cfg\",\"disks\":[" disks "]}"
#define DISK(file, size) "{\"file\":\"" file "\",\"vdev\":\"xvda\",\"access\":\"rw\",\"size\":" size "}"

static void backup_hostile(void **state)
{
    (void)state;
    const char *cfg = "name = \"web\"\n";
    /* A well-formed stream made by hand is accepted (so each refusal below
     * is about its one change). */
    const char data[] = "";
    (void)data;
    struct hand ok[] = {{BACKUP_MANIFEST, MANIFEST(DISK("d.raw", "512")), -1},
                        {"web.cfg", cfg, -1},
                        {"d.raw", "", 512},
                        {BACKUP_TRAILER, "{\"disks\":[{\"file\":\"d.raw\",\"crc32\":0}]}", -1}};
    char trailer[128];
    uint32_t crc = backup_crc_zeros(0, 512);
    snprintf(trailer, sizeof(trailer), "{\"disks\":[{\"file\":\"d.raw\",\"crc32\":%u}]}", crc);
    ok[3].data = trailer;
    assert_string_equal(hand_error(ok, 4), "accepted");
    /* Wrong checksum. */
    struct hand h[4];
    memcpy(h, ok, sizeof(h));
    h[3].data = "{\"disks\":[{\"file\":\"d.raw\",\"crc32\":1}]}";
    assert_non_null(strstr(hand_error(h, 4), "d.raw: damaged"));
    /* Something after the end. */
    struct hand more[5];
    memcpy(more, ok, sizeof(ok));
    more[4] = (struct hand){"extra", "x", -1};
    assert_string_equal(hand_error(more, 5), "the stream goes on after its end (vireo-backup.end.json)");
    /* Not first: the manifest. */
    assert_string_equal(hand_error(&ok[1], 3), "expected vireo-backup.json next in the stream, found 'web.cfg'");
    /* Names that would leave the folder, or hide. */
    static const char *const bad_files[] = {"../x.raw", "/etc/passwd", ".hidden", "a/b", "web.cfg", BACKUP_TRAILER, ""};
    for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
        char man[512];
        snprintf(man, sizeof(man), MANIFEST("{\"file\":\"%s\",\"vdev\":\"xvda\",\"access\":\"rw\",\"size\":512}"),
                 bad_files[i]);
        memcpy(h, ok, sizeof(h));
        h[0].data = man;
        assert_string_equal(hand_error(h, 4), "vireo-backup.json: disk 1: \"file\" is missing or not a file name");
    }
    static const struct {
        const char *manifest, *err;
    } cases[] = {
        {MANIFEST(DISK("d.raw", "500")), "vireo-backup.json: disk 1: \"size\" must be a multiple of 512 up to 2^60"},
        {MANIFEST(DISK("d.raw", "-512")), "vireo-backup.json: disk 1: \"size\" must be a multiple of 512 up to 2^60"},
        {MANIFEST(DISK("d.raw", "\"512\"")), "vireo-backup.json: disk 1: \"size\" must be a multiple of 512 up to 2^60"},
        {MANIFEST(DISK("d.raw", "512") "," DISK("d.raw", "512")), "vireo-backup.json: disk 2: file d.raw is named twice"},
        {MANIFEST(""), "vireo-backup.json: \"disks\" must list 1 to 16 disks"},
        {"{\"vireo-backup\":2}", "vireo-backup.json: not a vireo backup of version 1"},
        {"[1]", "vireo-backup.json: not a JSON object"},
        {"{\"vireo-backup\":1,\"name\":\"../web\"}", "vireo-backup.json: \"name\" is missing or not a VM name"},
        {MANIFEST("{\"file\":\"d.raw\",\"vdev\":\"../a\",\"access\":\"rw\",\"size\":512}"),
         "vireo-backup.json: disk 1: \"vdev\" is missing or malformed"},
        {MANIFEST("{\"file\":\"d.raw\",\"vdev\":\"xvda\",\"access\":\"w\",\"size\":512}"),
         "vireo-backup.json: disk 1: \"access\" must be r or rw"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(h, ok, sizeof(h));
        h[0].data = cases[i].manifest;
        assert_string_equal(hand_error(h, 4), cases[i].err);
    }
    /* A disk entry of another size than the manifest says. */
    memcpy(h, ok, sizeof(h));
    h[2].size = 1024;
    assert_string_equal(hand_error(h, 4), "d.raw: 1024 bytes in the stream, 512 in the manifest");
    /* A manifest too large to be one. */
    char *big = malloc(BACKUP_JSON_MAX + 2);
    memset(big, ' ', BACKUP_JSON_MAX + 1);
    big[BACKUP_JSON_MAX + 1] = 0;
    memcpy(h, ok, sizeof(h));
    h[0].data = big;
    assert_string_equal(hand_error(h, 4), "vireo-backup.json: 65537 bytes; at most 65536 expected");
    free(big);
    /* Not a tar at all. */
    char p[512], err[256];
    path(p, "junk.tar");
    write_at(p, 0, "hello, world", 12);
    struct mem_sink s = {0};
    static struct backup_manifest m;
    assert_int_equal(read_file(p, &s, &m, err, sizeof(err)), -1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "chmod -R u+w %s; rm -rf %s", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lvm_report),     cmocka_unit_test(copy_names),    cmocka_unit_test(overlays),
        cmocka_unit_test(reader_extents), cmocka_unit_test(sparse_copies), cmocka_unit_test(crc_of_zeros),
        cmocka_unit_test(backup_round_trip), cmocka_unit_test(backup_hostile),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* qcow2-io: drives vireo's qcow2 core from the shell, for the tests
 * against qemu-img (tests/qcow2/qemu-compat.sh).
 *
 *   qcow2-io IMAGE COMMAND [ARGS]... [-- COMMAND [ARGS]...]...
 *
 *   write OFF LEN SEED        pseudo-random bytes (from SEED) at OFF
 *   zero OFF LEN              write zeroes
 *   discard OFF LEN
 *   flush
 *   read OFF LEN FILE         the bytes, into FILE
 *   compare RAW               the whole disk must equal the raw file RAW
 *   random N SEED RAW         N random writes, write-zeroes, discards and
 *                             flushes on IMAGE and, with the documented
 *                             semantics, on the raw file RAW (which holds
 *                             the disk's content beforehand); then compare
 *   check                     qcow2_check: 1 on corruption (leaks printed)
 *   info                      version, cluster size, size
 *   sleep SECONDS             holds the image (and its lock) open
 *
 * Numbers take K, M, G suffixes.  Exit 0, or 1 with the reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "block/qcow2_sync.h"

static struct qcow2 *q;

static int die(const char *fmt, const char *a)
{
    fprintf(stderr, "qcow2-io: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    exit(1);
}

static uint64_t num(const char *s)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 0);
    if (errno || e == s)
        die("bad number '%s'", s);
    switch (*e) {
    case 'K': case 'k': v <<= 10; e++; break;
    case 'M': case 'm': v <<= 20; e++; break;
    case 'G': case 'g': v <<= 30; e++; break;
    default: break;
    }
    if (*e)
        die("bad number '%s'", s);
    return v;
}

static uint64_t rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(uint8_t *p, uint64_t len, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (uint64_t i = 0; i < len; i++)
        p[i] = (uint8_t)(rng(&s) >> 29);
}

static void chk(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "qcow2-io: %s: %s\n", what, strerror(-r));
        exit(1);
    }
}

static int raw_io(int fd, void *buf, uint64_t len, uint64_t off, bool wr)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = wr ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
        if (n < 0)
            return -errno;
        if (n == 0) {
            if (wr)
                return -EIO;
            memset(p, 0, len);
            return 0;
        }
        p += n;
        len -= (uint64_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

static void compare(const char *raw)
{
    int fd = open(raw, O_RDONLY);
    if (fd < 0)
        die("cannot open %s", raw);
    uint64_t size = qcow2_size(q), chunk = 1 << 20;
    uint8_t *a = malloc(chunk), *b = malloc(chunk);
    for (uint64_t off = 0; off < size; off += chunk) {
        uint64_t n = size - off < chunk ? size - off : chunk;
        chk(qcow2_sync_read(q, a, n, off), "read");
        chk(raw_io(fd, b, n, off, false), "read raw");
        if (memcmp(a, b, n)) {
            uint64_t i = 0;
            while (a[i] == b[i])
                i++;
            fprintf(stderr, "qcow2-io: differs from %s at byte %llu\n", raw, (unsigned long long)(off + i));
            exit(1);
        }
    }
    free(a);
    free(b);
    close(fd);
}

/* What a discard leaves: whole clusters read as zeroes, except in a
 * version 2 image with a backing file, where the backing file shows. */
static void ref_discard(int fd, uint64_t off, uint64_t len, bool v2)
{
    uint64_t cs = qcow2_cluster_size(q), end = off + len, size = qcow2_size(q);
    uint64_t a = (off + cs - 1) & ~(cs - 1), b = end == size ? end : end & ~(cs - 1);
    if (b <= a)
        return;
    uint8_t *buf = calloc(1, b - a);
    const struct qcow2_link *l = qcow2_backing(q);
    if (v2 && l->fmt != IMG_FORMAT_NONE)
        chk(qcow2_link_read(l, buf, b - a, a), "read backing");
    chk(raw_io(fd, buf, b - a, a, true), "write raw");
    free(buf);
}

static void random_ops(uint64_t n, uint64_t seed, const char *raw)
{
    int fd = open(raw, O_RDWR);
    if (fd < 0)
        die("cannot open %s", raw);
    struct qcow2_info info;
    qcow2_get_info(q, &info);
    uint64_t size = qcow2_size(q), cs = qcow2_cluster_size(q), s = seed * 7919 + 3;
    uint64_t maxlen = cs * 3 < (1 << 20) ? cs * 3 : (1 << 20);
    uint8_t *buf = malloc(maxlen + 1);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t op = rng(&s) % 100;
        uint64_t len = 1 + rng(&s) % maxlen;
        if (rng(&s) % 4)
            len = (len + 511) & ~511ull;   /* mostly whole sectors, as a guest */
        if (len > size)
            len = size;
        uint64_t off = rng(&s) % (size - len + 1);
        if (rng(&s) % 4)
            off &= ~511ull;
        if (op < 60) {
            fill(buf, len, rng(&s));
            chk(qcow2_sync_write(q, buf, len, off), "write");
            chk(raw_io(fd, buf, len, off, true), "write raw");
        } else if (op < 75) {
            chk(qcow2_sync_write_zeroes(q, off, len), "write zeroes");
            memset(buf, 0, len);
            chk(raw_io(fd, buf, len, off, true), "write raw");
        } else if (op < 90) {
            chk(qcow2_sync_discard(q, off, len), "discard");
            ref_discard(fd, off, len, info.version == 2);
        } else if (op < 95) {
            chk(qcow2_flush(q), "flush");
        } else {
            uint8_t *r = malloc(len);
            chk(qcow2_sync_read(q, buf, len, off), "read");
            chk(raw_io(fd, r, len, off, false), "read raw");
            if (memcmp(buf, r, len)) {
                fprintf(stderr, "qcow2-io: op %llu: read at %llu differs\n", (unsigned long long)i,
                        (unsigned long long)off);
                exit(1);
            }
            free(r);
        }
    }
    free(buf);
    close(fd);
    chk(qcow2_flush(q), "flush");
    compare(raw);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: qcow2-io IMAGE COMMAND [ARGS]... [-- COMMAND ...]\n");
        return 2;
    }
    char err[1024];
    struct bfile *f;
    if (bfile_fd_open(&f, argv[1], false, false, err, sizeof(err)) < 0)
        die("%s", err);
    if (qcow2_open(&q, f, argv[1], NULL, err, sizeof(err)) < 0) {
        bfile_close(f);
        die("%s", err);
    }
    for (int i = 2; i < argc;) {
        const char *c = argv[i++];
        int na = argc - i;
#define NEED(k) do { if (na < (k)) die("%s: missing arguments", c); } while (0)
        if (!strcmp(c, "--")) {
            continue;
        } else if (!strcmp(c, "write")) {
            NEED(3);
            uint64_t off = num(argv[i]), len = num(argv[i + 1]), seed = num(argv[i + 2]);
            uint8_t *b = malloc(len);
            fill(b, len, seed);
            chk(qcow2_sync_write(q, b, len, off), "write");
            free(b);
            i += 3;
        } else if (!strcmp(c, "zero")) {
            NEED(2);
            chk(qcow2_sync_write_zeroes(q, num(argv[i]), num(argv[i + 1])), "write zeroes");
            i += 2;
        } else if (!strcmp(c, "discard")) {
            NEED(2);
            chk(qcow2_sync_discard(q, num(argv[i]), num(argv[i + 1])), "discard");
            i += 2;
        } else if (!strcmp(c, "flush")) {
            chk(qcow2_flush(q), "flush");
        } else if (!strcmp(c, "read")) {
            NEED(3);
            uint64_t off = num(argv[i]), len = num(argv[i + 1]);
            uint8_t *b = malloc(len);
            chk(qcow2_sync_read(q, b, len, off), "read");
            int fd = open(argv[i + 2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0 || raw_io(fd, b, len, 0, true) < 0)
                die("cannot write %s", argv[i + 2]);
            close(fd);
            free(b);
            i += 3;
        } else if (!strcmp(c, "compare")) {
            NEED(1);
            compare(argv[i++]);
        } else if (!strcmp(c, "random")) {
            NEED(3);
            random_ops(num(argv[i]), num(argv[i + 1]), argv[i + 2]);
            i += 3;
        } else if (!strcmp(c, "check")) {
            struct qcow2_check_result res;
            chk(qcow2_check(q, &res), "check");
            printf("corruptions %llu leaks %llu\n", (unsigned long long)res.corruptions,
                   (unsigned long long)res.leaks);
            if (res.corruptions) {
                fprintf(stderr, "qcow2-io: corrupt: %s\n", res.first);
                return 1;
            }
        } else if (!strcmp(c, "sleep")) {
            NEED(1);
            sleep((unsigned)num(argv[i++]));
        } else if (!strcmp(c, "info")) {
            struct qcow2_info in;
            qcow2_get_info(q, &in);
            printf("version %u cluster %u size %llu refcount_bits %u\n", in.version, in.cluster_size,
                   (unsigned long long)in.size, in.refcount_bits);
        } else {
            die("unknown command '%s'", c);
        }
    }
    int r = qcow2_close(q);
    if (r < 0) {
        fprintf(stderr, "qcow2-io: close: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}

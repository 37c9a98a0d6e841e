/* q2crash TMPDIR KILLS CLUSTER_BITS BACKING SEED: the crash campaign, in a
 * folder of its own under TMPDIR (removed at the end).
 *
 * A child process writes through the qcow2 core (real files in DIR,
 * fdatasync) a deterministic stream of writes, write-zeroes and discards
 * with a flush after every FLUSH_EVERY operations, telling the parent
 * over a pipe how many operations each completed flush covers.  The
 * parent SIGKILLs it at a random moment, then:
 *   - `qemu-img check` must report no corruption (leaked clusters are
 *     allowed: exit 0 or 3);
 *   - every 4 KiB block that the operations acknowledged by the last
 *     completed flush left in a known state reads back with that content
 *     (blocks touched by operations after it may hold old or new data);
 *   - now and then, qemu-img's reading of the whole disk equals vireo's.
 * The next child goes on from what the killed one left.  BACKING 1 puts
 * the image on a raw backing file (copy-on-write from it), 0 none. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "block/qcow2.h"
#include "block/qcow2_sync.h"

#define BLK 4096u
#define DISK (64u << 20)
#define NBLK (DISK / BLK)
#define FLUSH_EVERY 8u
#define MAX_BLKS 64u

static const char *dir;
static unsigned cbits;
static bool backing;

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

enum kind { WRITE, ZERO, DISCARD };

struct op {
    enum kind kind;
    uint32_t blk, n;       /* blocks */
    uint64_t tag;          /* write: the data's seed */
};

/* Operation j of stream `seed`: the child's and the parent's copy. */
static struct op gen(uint64_t seed, uint64_t j)
{
    uint64_t r = mix(seed * 1000003 + j);
    struct op o;
    unsigned p = (unsigned)(r % 100);
    o.kind = p < 70 ? WRITE : p < 82 ? ZERO : DISCARD;
    o.n = 1 + (uint32_t)(mix(r) % MAX_BLKS);
    o.blk = (uint32_t)(mix(r + 1) % (NBLK - o.n + 1));
    o.tag = mix(r + 2);
    return o;
}

static void block_data(uint64_t tag, uint32_t blk, uint8_t *p)
{
    uint64_t x = mix(tag ^ blk);
    for (unsigned i = 0; i < BLK; i += 8) {
        x = mix(x);
        memcpy(p + i, &x, 8);
    }
}

static void path(char *buf, const char *name)
{
    snprintf(buf, 512, "%s/%s", dir, name);
}

static struct qcow2 *open_img(bool ro)
{
    char p[512], err[1024];
    path(p, "top.qcow2");
    struct bfile *f;
    struct qcow2 *q;
    struct qcow2_open_opts o = {.read_only = ro};
    if (bfile_fd_open(&f, p, ro, false, err, sizeof(err)) < 0 || qcow2_open(&q, f, p, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "q2crash: %s\n", err);
        exit(1);
    }
    return q;
}

static void child(uint64_t seed, int wfd)
{
    struct qcow2 *q = open_img(false);
    uint8_t *buf = malloc(MAX_BLKS * BLK);
    for (uint64_t j = 0;; j++) {
        struct op o = gen(seed, j);
        uint64_t off = (uint64_t)o.blk * BLK, len = (uint64_t)o.n * BLK;
        int r;
        if (o.kind == WRITE) {
            for (uint32_t b = 0; b < o.n; b++)
                block_data(o.tag, o.blk + b, buf + (uint64_t)b * BLK);
            r = qcow2_sync_write(q, buf, len, off);
        } else if (o.kind == ZERO) {
            r = qcow2_sync_write_zeroes(q, off, len);
        } else {
            r = qcow2_sync_discard(q, off, len);
        }
        if (!r && j % FLUSH_EVERY == FLUSH_EVERY - 1) {
            r = qcow2_flush(q);
            uint64_t done = j + 1;
            if (!r && write(wfd, &done, sizeof(done)) != sizeof(done))
                r = -EIO;
        }
        if (r) {
            fprintf(stderr, "q2crash: child: operation %llu: %s\n", (unsigned long long)j, strerror(-r));
            _exit(1);
        }
    }
}

/* What operation o does to the blocks' hashes (u: mark them uncertain
 * instead). */
static void apply(const struct op *o, uint64_t *h, bool *u, uint64_t zero_hash)
{
    uint64_t cs_blocks = (1ull << cbits) / BLK;   /* 0 for clusters under 4 KiB */
    uint8_t b[BLK];
    for (uint32_t i = o->blk; i < o->blk + o->n; i++) {
        if (u) {
            u[i] = true;
            continue;
        }
        if (o->kind == WRITE) {
            block_data(o->tag, i, b);
            h[i] = fnv(b, BLK);
        } else if (o->kind == ZERO) {
            h[i] = zero_hash;
        } else {
            /* Discard: the whole clusters inside the range read as zeroes
             * (version 3), the rest is unchanged. */
            uint64_t off = (uint64_t)i * BLK, cs = 1ull << cbits;
            uint64_t start = (uint64_t)o->blk * BLK, end = start + (uint64_t)o->n * BLK;
            uint64_t cstart = off & ~(cs - 1);
            if (cs_blocks <= 1 || (cstart >= start && cstart + cs <= end))
                h[i] = zero_hash;
        }
    }
}

static void read_hashes(uint64_t *h)
{
    struct qcow2 *q = open_img(true);
    uint8_t *buf = malloc(1 << 20);
    for (uint64_t off = 0; off < DISK; off += 1 << 20) {
        int r = qcow2_sync_read(q, buf, 1 << 20, off);
        if (r) {
            fprintf(stderr, "q2crash: read: %s\n", strerror(-r));
            exit(1);
        }
        for (unsigned b = 0; b < (1 << 20) / BLK; b++)
            h[off / BLK + b] = fnv(buf + (uint64_t)b * BLK, BLK);
    }
    free(buf);
    qcow2_close(q);
}

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 255;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: q2crash DIR KILLS CLUSTER_BITS BACKING SEED\n");
        return 2;
    }
    static char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/q2crash.XXXXXX", argv[1]);
    dir = mkdtemp(tmpl);
    if (!dir) {
        perror("q2crash: mkdtemp");
        return 1;
    }
    unsigned kills = (unsigned)atoi(argv[2]);
    cbits = (unsigned)atoi(argv[3]);
    backing = atoi(argv[4]);
    uint64_t seed = strtoull(argv[5], NULL, 10);
    char p[512], cmd[2048], err[512];

    /* The images: a raw backing file with data (and a hole), the overlay. */
    uint8_t *blk = malloc(BLK), zero[BLK] = {0};
    uint64_t *base = calloc(NBLK, sizeof(*base)), *exp = malloc(NBLK * sizeof(*exp));
    uint64_t *got = malloc(NBLK * sizeof(*got));
    bool *unsure = malloc(NBLK);
    uint64_t zero_hash = fnv(zero, BLK);
    if (backing) {
        path(p, "base.raw");
        FILE *f = fopen(p, "wb");
        for (uint32_t b = 0; b < NBLK * 3 / 4; b++) {
            block_data(seed, b, blk);
            fwrite(b % 97 < 10 ? zero : blk, 1, BLK, f);
        }
        fclose(f);
    }
    path(p, "top.qcow2");
    unlink(p);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL, 0644);
    struct bfile *bf = bfile_fd_wrap(fd, 1);
    struct qcow2_create_opts co = {.size = DISK, .cluster_bits = cbits, .backing = backing ? "base.raw" : NULL,
                                   .backing_fmt = "raw"};
    if (qcow2_create(bf, &co, err, sizeof(err)) < 0) {
        fprintf(stderr, "q2crash: create: %s\n", err);
        return 1;
    }
    bfile_close(bf);
    read_hashes(base);

    uint64_t rng = mix(seed + 77), verified = 0, leaks_seen = 0;
    unsigned failures = 0;
    for (unsigned it = 0; it < kills && !failures; it++) {
        uint64_t s = seed * 7919 + it;
        int pfd[2];
        if (pipe(pfd) < 0)
            return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(pfd[0]);
            child(s, pfd[1]);
        }
        close(pfd[1]);
        rng = mix(rng);
        struct timespec ts = {0, (long)(20 + rng % 280) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (!WIFSIGNALED(st)) {
            fprintf(stderr, "q2crash: kill %u: the child ended by itself (status %d)\n", it, st);
            return 1;
        }
        uint64_t k = 0, v;
        while (read(pfd[0], &v, sizeof(v)) == sizeof(v))
            k = v;
        close(pfd[0]);

        /* The reference implementation: no corruption. */
        snprintf(cmd, sizeof(cmd), "qemu-img check %s/top.qcow2 >%s/check.txt 2>&1", dir, dir);
        int cst = sh(cmd);
        if (cst != 0 && cst != 3) {
            snprintf(cmd, sizeof(cmd), "cat %s/check.txt >&2", dir);
            sh(cmd);
            fprintf(stderr, "q2crash: kill %u: qemu-img check exit %d\n", it, cst);
            failures++;
            break;
        }
        leaks_seen += cst == 3;

        /* Flushed operations read back. */
        memcpy(exp, base, NBLK * sizeof(*exp));
        memset(unsure, 0, NBLK);
        for (uint64_t j = 0; j < k; j++) {
            struct op o = gen(s, j);
            apply(&o, exp, NULL, zero_hash);
        }
        for (uint64_t j = k; j < k + FLUSH_EVERY; j++) {   /* up to the flush that was not acknowledged */
            struct op o = gen(s, j);
            apply(&o, exp, unsure, zero_hash);
        }
        read_hashes(got);
        for (uint32_t b = 0; b < NBLK; b++) {
            if (unsure[b])
                continue;
            if (got[b] != exp[b]) {
                fprintf(stderr, "q2crash: kill %u (%llu operations flushed): block %u reads wrong\n", it,
                        (unsigned long long)k, b);
                failures++;
                break;
            }
            verified++;
        }
        if (it % 10 == 9) {
            /* QEMU reads the same disk. */
            snprintf(cmd, sizeof(cmd), "qemu-img convert -O raw %s/top.qcow2 %s/now.raw", dir, dir);
            if (sh(cmd)) {
                fprintf(stderr, "q2crash: qemu-img convert failed\n");
                failures++;
                break;
            }
            path(p, "now.raw");
            FILE *f = fopen(p, "rb");
            for (uint32_t b = 0; f && b < NBLK; b++) {
                size_t n = fread(blk, 1, BLK, f);
                if (n < BLK)
                    memset(blk + n, 0, BLK - n);
                if (fnv(blk, BLK) != got[b]) {
                    fprintf(stderr, "q2crash: kill %u: qemu-img reads block %u differently\n", it, b);
                    failures++;
                    break;
                }
            }
            if (f)
                fclose(f);
            unlink(p);
        }
        printf("kill %u after %llu flushed operations: qemu-img check %s\n", it, (unsigned long long)k,
               cst ? "leaks only" : "clean");
        fflush(stdout);
        memcpy(base, got, NBLK * sizeof(*base));
    }
    printf("q2crash: %u kills, %llu block checks, %llu checks with leaked clusters, %s\n", kills,
           (unsigned long long)verified, (unsigned long long)leaks_seen, failures ? "FAILED" : "ok");
    free(blk);
    free(base);
    free(exp);
    free(got);
    free(unsure);
    if (!failures) {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        sh(cmd);
    } else {
        fprintf(stderr, "q2crash: the images are left in %s\n", dir);
    }
    return failures ? 1 : 0;
}

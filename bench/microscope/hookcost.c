/* hookcost empty|min|stream OBJ: attaches hookcost.bpf.c's programs of one
 * kind and holds them until SIGINT/SIGTERM; "min" then prints what it
 * counted, so a run that charged nothing shows; "stream" reads its ring
 * every 100 ms, as a recorder would, and prints how many records came.
 * Prints "attached" once they are. */
#include <bpf/libbpf.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct total {
    unsigned long long ops, bytes, lat_ns, tid_sum;
};

static volatile sig_atomic_t stop;

/* ---- stream: what a recorder built on per-request records would do with
 * them: in-service counts and the processor-sharing clock per device,
 * each completion's share, and rows per (1 ms bucket, task, device). ---- */
#define SLOTS 4096
#define ROWS 65536
struct ev {
    uint64_t ts, queue_ts;
    uint32_t type, idx, tid, dev, bytes, op;
};
static struct inflight {
    uint64_t issue, queue, v0;
    uint32_t tid, dev, bytes, op, used;
} fl[SLOTS];
static struct devst {
    uint32_t dev, n;
    uint64_t last, v;
} devs[64];
static struct row {
    uint32_t bucket, tid, dev, used;
    uint64_t bytes, ops, queue, service, share;
    uint32_t lat[24];
} rows[ROWS];
static unsigned long long records, rows_out;
static uint32_t used_idx[ROWS];
static size_t nused;
static uint64_t t0;

static struct devst *devst(uint32_t dev)
{
    for (int i = 0; i < 64; i++) {
        if (devs[i].dev == dev)
            return &devs[i];
        if (!devs[i].dev) {
            devs[i].dev = dev;
            return &devs[i];
        }
    }
    return &devs[63];
}

static void advance(struct devst *d, uint64_t ts)
{
    if (d->n && ts > d->last)
        d->v += ((ts - d->last) << 10) / d->n;
    if (ts > d->last)
        d->last = ts;
}

static void row_add(uint32_t bucket, uint32_t tid, uint32_t dev, const struct inflight *f, uint64_t ts, uint64_t share)
{
    uint64_t h = ((uint64_t)tid * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)dev * 0xC2B2AE3D27D4EB4Full) ^ bucket;
    size_t k = (size_t)(h ^ h >> 29) & (ROWS - 1);
    for (int probe = 0; probe < ROWS; probe++, k = (k + 1) & (ROWS - 1)) {
        struct row *r = &rows[k];
        if (r->used && (r->bucket != bucket || r->tid != tid || r->dev != dev))
            continue;
        if (!r->used) {
            *r = (struct row){.bucket = bucket, .tid = tid, .dev = dev, .used = 1};
            used_idx[nused++] = (uint32_t)k;
            rows_out++;
        }
        r->bytes += f->bytes;
        r->ops++;
        r->queue += f->issue - f->queue;
        r->service += ts - f->issue;
        r->share += share;
        uint64_t us = (ts - f->queue) / 1000;
        int slot = 0;
        while (us > 1 && slot < 23) {
            us >>= 1;
            slot++;
        }
        r->lat[slot]++;
        return;
    }
}

static int on_event(void *ctx, void *data, size_t size)
{
    (void)ctx;
    const struct ev *e = data;
    if (size < sizeof(*e))
        return 0;
    records++;
    struct inflight *f = &fl[e->idx & (SLOTS - 1)];
    if (e->type == 1) {
        struct devst *d = devst(e->dev);
        advance(d, e->ts);
        d->n++;
        *f = (struct inflight){e->ts, e->queue_ts, d->v, e->tid, e->dev, e->bytes, e->op, 1};
        if (!t0)
            t0 = e->ts;
    } else if (f->used) {
        struct devst *d = devst(f->dev);
        advance(d, e->ts);
        if (d->n)
            d->n--;
        uint64_t share = (d->v - f->v0) >> 10;
        uint32_t bucket = (uint32_t)((e->ts - t0) / 1000000);
        row_add(bucket, f->tid, f->dev, f, e->ts, share);
        row_add(bucket, 0, f->dev, f, e->ts, share);
        f->used = 0;
    }
    return 0;
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "empty") && strcmp(argv[1], "min") && strcmp(argv[1], "stream"))) {
        fprintf(stderr, "usage: hookcost empty|min|stream OBJECT\n");
        return 2;
    }
    const char *kind = argv[1];
    struct bpf_object *obj = bpf_object__open_file(argv[2], NULL);
    if (!obj) {
        perror("hookcost: open");
        return 1;
    }
    struct bpf_program *p;
    size_t klen = strlen(kind);
    bpf_object__for_each_program(p, obj)
        bpf_program__set_autoload(p, !strncmp(bpf_program__name(p), kind, klen) &&
                                         bpf_program__name(p)[klen] == '_');
    if (bpf_object__load(obj)) {
        fprintf(stderr, "hookcost: load failed (root? kernel BTF?)\n");
        return 1;
    }
    bpf_object__for_each_program(p, obj) {
        if (bpf_program__autoload(p) && !bpf_program__attach(p)) {
            fprintf(stderr, "hookcost: cannot attach %s\n", bpf_program__name(p));
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct ring_buffer *rb = NULL;
    if (!strcmp(kind, "stream")) {
        struct bpf_map *m = bpf_object__find_map_by_name(obj, "events");
        rb = m ? ring_buffer__new(bpf_map__fd(m), on_event, NULL, NULL) : NULL;
        if (!rb) {
            fprintf(stderr, "hookcost: cannot map the ring buffer\n");
            return 1;
        }
    }
    printf("attached\n");
    fflush(stdout);
    while (!stop) {
        if (rb) {
            usleep(100000);
            ring_buffer__consume(rb);
            for (size_t i = 0; i < nused; i++) /* a recorder writes them out here */
                rows[used_idx[i]].used = 0;
            nused = 0;
        } else {
            pause();
        }
    }
    if (rb) {
        ring_buffer__consume(rb);
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
                     ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
        printf("counted %llu records into %llu rows; user space: %.0f ns of CPU per record\n", records, rows_out,
               records ? cpu * 1e9 / (double)records : 0.0);
        ring_buffer__free(rb);
    }
    if (!strcmp(kind, "min")) {
        int ncpu = libbpf_num_possible_cpus();
        struct total *t = calloc((size_t)ncpu, sizeof(*t)), sum = {0};
        unsigned key = 0;
        struct bpf_map *m = bpf_object__find_map_by_name(obj, "totals");
        if (t && m && !bpf_map__lookup_elem(m, &key, sizeof(key), t, (size_t)ncpu * sizeof(*t), 0)) {
            for (int i = 0; i < ncpu; i++) {
                sum.ops += t[i].ops;
                sum.bytes += t[i].bytes;
                sum.lat_ns += t[i].lat_ns;
            }
            printf("counted %llu requests, %llu bytes, mean latency %.1f us\n", sum.ops, sum.bytes,
                   sum.ops ? sum.lat_ns / 1e3 / (double)sum.ops : 0.0);
        }
        free(t);
    }
    bpf_object__close(obj);
    return 0;
}

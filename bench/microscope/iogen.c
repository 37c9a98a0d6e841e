/* iogen: a block I/O workload whose shape is known exactly, so that what
 * `vireo microscope record` measures can be checked against it (mscheck).
 *
 *   iogen --dir DIR --truth OUT.csv [--seconds N] [--log FILE] [--linger S]
 *
 * DIR is a file system on a block device of its own (the scripts use ext4
 * on a loop device).  Threads, each with its own name and file:
 *   burst-r, burst-w   O_DIRECT 64 KiB reads / writes at QD1 for 3 ms,
 *                      every 150-250 ms (seeded, so not periodic)
 *   steady-r, steady-w O_DIRECT 64 KiB every 2 ms
 *   buf-w              16 MiB of buffered writes, never synced by itself;
 *                      a second later iogen-sync calls syncfs(), so the
 *                      data leaves through the flusher (a kworker):
 *                      writeback on buf-w's behalf
 *   idle               sleeps
 * The truth file has one row per burst and one total per task:
 *   task,tid,what,start_ns,end_ns,bytes     (what = burst | total | sync)
 * Times are CLOCK_MONOTONIC; a burst starts right before its first I/O is
 * submitted and ends right after its last one completed.  The `sync` row
 * is iogen-sync's syncfs() call: buf-w's writeback must fall inside it. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define IO_SIZE (64 << 10)
#define FILE_SIZE (32 << 20)   /* per O_DIRECT thread; offsets wrap */
#define BUF_SIZE (16 << 20)    /* buf-w's dirty data */
#define BUF_CHUNK (1 << 20)
#define BURST_NS 3000000ull
#define STEADY_NS 2000000ull
#define SYNC_DELAY_NS 1000000000ull
#define MS 1000000ull

struct row {
    const char *what;
    uint64_t start, end, bytes;
};

struct gen {
    const char *name;
    void *(*fn)(void *);
    int write;            /* direct threads: write instead of read */
    unsigned seed;        /* burst threads: gaps between bursts */
    uint64_t first_gap;   /* burst threads: phase of the first burst */
    int fd;
    pid_t tid;
    void *buf;
    uint64_t off, bytes, first, last; /* first submit, last completion */
    uint64_t submit;                  /* the last I/O's submission */
    uint64_t (*log)[2];               /* --log: each O_DIRECT I/O's submit, completion */
    size_t nlog, logcap;
    struct row *rows;
    size_t nrows, cap;
};

static uint64_t t0, tend;            /* timed phase */
static int dirfd_ = -1, syncev = -1; /* buf-w -> iogen-sync */
static pthread_barrier_t ready;
static const char *log_path;         /* --log FILE: every I/O, to find lost ones */

static void die(const char *what)
{
    fprintf(stderr, "iogen: %s: %s\n", what, strerror(errno));
    exit(1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
    struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

static void add_row(struct gen *g, const char *what, uint64_t start, uint64_t end, uint64_t bytes)
{
    if (g->nrows == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 64;
        g->rows = realloc(g->rows, g->cap * sizeof(*g->rows));
        if (!g->rows)
            die("realloc");
    }
    g->rows[g->nrows++] = (struct row){what, start, end, bytes};
}

/* One O_DIRECT I/O at QD1; counts only what the kernel says it moved. */
static void direct_io(struct gen *g)
{
    uint64_t t = now_ns();
    ssize_t n = g->write ? pwrite(g->fd, g->buf, IO_SIZE, (off_t)g->off)
                         : pread(g->fd, g->buf, IO_SIZE, (off_t)g->off);
    if (n != IO_SIZE) {
        fprintf(stderr, "iogen: %s: %s at %llu: %s\n", g->name, g->write ? "write" : "read",
                (unsigned long long)g->off, n < 0 ? strerror(errno) : "short");
        exit(1);
    }
    uint64_t done = now_ns();
    if (log_path) {
        if (g->nlog == g->logcap) {
            g->logcap = g->logcap ? 2 * g->logcap : 4096;
            if (!(g->log = realloc(g->log, g->logcap * sizeof(*g->log))))
                die("realloc");
        }
        g->log[g->nlog][0] = t;
        g->log[g->nlog++][1] = done;
    }
    g->off = (g->off + IO_SIZE) % FILE_SIZE;
    g->bytes += IO_SIZE;
    if (!g->first)
        g->first = t;
    g->submit = t;
    g->last = done;
}

static void start(struct gen *g)
{
    g->tid = (pid_t)syscall(SYS_gettid);
    prctl(PR_SET_NAME, g->name);
    pthread_barrier_wait(&ready); /* main sets t0 after this */
    pthread_barrier_wait(&ready);
}

static void *burst_main(void *p)
{
    struct gen *g = p;
    /* A burst's start and end are taken in user space: a thread that waits
     * for a CPU after its last I/O completed would stamp the end late (seen:
     * 3.4 ms on 2 busy CPUs).  Real-time priority makes it run as soon as
     * the kernel wakes it; it sleeps in I/O nearly all the time. */
    struct sched_param sp = {.sched_priority = 10};
    if ((errno = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp)))
        fprintf(stderr, "iogen: %s: no SCHED_FIFO (%s): burst times may be late under load\n", g->name,
                strerror(errno));
    start(g);
    uint64_t at = t0 + g->first_gap;
    while (at + BURST_NS < tend) {
        sleep_until(at);
        uint64_t s = now_ns(), b0 = g->bytes, hole = 0;
        do {
            uint64_t prev = g->last;
            direct_io(g);
            if (g->bytes - b0 > IO_SIZE && g->submit - prev > hole)
                hole = g->submit - prev;
        } while (now_ns() - s < BURST_NS);
        add_row(g, "burst", s, g->last, g->bytes - b0);
        /* No I/O in flight between two of a burst's I/Os for long enough
         * to leave buckets empty: the scheduler cut the burst, which is a
         * flaw of the truth, not of the recorder.  Say so. */
        if (hole > MS)
            fprintf(stderr, "iogen: %s: burst at %.3f s paused %.2f ms between two I/Os (descheduled)\n",
                    g->name, (double)(s - t0) / 1e9, (double)hole / 1e6);
        at += 150 * MS + (uint64_t)(rand_r(&g->seed) % 101) * MS;
    }
    return NULL;
}

static void *steady_main(void *p)
{
    struct gen *g = p;
    start(g);
    for (uint64_t at = t0; at < tend; at += STEADY_NS) {
        uint64_t t = now_ns();
        if (t > at + STEADY_NS)
            continue; /* fell behind (descheduled): skip, keep the rate */
        sleep_until(at);
        direct_io(g);
    }
    return NULL;
}

static void *bufw_main(void *p)
{
    struct gen *g = p;
    start(g);
    sleep_until(t0 + (tend - t0) * 3 / 10);
    /* Whole, page-aligned pages, each written once: writeback then moves
     * exactly BUF_SIZE bytes.  No fsync here, on purpose. */
    g->first = now_ns();
    for (off_t o = 0; o < BUF_SIZE; o += BUF_CHUNK) {
        if (pwrite(g->fd, g->buf, BUF_CHUNK, o) != BUF_CHUNK)
            die("buf-w: write");
        g->bytes += BUF_CHUNK;
    }
    g->last = now_ns();
    uint64_t one = 1;
    if (write(syncev, &one, sizeof(one)) != sizeof(one))
        die("eventfd write");
    return NULL; /* stays alive to the end (thread_main): per-thread tools see it */
}

static void *sync_main(void *p)
{
    struct gen *g = p;
    start(g);
    uint64_t v;
    if (read(syncev, &v, sizeof(v)) != sizeof(v))
        die("eventfd read");
    /* A second later: tools that charge buffered writes when the pages are
     * dirtied (taskstats: iotop, pidstat) then show them a second before
     * they reach the device. */
    uint64_t at = now_ns() + SYNC_DELAY_NS;
    sleep_until(at < tend ? at : tend);
    uint64_t s = now_ns();
    if (syncfs(dirfd_))
        die("syncfs");
    add_row(g, "sync", s, now_ns(), 0);
    return NULL;
}

static void *idle_main(void *p)
{
    struct gen *g = p;
    start(g);
    sleep_until(tend);
    return NULL;
}

/* --linger: the threads stay alive (idle) that long after the workload,
 * so tools that sample per-thread counters every second (iotop, pidstat)
 * get to see its last second before the threads are gone. */
static uint64_t linger_ns;

static void *thread_main(void *p)
{
    struct gen *g = p;
    g->fn(g);
    sleep_until(tend + linger_ns);
    return NULL;
}

static struct gen gens[] = {
    {.name = "burst-r", .fn = burst_main, .seed = 11, .first_gap = 50 * MS},
    {.name = "burst-w", .fn = burst_main, .write = 1, .seed = 23, .first_gap = 120 * MS},
    {.name = "steady-r", .fn = steady_main},
    {.name = "steady-w", .fn = steady_main, .write = 1},
    {.name = "buf-w", .fn = bufw_main},
    {.name = "iogen-sync", .fn = sync_main},
    {.name = "idle", .fn = idle_main},
};
#define NGEN (sizeof(gens) / sizeof(gens[0]))

/* Real data, written and synced before the timed phase: O_DIRECT reads of
 * unwritten extents never reach the device, and overwriting allocated,
 * written blocks needs no allocation or extent conversion later. */
static int prealloc(const char *dir, const char *name, size_t size, int direct)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
    if (fd < 0)
        die(path);
    void *b;
    if (posix_memalign(&b, 4096, BUF_CHUNK))
        die("posix_memalign");
    memset(b, name[0], BUF_CHUNK);
    for (size_t o = 0; o < size; o += BUF_CHUNK)
        if (pwrite(fd, b, BUF_CHUNK, (off_t)o) != BUF_CHUNK)
            die(path);
    if (fsync(fd))
        die(path);
    free(b);
    if (!direct) { /* buf-w: the same file, through the page cache */
        close(fd);
        fd = open(path, O_RDWR);
        if (fd < 0)
            die(path);
    }
    return fd;
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *truth = NULL;
    double secs = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--truth") && i + 1 < argc)
            truth = argv[++i];
        else if (!strcmp(argv[i], "--log") && i + 1 < argc)
            log_path = argv[++i];
        else if (!strcmp(argv[i], "--linger") && i + 1 < argc)
            linger_ns = (uint64_t)(atof(argv[++i]) * 1e9);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            secs = atof(argv[++i]);
        else
            dir = NULL, i = argc;
    }
    if (!dir || !truth || !(secs >= 1 && secs <= 3600)) {
        fprintf(stderr, "usage: iogen --dir DIR --truth OUT.csv [--seconds N (1-3600, default 10)] [--log FILE]\n"
                        "             [--linger SECONDS]\n"
                        "  --log FILE  also write every O_DIRECT I/O: task,tid,submit_ns,complete_ns,bytes\n"
                        "  --linger S  keep the (idle) threads alive S seconds after the workload\n");
        return 2;
    }
    FILE *out = fopen(truth, "w");
    if (!out)
        die(truth);
    dirfd_ = open(dir, O_RDONLY | O_DIRECTORY);
    if (dirfd_ < 0)
        die(dir);
    syncev = eventfd(0, 0);
    if (syncev < 0)
        die("eventfd");
    for (size_t i = 0; i < NGEN; i++) {
        struct gen *g = &gens[i];
        g->fd = -1;
        if (g->fn == burst_main || g->fn == steady_main)
            g->fd = prealloc(dir, g->name, FILE_SIZE, 1);
        else if (g->fn == bufw_main)
            g->fd = prealloc(dir, g->name, BUF_SIZE, 0);
        if (posix_memalign(&g->buf, 4096, BUF_CHUNK))
            die("posix_memalign");
        memset(g->buf, 0x5a ^ (int)i, BUF_CHUNK);
    }
    if (fsync(dirfd_))
        die("fsync dir");
    pthread_barrier_init(&ready, NULL, NGEN + 1);
    pthread_t th[NGEN];
    for (size_t i = 0; i < NGEN; i++)
        if ((errno = pthread_create(&th[i], NULL, thread_main, &gens[i])))
            die("pthread_create");
    pthread_barrier_wait(&ready);
    t0 = now_ns() + 20 * MS;
    tend = t0 + (uint64_t)(secs * 1e9);
    pthread_barrier_wait(&ready);
    for (size_t i = 0; i < NGEN; i++)
        pthread_join(th[i], NULL);

    fprintf(out, "task,tid,what,start_ns,end_ns,bytes\n");
    for (size_t i = 0; i < NGEN; i++) {
        struct gen *g = &gens[i];
        for (size_t r = 0; r < g->nrows; r++)
            fprintf(out, "%s,%d,%s,%llu,%llu,%llu\n", g->name, g->tid, g->rows[r].what,
                    (unsigned long long)g->rows[r].start, (unsigned long long)g->rows[r].end,
                    (unsigned long long)g->rows[r].bytes);
        if (g->fn == sync_main)
            continue; /* its I/O (flushes, metadata) is not ours to predict */
        uint64_t s = g->first ? g->first : t0, e = g->first ? g->last : tend;
        fprintf(out, "%s,%d,total,%llu,%llu,%llu\n", g->name, g->tid, (unsigned long long)s,
                (unsigned long long)e, (unsigned long long)g->bytes);
    }
    if (fclose(out))
        die(truth);
    if (log_path) {
        FILE *lf = fopen(log_path, "w");
        if (!lf)
            die(log_path);
        fprintf(lf, "task,tid,submit_ns,complete_ns,bytes\n");
        for (size_t i = 0; i < NGEN; i++)
            for (size_t k = 0; k < gens[i].nlog; k++)
                fprintf(lf, "%s,%d,%llu,%llu,%d\n", gens[i].name, gens[i].tid, (unsigned long long)gens[i].log[k][0],
                        (unsigned long long)gens[i].log[k][1], IO_SIZE);
        if (fclose(lf))
            die(log_path);
    }
    return 0;
}

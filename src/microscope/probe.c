#include "microscope/probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "microscope.skel.h"

/* Rows of one drain added up by key: the ring brings the same key more
 * than once (from each CPU, parts of busy intervals), and a recording
 * should hold it once. */
struct merge {
    struct ms_row *rows;
    uint32_t *index; /* open addressing: row + 1, 0 = free */
    size_t n, cap;   /* index has 2 * cap slots */
};

struct ms_probe {
    struct microscope *skel;
    struct ring_buffer *ring;
    uint64_t start_ns, start_realtime_ns, stop_ns;
    uint64_t bucket_ns;
    int ncpu;
    struct ms_row *slot_vals; /* ncpu values of each slot of one generation */
    struct ms_row *zeros;
    uint32_t *slot_keys;
    uint32_t slots;           /* per generation */
    struct merge m;
    unsigned drains;
};

/* Needed everywhere; owners come from block_io_start (6.5+) or, before
 * that, from block_bio_queue and block_split. */
static const char *const tracepoints[] = {
    "block_rq_issue", "block_rq_requeue", "block_rq_complete", "writeback_dirty_folio",
    "mm_filemap_delete_from_page_cache", "block_bio_queue",
};

/* libbpf's messages are kept, not printed: they only matter when loading
 * fails, and then the last of them (the verifier's verdict) goes into the
 * error. */
static char libbpf_log[4096];

static int keep_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    char line[512];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    if (n <= 0)
        return 0;
    size_t have = strlen(libbpf_log), add = strlen(line);
    if (add >= sizeof(libbpf_log))
        return 0;
    if (have + add >= sizeof(libbpf_log)) {
        size_t drop = have + add - sizeof(libbpf_log) + 1;
        memmove(libbpf_log, libbpf_log + drop, have - drop + 1);
    }
    strcat(libbpf_log, line);
    return 0;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool has_tracepoint(const struct btf *btf, const char *tp)
{
    char name[64];
    snprintf(name, sizeof(name), "btf_trace_%s", tp);
    return btf__find_by_name_kind(btf, name, BTF_KIND_TYPEDEF) >= 0;
}

/* Root, BTF and the tracepoints, from one read of the kernel's BTF (it is
 * megabytes); *io_start says whether owners can come from block_io_start. */
static int check_host(char *err, size_t errlen, bool *io_start)
{
    if (geteuid() != 0) {
        snprintf(err, errlen, "needs root (it loads eBPF programs: CAP_BPF and CAP_PERFMON)");
        return -1;
    }
    struct stat st;
    if (stat("/sys/kernel/btf/vmlinux", &st) < 0) {
        snprintf(err, errlen,
                 "this kernel has no BTF (/sys/kernel/btf/vmlinux: %s); it needs CONFIG_DEBUG_INFO_BTF=y",
                 strerror(errno));
        return -1;
    }
    struct btf *btf = btf__load_vmlinux_btf();
    if (!btf) {
        snprintf(err, errlen, "cannot read kernel BTF: %s", strerror(errno));
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof(tracepoints) / sizeof(tracepoints[0]); i++) {
        if (!has_tracepoint(btf, tracepoints[i])) {
            snprintf(err, errlen, "this kernel lacks the tracepoint %s (needed for per-task block I/O)",
                     tracepoints[i]);
            rc = -1;
            break;
        }
    }
    /* VIREO_MS_BIO_PATH=1 forces the older kernels' path, so tests cover it. */
    *io_start = has_tracepoint(btf, "block_io_start") && !getenv("VIREO_MS_BIO_PATH");
    btf__free(btf);
    return rc;
}

static size_t key_hash(const struct ms_key *k)
{
    uint64_t h = ((uint64_t)k->tid * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)k->dev * 0xC2B2AE3D27D4EB4Full) ^
                 ((uint64_t)k->bucket * 0x165667B19E3779F9ull) ^ k->kind;
    return (size_t)(h ^ h >> 29);
}

static int merge_grow(struct merge *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct ms_row *rows = realloc(m->rows, cap * sizeof(*rows));
    uint32_t *index = calloc(2 * cap, sizeof(*index));
    if (!rows || !index) {
        if (rows)
            m->rows = rows;
        free(index);
        return -1;
    }
    m->rows = rows;
    m->cap = cap;
    free(m->index);
    m->index = index;
    for (size_t i = 0; i < m->n; i++) {
        size_t k = key_hash(&m->rows[i].key) & (2 * cap - 1);
        while (m->index[k])
            k = (k + 1) & (2 * cap - 1);
        m->index[k] = (uint32_t)i + 1;
    }
    return 0;
}

static int merge_add(struct merge *m, const struct ms_row *r)
{
    if (m->n == m->cap && merge_grow(m) < 0)
        return -1;
    size_t mask = 2 * m->cap - 1, k = key_hash(&r->key) & mask;
    for (; m->index[k]; k = (k + 1) & mask) {
        struct ms_row *d = &m->rows[m->index[k] - 1];
        if (!memcmp(&d->key, &r->key, sizeof(r->key))) {
            ms_val_add(&d->val, &r->val);
            return 0;
        }
    }
    m->rows[m->n] = *r;
    m->index[k] = (uint32_t)++m->n;
    return 0;
}

static int on_row(void *ctx, void *data, size_t size)
{
    if (size >= sizeof(struct ms_row))
        merge_add(&((struct ms_probe *)ctx)->m, data);
    return 0;
}

int ms_probe_open(struct ms_probe **out, const struct ms_probe_opts *o, char *err, size_t errlen)
{
    *out = NULL;
    bool io_start;
    if (check_host(err, errlen, &io_start) < 0)
        return -1;
    struct ms_probe *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p->bucket_ns = o->bucket_ns ? o->bucket_ns : 1000000;
    p->ncpu = libbpf_num_possible_cpus();
    p->slots = 256; /* ROW_SLOTS in microscope.bpf.c; checked against the map below */
    size_t vals = (size_t)(p->ncpu > 0 ? p->ncpu : 1) * p->slots;
    if (p->ncpu <= 0 || !(p->slot_vals = calloc(vals, sizeof(struct ms_row))) ||
        !(p->zeros = calloc(vals, sizeof(struct ms_row))) || !(p->slot_keys = calloc(p->slots, sizeof(uint32_t)))) {
        snprintf(err, errlen, "cannot size per-CPU values");
        free(p->slot_vals);
        free(p->zeros);
        free(p);
        return -1;
    }
    libbpf_log[0] = 0;
    libbpf_set_print(keep_log);
    p->skel = microscope__open();
    if (!p->skel) {
        snprintf(err, errlen, "cannot open the eBPF object: %s", strerror(errno));
        goto fail;
    }
    /* One way to learn a request's owner, by what the kernel offers. */
    bpf_program__set_autoload(p->skel->progs.ms_io_start, io_start);
    bpf_program__set_autoload(p->skel->progs.ms_bio_queue, !io_start);
    bpf_program__set_autoload(p->skel->progs.ms_split, !io_start);
    p->skel->rodata->bucket_ns = p->bucket_ns;
    if (o->ring_bytes)
        bpf_map__set_max_entries(p->skel->maps.ring, o->ring_bytes);
    if (microscope__load(p->skel)) {
        snprintf(err, errlen, "the kernel refused the eBPF programs: %s; libbpf said: %s", strerror(errno),
                 libbpf_log);
        goto fail;
    }
    if (bpf_map__max_entries(p->skel->maps.rows) != 2 * p->slots) {
        snprintf(err, errlen, "the eBPF object's row cache has %u slots, expected %u",
                 bpf_map__max_entries(p->skel->maps.rows), 2 * p->slots);
        goto fail;
    }
    p->ring = ring_buffer__new(bpf_map__fd(p->skel->maps.ring), on_row, p, NULL);
    if (!p->ring) {
        snprintf(err, errlen, "cannot map the ring buffer: %s", strerror(errno));
        goto fail;
    }
    if (microscope__attach(p->skel)) {
        snprintf(err, errlen, "cannot attach to the block tracepoints: %s; libbpf said: %s", strerror(errno),
                 libbpf_log);
        goto fail;
    }
    /* Every program is in place: measuring starts now (loading took
     * seconds on a busy host; none of that is the recording's time). */
    struct timespec rt;
    p->start_ns = mono_ns();
    clock_gettime(CLOCK_REALTIME, &rt);
    p->start_realtime_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
    __atomic_store_n(&p->skel->data->start_ns, p->start_ns, __ATOMIC_SEQ_CST);
    *out = p;
    return 0;
fail:
    ring_buffer__free(p->ring);
    microscope__destroy(p->skel);
    free(p->slot_vals);
    free(p->zeros);
    free(p->slot_keys);
    free(p);
    return -1;
}

uint64_t ms_probe_start_ns(const struct ms_probe *p, uint64_t *realtime_ns)
{
    if (realtime_ns)
        *realtime_ns = p->start_realtime_ns;
    return p->start_ns;
}

uint64_t ms_probe_stop(struct ms_probe *p)
{
    if (!p->stop_ns) {
        microscope__detach(p->skel);
        p->stop_ns = mono_ns();
    }
    return p->stop_ns;
}

static void task_of(struct ms_probe *p, struct ms_sample *s)
{
    struct ms_task t;
    if (s->tid && !bpf_map_lookup_elem(bpf_map__fd(p->skel->maps.tasks), &s->tid, &t)) {
        s->pid = t.pid;
        s->cgroup = t.cgroup;
        memcpy(s->comm, t.comm, sizeof(t.comm));
        s->comm[sizeof(t.comm) - 1] = 0;
    } else if (!s->tid) {
        snprintf(s->comm, sizeof(s->comm), "[device]");
    } else {
        snprintf(s->comm, sizeof(s->comm), "?");
    }
}

static bool task_gone(uint32_t tid)
{
    char path[32];
    snprintf(path, sizeof(path), "/proc/%u", tid);
    return access(path, F_OK) < 0 && errno == ENOENT;
}

/* Busy-state entries are never deleted by the programs; those of tasks
 * that have exited can go.  Not atomically with the programs: a request
 * starting between the read here and the write would lose its count (its
 * busy interval would go uncharged).  The write-back of an exited task's
 * pages can still start requests charged to it, so an entry goes only
 * once it is BUSY_IDLE_S old and has had nothing in service for as long
 * (`since` is when its count last fell to 0): the window is then a few
 * microseconds in an entry idle for that long.  A slot whose key also
 * has state in the hash (its slot was taken when it came) is not freed:
 * that key would move into the slot and leave its count in the hash.
 * What remains: a key read in a slot an instant before it is freed can
 * end up in both places, which needs a prune at that very moment. */
#define BUSY_IDLE_S 10 /* in units of 2^30 ns (born_s), and in seconds (since) */

static bool busy_idle(const struct ms_busy *b, uint64_t now)
{
    uint64_t now_s = (now >> 30) + 1;
    return b->n == 0 && b->on == 0 && b->born_s && now_s > b->born_s && now_s - b->born_s >= BUSY_IDLE_S &&
           b->since + BUSY_IDLE_S * 1000000000ull < now;
}

/* The slot busy_get() gives a key: the same hash as the programs'. */
static uint32_t busy_slot_of(uint32_t tid, uint32_t dev, uint32_t kind, uint32_t nslots)
{
    uint64_t tag = (uint64_t)tid << 34 | (uint64_t)dev << 2 | kind;
    return (uint32_t)((tag * 0x9E3779B97F4A7C15ull) >> 52) & (nslots - 1);
}

static void prune_busy(struct ms_probe *p)
{
    uint64_t now = mono_ns();
    int sfd = bpf_map__fd(p->skel->maps.busy_slots);
    uint32_t nslots = bpf_map__max_entries(p->skel->maps.busy_slots);
    uint8_t *keep = calloc(nslots, 1);
    if (!keep)
        return;
    /* The next key is taken before a delete: after one, the walk would
     * start again from the first key. */
    int fd = bpf_map__fd(p->skel->maps.busy);
    struct { uint32_t tid, dev, kind; } k, next;
    bool more = !bpf_map_get_next_key(fd, NULL, &next);
    while (more) {
        k = next;
        more = !bpf_map_get_next_key(fd, &k, &next);
        struct ms_busy b;
        if (k.tid && !bpf_map_lookup_elem(fd, &k, &b) && busy_idle(&b, now) && task_gone(k.tid))
            bpf_map_delete_elem(fd, &k);
        else
            keep[busy_slot_of(k.tid, k.dev, k.kind, nslots)] = 1;
    }
    for (uint32_t i = 0; i < nslots; i++) {
        struct ms_busy b;
        if (keep[i] || bpf_map_lookup_elem(sfd, &i, &b) || !b.tag || !busy_idle(&b, now))
            continue;
        uint32_t tid = (uint32_t)(b.tag >> 34);
        if (tid && task_gone(tid)) {
            memset(&b, 0, sizeof(b));
            bpf_map_update_elem(sfd, &i, &b, BPF_ANY);
        }
    }
    free(keep);
}

/* Requests that were started but never completed (the kernel can end a
 * request without the completion tracepoint, e.g. a failed flush sequence)
 * would stay in the table; a minute is far beyond any real request. */
static void prune_requests(struct ms_probe *p)
{
    int fd = bpf_map__fd(p->skel->maps.rqs);
    uint32_t vsize = bpf_map__value_size(p->skel->maps.rqs);
    uint64_t *val = malloc(vsize), old = mono_ns() - 60000000000ull;
    uint64_t k, next;
    bool more = val && !bpf_map_get_next_key(fd, NULL, &next);
    while (more) {
        k = next;
        more = !bpf_map_get_next_key(fd, &k, &next);
        /* queue_ts is the first field of struct rq_info */
        if (!bpf_map_lookup_elem(fd, &k, val) && val[0] && val[0] < old)
            bpf_map_delete_elem(fd, &k);
    }
    free(val);
}

/* The old generation's cache slots, all CPUs, into the merge, and then
 * cleared: two batch calls (one per slot and CPU, if the kernel has no
 * batch operations on arrays). */
static void take_slots(struct ms_probe *p, uint32_t gen)
{
    int fd = bpf_map__fd(p->skel->maps.rows);
    uint32_t first = gen * p->slots, count = p->slots, out;
    for (uint32_t i = 0; i < p->slots; i++)
        p->slot_keys[i] = first + i;
    uint32_t prev = first - 1;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_lookup_batch(fd, gen ? &prev : NULL, &out, p->slot_keys, p->slot_vals, &count, &opts) < 0 &&
        errno != ENOENT)
        count = 0;
    bool batch = count == p->slots;
    for (uint32_t i = 0; i < p->slots; i++) {
        struct ms_row *v = &p->slot_vals[(size_t)i * (size_t)p->ncpu];
        if (!batch) {
            uint32_t k = first + i;
            if (bpf_map_lookup_elem(fd, &k, v))
                continue;
        }
        bool used = false;
        for (int c = 0; c < p->ncpu; c++)
            if (v[c].key.dev) {
                merge_add(&p->m, &v[c]);
                used = true;
            }
        if (!batch && used)
            bpf_map_update_elem(fd, &(uint32_t){first + i}, p->zeros, BPF_ANY);
    }
    if (batch) {
        count = p->slots;
        bpf_map_update_batch(fd, p->slot_keys, p->zeros, &count, &opts);
    }
}

int ms_probe_drain(struct ms_probe *p, ms_probe_fn fn, void *arg)
{
    uint32_t old = __atomic_load_n(&p->skel->bss->gen, __ATOMIC_RELAXED) & 1;
    __atomic_store_n(&p->skel->bss->gen, old ^ 1, __ATOMIC_SEQ_CST);
    /* Programs run inside RCU read-side sections: after a grace period
     * none still uses the old generation's cache slots.  membarrier(GLOBAL)
     * waits for one. */
    if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
        usleep(10000);
    take_slots(p, old);
    /* Rows evicted to the ring, from both generations. */
    ring_buffer__consume(p->ring);

    size_t n = p->m.n;
    for (size_t i = 0; i < n; i++) {
        const struct ms_row *r = &p->m.rows[i];
        struct ms_sample s = {0};
        s.t_ns = p->start_ns + (uint64_t)r->key.bucket * p->bucket_ns;
        s.bucket_ns = p->bucket_ns;
        s.tid = r->key.tid;
        s.dev = r->key.dev;
        s.kind = r->key.kind;
        s.v = r->val;
        task_of(p, &s);
        fn(arg, &s);
    }
    p->m.n = 0;
    if (p->m.index)
        memset(p->m.index, 0, 2 * p->m.cap * sizeof(*p->m.index));
    if (++p->drains % 64 == 0) {
        prune_busy(p);
        prune_requests(p);
    }
    return (int)n;
}

void ms_probe_counters(struct ms_probe *p, uint64_t out[MS_NR_COUNTERS], uint64_t *missed)
{
    int fd = bpf_map__fd(p->skel->maps.counters);
    uint64_t *v = calloc((size_t)p->ncpu, sizeof(uint64_t));
    for (uint32_t c = 0; c < MS_NR_COUNTERS; c++) {
        out[c] = 0;
        if (v && !bpf_map_lookup_elem(fd, &c, v))
            for (int i = 0; i < p->ncpu; i++)
                out[c] += v[i];
    }
    free(v);
    *missed = 0;
    struct bpf_program *prog;
    bpf_object__for_each_program(prog, p->skel->obj)
    {
        struct bpf_prog_info info;
        uint32_t len = sizeof(info);
        memset(&info, 0, sizeof(info));
        if (!bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
            *missed += info.recursion_misses;
    }
}

void ms_probe_close(struct ms_probe *p)
{
    if (!p)
        return;
    ring_buffer__free(p->ring);
    microscope__destroy(p->skel);
    free(p->slot_vals);
    free(p->zeros);
    free(p->slot_keys);
    free(p->m.rows);
    free(p->m.index);
    free(p);
}

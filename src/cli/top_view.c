#include "cli/top_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strescape.h"

static double per_s(uint64_t v, double s)
{
    return s > 0 ? (double)v / s : 0;
}

void top_row_fill(struct top_row *r, const struct vmstat *before, const struct vmstat *now)
{
    memset(r, 0, sizeof(*r));
    r->vm = now;
    vmstat_delta(before, now, &r->d);
    double s = r->d.seconds;
    const struct blk_qstats_snap *t = &r->d.disk_total;
    r->cpu_pct = s > 0 ? 100 * r->d.cpu_seconds / s : 0;
    r->rd_iops = per_s(t->ops[BLK_OP_READ], s);
    r->rd_bps = per_s(t->bytes[BLK_OP_READ], s);
    r->wr_iops = per_s(t->ops[BLK_OP_WRITE], s);
    r->wr_bps = per_s(t->bytes[BLK_OP_WRITE], s);
    struct log2hist_snap all;
    vmstat_all_ops(t, &all);
    r->p50_us = log2hist_quantile(&all, 0.5) / 1e3;
    r->p99_us = log2hist_quantile(&all, 0.99) / 1e3;
    r->rx_bps = per_s(r->d.vif_total.rx_bytes, s);
    r->tx_bps = per_s(r->d.vif_total.tx_bytes, s);
}

static const char *const sort_names[TOP_SORT_N] = {"id", "name", "cpu", "mem", "read", "write", "latency", "net"};

int top_sort_parse(const char *s)
{
    for (int i = 0; i < TOP_SORT_N; i++)
        if (!strcmp(s, sort_names[i]))
            return i;
    return -1;
}

const char *top_sort_name(enum top_sort s)
{
    return (unsigned)s < TOP_SORT_N ? sort_names[s] : "?";
}

static double key(const struct top_row *r, enum top_sort by)
{
    switch (by) {
    case TOP_SORT_CPU: return r->cpu_pct;
    case TOP_SORT_MEM: return (double)r->vm->mem_rss;
    case TOP_SORT_READ: return r->rd_bps;
    case TOP_SORT_WRITE: return r->wr_bps;
    case TOP_SORT_LAT: return r->p99_us;
    case TOP_SORT_NET: return r->rx_bps + r->tx_bps;
    default: return 0;
    }
}

/* Names and IDs ascending; measures descending (the busiest first, as
 * top); ties by ID, so the order is stable from one refresh to the next. */
static int cmp(const void *a, const void *b, void *arg)
{
    const struct top_row *x = a, *y = b;
    enum top_sort by = *(enum top_sort *)arg;
    int c = 0;
    if (by == TOP_SORT_NAME) {
        c = strcmp(x->vm->name, y->vm->name);
    } else if (by != TOP_SORT_ID) {
        double kx = key(x, by), ky = key(y, by);
        c = (kx < ky) - (kx > ky);
    }
    return c ? c : (x->vm->id > y->vm->id) - (x->vm->id < y->vm->id);
}

void top_sort(struct top_row *rows, unsigned n, enum top_sort by, bool reverse)
{
    qsort_r(rows, n, sizeof(*rows), cmp, &by);
    for (unsigned i = 0; reverse && i < n / 2; i++) {
        struct top_row t = rows[i];
        rows[i] = rows[n - 1 - i];
        rows[n - 1 - i] = t;
    }
}

#define NAME_W 16

/* s escaped, cut to w columns (at a whole escape) with a '+' where it was
 * cut. */
static const char *cut(char *buf, size_t len, const char *s, int w)
{
    char esc[1024];
    str_escape(esc, sizeof(esc), s);
    if ((int)strlen(esc) > w && w > 1 && (size_t)w <= sizeof(esc)) {
        str_escape(esc, (size_t)w, s);
        snprintf(buf, len, "%s+", esc);
    } else {
        snprintf(buf, len, "%s", esc);
    }
    return buf;
}

/* MEM_MiB: what the guest holds (its RAM less its balloon); while the
 * balloon is on its way to another target, "HELD>TARGET" (one word, so
 * that the columns after it stay the same for awk). */
#define MEM_W 9
static const char *mem_col(char *buf, size_t len, const struct vmstat *v)
{
    if (!v->balloon)
        snprintf(buf, len, "%.0f", (double)v->mem_configured / 1048576.0);
    else if (v->bal_held_mib != v->bal_target_mib)
        snprintf(buf, len, "%llu>%llu", (unsigned long long)v->bal_held_mib, (unsigned long long)v->bal_target_mib);
    else
        snprintf(buf, len, "%llu", (unsigned long long)v->bal_held_mib);
    return buf;
}

void top_header(char *buf, size_t len)
{
    snprintf(buf, len, "%-*s %5s %-8s %6s %4s %*s %7s %7s %8s %7s %8s %8s %8s %8s %8s", NAME_W, "NAME", "ID",
             "STATE", "CPU%", "VCPU", MEM_W, "MEM_MiB", "RES_MiB", "RD/s", "RD_MB/s", "WR/s", "WR_MB/s", "P50_us", "P99_us",
             "RX_MB/s", "TX_MB/s");
}

void top_line(char *buf, size_t len, const struct top_row *r)
{
    const struct vmstat *v = r->vm;
    char name[64], state[32], mem[48];
    snprintf(buf, len, "%-*s %5u %-8s %6.1f %4u %*s %7.0f %7.0f %8.2f %7.0f %8.2f %8.0f %8.0f %8.2f %8.2f",
             NAME_W, cut(name, sizeof(name), v->name, NAME_W), v->id, cut(state, sizeof(state), v->state, 8),
             r->cpu_pct, v->nvcpus, MEM_W, mem_col(mem, sizeof(mem), v), (double)v->mem_rss / 1048576.0,
             r->rd_iops, r->rd_bps / 1e6, r->wr_iops, r->wr_bps / 1e6, r->p50_us, r->p99_us, r->rx_bps / 1e6,
             r->tx_bps / 1e6);
}

int top_queues_parse(struct json_object *blk, struct json_object *net, struct top_queues *out, char *err,
                     size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct json_object *a, *qs;
    if (blk && json_object_object_get_ex(blk, "disks", &a) && json_object_is_type(a, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(a) && out->ndisks < VM_MAX_DISKS; i++) {
            unsigned d = out->ndisks++;
            if (!json_object_object_get_ex(json_object_array_get_idx(a, i), "queues", &qs) ||
                !json_object_is_type(qs, json_type_array))
                continue;
            for (size_t k = 0; k < json_object_array_length(qs) && out->nqueues[d] < 16; k++)
                if (vmstat_parse_blk(json_object_array_get_idx(qs, k), &out->q[d][out->nqueues[d]++], err,
                                     errlen) < 0)
                    return -1;
        }
    }
    if (net && json_object_object_get_ex(net, "vifs", &a) && json_object_is_type(a, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(a) && out->nvifs < VM_MAX_NETS; i++) {
            unsigned v = out->nvifs++;
            if (!json_object_object_get_ex(json_object_array_get_idx(a, i), "queues", &qs) ||
                !json_object_is_type(qs, json_type_array))
                continue;
            for (size_t k = 0; k < json_object_array_length(qs) && out->npairs[v] < 16; k++)
                vmstat_parse_net(json_object_array_get_idx(qs, k), &out->p[v][out->npairs[v]++]);
        }
    }
    return 0;
}

static double p_us(const struct log2hist_snap *h, double q)
{
    return log2hist_quantile(h, q) / 1e3;
}

static uint64_t errors(const struct blk_qstats_snap *d)
{
    uint64_t n = 0;
    for (unsigned i = BLK_REQ_OK + 1; i < BLK_REQ_NREASONS; i++)
        n += d->refused[i];
    for (unsigned i = 0; i < BLK_OP_N; i++)
        n += d->failed[i];
    return n;
}

static void disk_line(char *buf, size_t len, const char *dev, const char *queue, const struct blk_qstats_snap *d,
                      double s)
{
    /* Little's law: the average number in flight is the time requests
     * spent in the interval over its length. */
    uint64_t busy = 0;
    for (unsigned i = 0; i < BLK_OP_N; i++)
        busy += d->lat[i].sum_ns;
    snprintf(buf, len, "  %-6s %-5s %7.0f %8.2f %7.0f %8.2f %7.0f %7.0f %7.0f %7.0f %5.1f %5llu %7.0f %7.0f %7.0f %6llu",
             dev, queue, per_s(d->ops[BLK_OP_READ], s), per_s(d->bytes[BLK_OP_READ], s) / 1e6,
             per_s(d->ops[BLK_OP_WRITE], s), per_s(d->bytes[BLK_OP_WRITE], s) / 1e6, p_us(&d->lat[BLK_OP_READ], 0.5),
             p_us(&d->lat[BLK_OP_READ], 0.99), p_us(&d->lat[BLK_OP_WRITE], 0.5), p_us(&d->lat[BLK_OP_WRITE], 0.99),
             s > 0 ? (double)busy / 1e9 / s : 0, (unsigned long long)d->inflight,
             p_us(&d->stage[BLK_STAGE_VMM], 0.5), p_us(&d->stage[BLK_STAGE_HOST], 0.5),
             p_us(&d->stage[BLK_STAGE_NOTIFY], 0.5), (unsigned long long)errors(d));
}

static uint64_t drops(const struct vnet_stats *n)
{
    return n->rx_dropped_too_big + n->rx_bad_buffers + n->rx_dropped_offload + n->tx_bad_chain + n->tx_bad_header +
           n->tx_backend_errors;
}

static void vif_line(char *buf, size_t len, const char *dev, const char *pair, const struct vnet_stats *n, double s)
{
    snprintf(buf, len, "  %-12s %-5s %9.0f %8.2f %9.0f %8.2f %8llu %10llu %10llu", dev, pair,
             per_s(n->rx_packets, s), per_s(n->rx_bytes, s) / 1e6, per_s(n->tx_packets, s), per_s(n->tx_bytes, s) / 1e6,
             (unsigned long long)drops(n), (unsigned long long)n->rx_no_buffers, (unsigned long long)n->tx_backend_full);
}

void top_detail(const struct top_row *r, const struct top_queues *before, const struct top_queues *now,
                void (*emit)(void *ctx, const char *line), void *ctx)
{
    const struct vmstat *v = r->vm;
    char line[512], name[128], dev[64], state[64];
    double s = r->d.seconds;
    snprintf(line, sizeof(line), "VM %s (id %u, pid %d): %s, %u vCPUs, CPU %.1f%%, memory %.0f MiB: guest RAM resident "
             "%.0f MiB, VMM %.1f MiB; interval %.2f s",
             cut(name, sizeof(name), v->name, 64), v->id, v->pid, cut(state, sizeof(state), v->state, 16), v->nvcpus,
             r->cpu_pct,
             (double)v->mem_configured / 1048576.0, (double)v->mem_guest / 1048576.0, (double)v->mem_vmm / 1048576.0,
             s);
    emit(ctx, line);
    if (v->balloon) {
        char progress[32];
        snprintf(line, sizeof(line), "  balloon: the guest holds %llu MiB of its %llu MiB RAM; target %llu MiB (%s), "
                 "maximum %llu MiB; the guest counts %.0f MiB total, %.0f MiB free",
                 (unsigned long long)v->bal_held_mib, (unsigned long long)v->bal_ram_mib,
                 (unsigned long long)v->bal_target_mib, cut(progress, sizeof(progress), v->bal_progress, 16),
                 (unsigned long long)v->bal_max_mib, (double)v->bal_guest_total / 1048576.0,
                 (double)v->bal_guest_free / 1048576.0);
        emit(ctx, line);
    }
    emit(ctx, "");
    emit(ctx, "  DISK   QUEUE    RD/s  RD_MB/s    WR/s  WR_MB/s  RD_P50  RD_P99  WR_P50  WR_P99 DEPTH  INFL "
              "VMM_P50 HST_P50 NTF_P50 ERRORS");
    for (unsigned i = 0; i < r->d.ndisks; i++) {
        cut(dev, sizeof(dev), v->disks[i].guest_dev[0] ? v->disks[i].guest_dev : v->disks[i].vdev, 6);
        struct blk_qstats_snap d = r->d.disks[i].d;
        disk_line(line, sizeof(line), dev, "all", &d, s);
        emit(ctx, line);
        bool have = now && before && i < now->ndisks && i < before->ndisks &&
                    now->nqueues[i] == before->nqueues[i];
        for (unsigned q = 0; have && q < now->nqueues[i]; q++) {
            char qn[12];
            snprintf(qn, sizeof(qn), "%u", q);
            vmstat_blk_delta(&d, &now->q[i][q], &before->q[i][q]);
            disk_line(line, sizeof(line), "", qn, &d, s);
            emit(ctx, line);
        }
        char target[200];
        snprintf(line, sizeof(line), "         image %s%s", cut(target, sizeof(target), v->disks[i].target, 180),
                 v->disks[i].accounting ? "" : " (accounting off: VIREO_ACCOUNTING=off)");
        emit(ctx, line);
    }
    if (!r->d.ndisks)
        emit(ctx, "  (no disks)");
    emit(ctx, "");
    emit(ctx, "  INTERFACE    PAIR   RX_PKT/s  RX_MB/s  TX_PKT/s  TX_MB/s    DROPS RX_NOBUF   TX_FULL");
    for (unsigned i = 0; i < r->d.nvifs; i++) {
        cut(dev, sizeof(dev), v->vifs[i].vifname, 12);
        vif_line(line, sizeof(line), dev, "all", &r->d.vifs[i], s);
        emit(ctx, line);
        bool have = now && before && i < now->nvifs && i < before->nvifs && now->npairs[i] == before->npairs[i];
        for (unsigned q = 0; have && q < now->npairs[i]; q++) {
            struct vnet_stats d;
            vmstat_net_delta(&d, &now->p[i][q], &before->p[i][q]);
            char qn[12];
            snprintf(qn, sizeof(qn), "%u", q);
            vif_line(line, sizeof(line), "", qn, &d, s);
            emit(ctx, line);
        }
    }
    if (!r->d.nvifs)
        emit(ctx, "  (no network interfaces)");
    emit(ctx, "");
    emit(ctx, "  Latencies in us, over the interval: RD/WR the guest's wait beyond its driver (kick to interrupt);");
    emit(ctx, "  VMM kick to submission, HST the host's I/O, NTF completion to interrupt.  DEPTH: average requests in");
    emit(ctx, "  flight; INFL: now.  ERRORS, DROPS, RX_NOBUF (no receive buffer posted), TX_FULL (TAP full): counts.");
}

/* ---- --json ---- */

static void add_d(struct json_object *o, const char *k, double v)
{
    json_object_object_add(o, k, json_object_new_double(v));
}

static void add_u(struct json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_uint64(v));
}

static void add_s(struct json_object *o, const char *k, const char *v)
{
    char esc[1024];
    json_object_object_add(o, k, json_object_new_string(str_escape(esc, sizeof(esc), v)));
}

static struct json_object *op_json(const struct blk_qstats_snap *d, enum blk_op op, double s)
{
    struct json_object *o = json_object_new_object();
    add_u(o, "ops", d->ops[op]);
    add_u(o, "bytes", d->bytes[op]);
    add_u(o, "failed", d->failed[op]);
    add_d(o, "iops", per_s(d->ops[op], s));
    add_d(o, "bytes_per_s", per_s(d->bytes[op], s));
    add_d(o, "p50_us", p_us(&d->lat[op], 0.5));
    add_d(o, "p99_us", p_us(&d->lat[op], 0.99));
    return o;
}

static struct json_object *blk_json(const struct blk_qstats_snap *d, double s)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "read", op_json(d, BLK_OP_READ, s));
    json_object_object_add(o, "write", op_json(d, BLK_OP_WRITE, s));
    json_object_object_add(o, "flush", op_json(d, BLK_OP_FLUSH, s));
    json_object_object_add(o, "discard", op_json(d, BLK_OP_DISCARD, s));
    add_u(o, "errors", errors(d));
    struct json_object *st = json_object_new_object();
    for (unsigned i = 0; i < BLK_STAGE_N; i++)
        add_d(st, blk_stage_key((enum blk_stage)i), p_us(&d->stage[i], 0.5));
    json_object_object_add(o, "stage_p50_us", st);
    return o;
}

static struct json_object *net_json(const struct vnet_stats *n, double s)
{
    struct json_object *o = json_object_new_object();
    add_u(o, "rx_packets", n->rx_packets);
    add_u(o, "rx_bytes", n->rx_bytes);
    add_u(o, "tx_packets", n->tx_packets);
    add_u(o, "tx_bytes", n->tx_bytes);
    add_d(o, "rx_bytes_per_s", per_s(n->rx_bytes, s));
    add_d(o, "tx_bytes_per_s", per_s(n->tx_bytes, s));
    add_u(o, "drops", drops(n));
    add_u(o, "rx_no_buffers", n->rx_no_buffers);
    add_u(o, "tx_backend_full", n->tx_backend_full);
    return o;
}

struct json_object *top_row_json(const struct top_row *r)
{
    const struct vmstat *v = r->vm;
    double s = r->d.seconds;
    struct json_object *o = json_object_new_object();
    add_s(o, "name", v->name);
    add_u(o, "id", v->id);
    add_s(o, "state", v->state);
    add_d(o, "interval", s);
    add_d(o, "cpu_pct", r->cpu_pct);
    add_u(o, "vcpus", v->nvcpus);
    struct json_object *m = json_object_new_object();
    add_u(m, "configured", v->mem_configured);
    add_u(m, "guest_resident", v->mem_guest);
    add_u(m, "vmm_resident", v->mem_vmm);
    add_u(m, "rss", v->mem_rss);
    struct json_object *b = NULL;
    if (v->balloon) {
        b = json_object_new_object();
        add_u(b, "held_mib", v->bal_held_mib);
        add_u(b, "target_mib", v->bal_target_mib);
        add_u(b, "max_mib", v->bal_max_mib);
        add_u(b, "ram_mib", v->bal_ram_mib);
        add_s(b, "progress", v->bal_progress);
        add_u(b, "guest_total", v->bal_guest_total);
        add_u(b, "guest_free", v->bal_guest_free);
    }
    json_object_object_add(m, "balloon", b);   /* null: none */
    json_object_object_add(o, "memory", m);
    struct json_object *disk = blk_json(&r->d.disk_total, s);
    add_d(disk, "p50_us", r->p50_us);
    add_d(disk, "p99_us", r->p99_us);
    json_object_object_add(o, "disk", disk);
    struct json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < r->d.ndisks; i++) {
        struct json_object *d = blk_json(&r->d.disks[i].d, s);
        add_s(d, "vdev", v->disks[i].vdev);
        add_s(d, "guest_dev", v->disks[i].guest_dev);
        add_s(d, "target", v->disks[i].target);
        add_u(d, "inflight", r->d.disks[i].inflight);
        json_object_array_add(disks, d);
    }
    json_object_object_add(o, "disks", disks);
    json_object_object_add(o, "net", net_json(&r->d.vif_total, s));
    struct json_object *vifs = json_object_new_array();
    for (unsigned i = 0; i < r->d.nvifs; i++) {
        struct json_object *n = net_json(&r->d.vifs[i], s);
        add_s(n, "vifname", v->vifs[i].vifname);
        json_object_array_add(vifs, n);
    }
    json_object_object_add(o, "vifs", vifs);
    return o;
}

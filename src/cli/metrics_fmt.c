#include "cli/metrics_fmt.h"

#include <stdbool.h>
#include <string.h>

#include "util/strescape.h"

/* A label value: printable ASCII from str_escape, with the format's own
 * escapes for the backslash and the double quote. */
static void label(FILE *f, const char *k, const char *v, bool first)
{
    char esc[1024];
    str_escape(esc, sizeof(esc), v);
    fprintf(f, "%s%s=\"", first ? "" : ",", k);
    for (const char *p = esc; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc('\\', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP vireo_%s %s\n# TYPE vireo_%s %s\n", name, help, name, type);
}

/* name{domain="..."[,k="v"]...} */
static void series(FILE *f, const char *name, const char *domain, const char *const *kv)
{
    fprintf(f, "vireo_%s{", name);
    label(f, "domain", domain, true);
    for (; kv && kv[0]; kv += 2)
        label(f, kv[0], kv[1], false);
    fputs("} ", f);
}

static void disk_labels(const struct vmstat_disk *d, const char **kv)
{
    kv[0] = "target_device";
    kv[1] = d->guest_dev;
    kv[2] = "source_file";
    kv[3] = d->target;
    kv[4] = NULL;
}

static void vif_labels(const struct vmstat_vif *v, const char **kv)
{
    kv[0] = "target_device";
    kv[1] = v->vifname;
    kv[2] = "source_bridge";
    kv[3] = v->bridge;
    kv[4] = NULL;
}

enum bkind { B_OPS, B_BYTES, B_TIME };

static const struct {
    const char *name, *help;
    enum bkind kind;
    enum blk_op op;
} blk_counters[] = {
    {"domain_block_stats_read_requests_total", "Read requests completed (failures included)", B_OPS, BLK_OP_READ},
    {"domain_block_stats_read_bytes_total", "Bytes read", B_BYTES, BLK_OP_READ},
    {"domain_block_stats_read_time_seconds_total", "Time reads took, from the I/O thread's kick to the interrupt",
     B_TIME, BLK_OP_READ},
    {"domain_block_stats_write_requests_total", "Write requests completed (failures included)", B_OPS, BLK_OP_WRITE},
    {"domain_block_stats_write_bytes_total", "Bytes written", B_BYTES, BLK_OP_WRITE},
    {"domain_block_stats_write_time_seconds_total", "Time writes took, from the I/O thread's kick to the interrupt",
     B_TIME, BLK_OP_WRITE},
    {"domain_block_stats_flush_requests_total", "Flush requests completed", B_OPS, BLK_OP_FLUSH},
    {"domain_block_stats_flush_time_seconds_total", "Time flushes took, from the I/O thread's kick to the interrupt",
     B_TIME, BLK_OP_FLUSH},
    {"domain_block_stats_discard_requests_total", "Discard requests completed", B_OPS, BLK_OP_DISCARD},
    {"domain_block_stats_discard_bytes_total", "Bytes discarded", B_BYTES, BLK_OP_DISCARD},
    {"domain_block_stats_write_zeroes_requests_total", "Write-zeroes requests completed", B_OPS, BLK_OP_WRITE_ZEROES},
    {"domain_block_stats_write_zeroes_bytes_total", "Bytes zeroed", B_BYTES, BLK_OP_WRITE_ZEROES},
};

static const enum blk_op hist_ops[] = {BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_DISCARD,
                                       BLK_OP_WRITE_ZEROES};

static void histogram(FILE *f, const char *name, const char *domain, const char **kv, unsigned nkv,
                      const struct log2hist_snap *h)
{
    const char *l[16];
    memcpy(l, kv, nkv * sizeof(*kv));
    char le[32];
    l[nkv] = "le";
    l[nkv + 1] = le;
    l[nkv + 2] = NULL;
    char bucket[128];
    snprintf(bucket, sizeof(bucket), "%s_bucket", name);
    uint64_t cum = 0;
    for (unsigned i = 0; i < LOG2HIST_BUCKETS; i++) {
        cum += h->bucket[i];
        if (i == LOG2HIST_BUCKETS - 1)
            snprintf(le, sizeof(le), "+Inf");
        else
            snprintf(le, sizeof(le), "%.9g", (double)log2hist_upper_ns(i) / 1e9);
        series(f, bucket, domain, l);
        fprintf(f, "%llu\n", (unsigned long long)cum);
    }
    l[nkv] = NULL;
    char sub[128];
    snprintf(sub, sizeof(sub), "%s_sum", name);
    series(f, sub, domain, l);
    fprintf(f, "%.9f\n", (double)h->sum_ns / 1e9);
    snprintf(sub, sizeof(sub), "%s_count", name);
    series(f, sub, domain, l);
    fprintf(f, "%llu\n", (unsigned long long)h->count);
}

static void domain_metrics(FILE *f, const struct vmstat *vms, unsigned n)
{
    head(f, "domain_info_state", "gauge", "1 for the VM's state (running, paused, shutdown, crashed)");
    for (unsigned i = 0; i < n; i++) {
        const char *kv[] = {"state", vms[i].state, NULL};
        series(f, "domain_info_state", vms[i].name, kv);
        fputs("1\n", f);
    }
    head(f, "domain_info_cpu_time_seconds_total", "counter", "CPU time the VM's vCPUs used");
    for (unsigned i = 0; i < n; i++) {
        series(f, "domain_info_cpu_time_seconds_total", vms[i].name, NULL);
        fprintf(f, "%.6f\n", vms[i].cpu_time);
    }
    head(f, "domain_info_virtual_cpus", "gauge", "vCPUs");
    for (unsigned i = 0; i < n; i++) {
        series(f, "domain_info_virtual_cpus", vms[i].name, NULL);
        fprintf(f, "%u\n", vms[i].nvcpus);
    }
    head(f, "domain_info_maximum_memory_bytes", "gauge", "Guest RAM configured");
    for (unsigned i = 0; i < n; i++) {
        series(f, "domain_info_maximum_memory_bytes", vms[i].name, NULL);
        fprintf(f, "%llu\n", (unsigned long long)vms[i].mem_configured);
    }
    head(f, "domain_info_memory_usage_bytes", "gauge", "Guest RAM resident on the host");
    for (unsigned i = 0; i < n; i++) {
        series(f, "domain_info_memory_usage_bytes", vms[i].name, NULL);
        fprintf(f, "%llu\n", (unsigned long long)vms[i].mem_guest);
    }
    head(f, "domain_info_vmm_memory_bytes", "gauge", "The VM process's own resident memory, guest RAM excluded");
    for (unsigned i = 0; i < n; i++) {
        series(f, "domain_info_vmm_memory_bytes", vms[i].name, NULL);
        fprintf(f, "%llu\n", (unsigned long long)vms[i].mem_vmm);
    }
    head(f, "domain_vcpu_time_seconds_total", "counter", "CPU time of each vCPU");
    for (unsigned i = 0; i < n; i++)
        for (unsigned c = 0; c < vms[i].nvcpus; c++) {
            char id[12];
            snprintf(id, sizeof(id), "%u", c);
            const char *kv[] = {"vcpu", id, NULL};
            series(f, "domain_vcpu_time_seconds_total", vms[i].name, kv);
            fprintf(f, "%.6f\n", vms[i].vcpus[c].cpu_time);
        }
    head(f, "domain_vcpu_exits_total", "counter", "VM exits of each vCPU, as KVM counts them (all kinds)");
    for (unsigned i = 0; i < n; i++)
        for (unsigned c = 0; c < vms[i].nvcpus; c++) {
            if (!vms[i].vcpus[c].kvm_have[KVM_VSTAT_EXITS])
                continue;
            char id[12];
            snprintf(id, sizeof(id), "%u", c);
            const char *kv[] = {"vcpu", id, NULL};
            series(f, "domain_vcpu_exits_total", vms[i].name, kv);
            fprintf(f, "%llu\n", (unsigned long long)vms[i].vcpus[c].kvm[KVM_VSTAT_EXITS]);
        }
    static const char *const reasons[VMSTAT_EXIT_N] = {"io", "mmio", "intr", "other"};
    head(f, "domain_vcpu_vmm_exits_total", "counter", "VM exits that reached the VMM, by kind");
    for (unsigned i = 0; i < n; i++)
        for (unsigned c = 0; c < vms[i].nvcpus; c++)
            for (unsigned r = 0; r < VMSTAT_EXIT_N; r++) {
                char id[12];
                snprintf(id, sizeof(id), "%u", c);
                const char *kv[] = {"vcpu", id, "reason", reasons[r], NULL};
                series(f, "domain_vcpu_vmm_exits_total", vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)vms[i].vcpus[c].vmm_exits[r]);
            }
}

static void block_metrics(FILE *f, const struct vmstat *vms, unsigned n)
{
    const char *kv[8];
    for (size_t m = 0; m < sizeof(blk_counters) / sizeof(blk_counters[0]); m++) {
        head(f, blk_counters[m].name, "counter", blk_counters[m].help);
        for (unsigned i = 0; i < n; i++)
            for (unsigned k = 0; k < vms[i].ndisks; k++) {
                const struct vmstat_disk *d = &vms[i].disks[k];
                if (!d->has_stats)
                    continue;
                disk_labels(d, kv);
                series(f, blk_counters[m].name, vms[i].name, kv);
                enum blk_op op = blk_counters[m].op;
                if (blk_counters[m].kind == B_TIME)
                    fprintf(f, "%.9f\n", (double)d->s.lat[op].sum_ns / 1e9);
                else
                    fprintf(f, "%llu\n", (unsigned long long)(blk_counters[m].kind == B_OPS ? d->s.ops[op]
                                                                                           : d->s.bytes[op]));
            }
    }
    head(f, "domain_block_stats_errors_total", "counter",
         "Requests that failed: refused before reaching the host (by reason), or failed by the host (host_*)");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].ndisks; k++) {
            const struct vmstat_disk *d = &vms[i].disks[k];
            if (!d->has_stats)
                continue;
            disk_labels(d, kv);
            kv[4] = "reason";
            kv[6] = NULL;
            for (unsigned r = BLK_REQ_OK + 1; r < BLK_REQ_NREASONS; r++) {
                kv[5] = blk_reason_key((enum blk_reason)r);
                series(f, "domain_block_stats_errors_total", vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)d->s.refused[r]);
            }
            for (unsigned e = 0; e < BLK_HERR_N; e++) {
                char reason[32];
                snprintf(reason, sizeof(reason), "host_%s", blk_host_err_key((enum blk_host_err)e));
                kv[5] = reason;
                series(f, "domain_block_stats_errors_total", vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)d->s.host_errors[e]);
            }
        }
    head(f, "domain_block_stats_inflight_requests", "gauge", "Requests taken from the guest and not completed");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].ndisks; k++) {
            const struct vmstat_disk *d = &vms[i].disks[k];
            if (!d->has_stats)
                continue;
            disk_labels(d, kv);
            series(f, "domain_block_stats_inflight_requests", vms[i].name, kv);
            fprintf(f, "%llu\n", (unsigned long long)d->s.inflight);
        }
    head(f, "domain_block_latency_seconds", "histogram",
         "Requests by time from the I/O thread's kick to the interrupt (what the guest waits beyond its driver)");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].ndisks; k++) {
            const struct vmstat_disk *d = &vms[i].disks[k];
            if (!d->has_stats)
                continue;
            for (size_t o = 0; o < sizeof(hist_ops) / sizeof(hist_ops[0]); o++) {
                disk_labels(d, kv);
                kv[4] = "op";
                kv[5] = blk_op_key(hist_ops[o]);
                histogram(f, "domain_block_latency_seconds", vms[i].name, kv, 6, &d->s.lat[hist_ops[o]]);
            }
        }
    head(f, "domain_block_stage_latency_seconds", "histogram",
         "Requests by time in each stage: vmm (kick to submission), host (the host's I/O), notify (completion "
         "to interrupt)");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].ndisks; k++) {
            const struct vmstat_disk *d = &vms[i].disks[k];
            if (!d->has_stats)
                continue;
            for (unsigned s = 0; s < BLK_STAGE_N; s++) {
                disk_labels(d, kv);
                kv[4] = "stage";
                kv[5] = blk_stage_key((enum blk_stage)s);
                histogram(f, "domain_block_stage_latency_seconds", vms[i].name, kv, 6, &d->s.stage[s]);
            }
        }
}

enum nfield { N_RX_BYTES, N_RX_PKTS, N_RX_DROPS, N_TX_BYTES, N_TX_PKTS, N_TX_DROPS, N_TX_ERRORS };

static uint64_t net_field(const struct vnet_stats *s, enum nfield k)
{
    switch (k) {
    case N_RX_BYTES: return s->rx_bytes;
    case N_RX_PKTS: return s->rx_packets;
    case N_RX_DROPS: return s->rx_dropped_too_big + s->rx_bad_buffers + s->rx_dropped_offload;
    case N_TX_BYTES: return s->tx_bytes;
    case N_TX_PKTS: return s->tx_packets;
    case N_TX_DROPS: return s->tx_bad_chain + s->tx_bad_header;
    default: return s->tx_backend_errors;
    }
}

static void net_metrics(FILE *f, const struct vmstat *vms, unsigned n)
{
    static const struct {
        const char *name, *help;
        enum nfield k;
    } m[] = {
        {"domain_interface_stats_receive_bytes_total", "Bytes the guest received", N_RX_BYTES},
        {"domain_interface_stats_receive_packets_total", "Frames the guest received", N_RX_PKTS},
        {"domain_interface_stats_receive_drops_total", "Frames for the guest dropped by the device", N_RX_DROPS},
        {"domain_interface_stats_transmit_bytes_total", "Bytes the guest sent", N_TX_BYTES},
        {"domain_interface_stats_transmit_packets_total", "Frames the guest sent", N_TX_PKTS},
        {"domain_interface_stats_transmit_drops_total", "Frames from the guest dropped as malformed", N_TX_DROPS},
        {"domain_interface_stats_transmit_errors_total", "Frames the TAP device refused", N_TX_ERRORS},
    };
    const char *kv[8];
    for (size_t j = 0; j < sizeof(m) / sizeof(m[0]); j++) {
        head(f, m[j].name, "counter", m[j].help);
        for (unsigned i = 0; i < n; i++)
            for (unsigned k = 0; k < vms[i].nvifs; k++) {
                if (!vms[i].vifs[k].has_stats)
                    continue;
                vif_labels(&vms[i].vifs[k], kv);
                series(f, m[j].name, vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)net_field(&vms[i].vifs[k].s, m[j].k));
            }
    }
    head(f, "domain_interface_stats_drops_by_reason_total", "counter", "Frames dropped by the device, by reason");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].nvifs; k++) {
            const struct vmstat_vif *v = &vms[i].vifs[k];
            if (!v->has_stats)
                continue;
            const struct {
                const char *r;
                uint64_t v;
            } r[] = {{"rx_too_big", v->s.rx_dropped_too_big}, {"rx_bad_buffers", v->s.rx_bad_buffers},
                     {"rx_offload", v->s.rx_dropped_offload},  {"tx_bad_chain", v->s.tx_bad_chain},
                     {"tx_bad_header", v->s.tx_bad_header}};
            for (size_t j = 0; j < sizeof(r) / sizeof(r[0]); j++) {
                vif_labels(v, kv);
                kv[4] = "reason";
                kv[5] = r[j].r;
                kv[6] = NULL;
                series(f, "domain_interface_stats_drops_by_reason_total", vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)r[j].v);
            }
        }
    head(f, "domain_interface_stats_ring_full_total", "counter",
         "Times a direction waited: rx, no receive buffer posted by the guest; tx, the TAP device full");
    for (unsigned i = 0; i < n; i++)
        for (unsigned k = 0; k < vms[i].nvifs; k++) {
            const struct vmstat_vif *v = &vms[i].vifs[k];
            if (!v->has_stats)
                continue;
            for (int dir = 0; dir < 2; dir++) {
                vif_labels(v, kv);
                kv[4] = "direction";
                kv[5] = dir ? "tx" : "rx";
                kv[6] = NULL;
                series(f, "domain_interface_stats_ring_full_total", vms[i].name, kv);
                fprintf(f, "%llu\n", (unsigned long long)(dir ? v->s.tx_backend_full : v->s.rx_no_buffers));
            }
        }
}

void metrics_write(FILE *f, const struct vmstat *vms, unsigned n, unsigned denied, unsigned failed)
{
    head(f, "domains", "gauge", "VMs read");
    fprintf(f, "vireo_domains %u\n", n);
    head(f, "domains_unreadable", "gauge", "VMs that could not be read: another user's, or not answering");
    fprintf(f, "vireo_domains_unreadable{reason=\"not_accessible\"} %u\n", denied);
    fprintf(f, "vireo_domains_unreadable{reason=\"not_answering\"} %u\n", failed);
    domain_metrics(f, vms, n);
    block_metrics(f, vms, n);
    net_metrics(f, vms, n);
}

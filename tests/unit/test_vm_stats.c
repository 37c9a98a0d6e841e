/* The accounting's way out: the VM process's JSON (vm_stats_json.c) read
 * back by the commands (vm_stats.c), differences and quantiles over an
 * interval, `vireo top`'s lines and `vireo metrics`' text, with hostile
 * names and hostile replies.  With --write-metrics FILE it writes the
 * metrics of fabricated VMs with hostile names, for promtool to check
 * (metrics_promtool.sh). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/metrics_fmt.h"
#include "cli/top_view.h"
#include "toolstack/vm_stats.h"
#include "toolstack/vm_stats_json.h"

static void fill(struct blk_qstats_snap *s, uint64_t k)
{
    memset(s, 0, sizeof(*s));
    for (unsigned i = 0; i < BLK_OP_N; i++) {
        s->ops[i] = k * (i + 1);
        s->bytes[i] = k * 4096 * (i + 1);
        s->failed[i] = i;
        for (unsigned b = 0; b < LOG2HIST_BUCKETS; b += 3)
            s->lat[i].bucket[b] = k + b;
        s->lat[i].sum_ns = k * 1000 + i;
        log2hist_snap_fix_count(&s->lat[i]);
    }
    for (unsigned i = BLK_REQ_OK + 1; i < BLK_REQ_NREASONS; i++)
        s->refused[i] = k + i;
    for (unsigned i = 0; i < BLK_HERR_N; i++)
        s->host_errors[i] = 7 * i + k;
    for (unsigned i = 0; i < BLK_STAGE_N; i++) {
        s->stage[i].bucket[i + 2] = k;
        s->stage[i].sum_ns = k * 300;
        log2hist_snap_fix_count(&s->stage[i]);
    }
    s->kicks = k * 3;
    s->notifies = k * 2;
    s->inflight = 5;
}

/* The VM process's JSON through text and back is the same. */
static void blk_round_trip(void **state)
{
    (void)state;
    struct blk_qstats_snap a, b;
    fill(&a, 1234567890123ull);
    struct json_object *o = json_object_new_object();
    stats_blk_add(o, &a);
    struct json_object *back = json_tokener_parse(json_object_to_json_string(o));
    char err[256];
    assert_int_equal(vmstat_parse_blk(back, &b, err, sizeof(err)), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    json_object_put(o);
    json_object_put(back);
}

/* A `stats` reply as the VM process writes it. */
static const char reply_fmt[] =
    "{\"ok\":true,\"name\":\"%s\",\"id\":3,\"pid\":4242,\"state\":\"running\",\"time_ns\":%llu,\"uptime\":100.5,"
    "\"restarts\":%d,\"cpu_time\":%s,\"clock\":\"tsc\","
    "\"memory\":{\"configured\":268435456,\"guest_resident\":104857600,\"vmm_resident\":8388608,\"rss\":113246208},"
    "\"vcpus\":[{\"vcpu\":0,\"cpu_time\":1.5,\"vmm_exits\":{\"io\":10,\"mmio\":20,\"intr\":3,\"other\":0},"
    "\"kvm\":{\"exits\":1000,\"halt_exits\":400}},{\"vcpu\":1,\"cpu_time\":2.5,\"vmm_exits\":{},\"kvm\":{}}],"
    "\"disks\":[{\"vdev\":\"xvda\",\"guest_dev\":\"vda\",\"target\":\"%s\",\"accounting\":true,\"iothread_tids\":[77],"
    "\"ops\":{\"read\":%llu,\"write\":%llu},\"bytes\":{\"read\":%llu,\"write\":%llu},"
    "\"latency\":{\"read\":{\"count\":0,\"sum_ns\":%llu,\"buckets\":[0,0,0,0,0,0,%llu]}},\"inflight\":2}],"
    "\"vifs\":[{\"vifname\":\"vif1\",\"bridge\":\"br0\",\"mac\":\"00:16:3e:00:00:01\",\"rx_packets\":%llu,"
    "\"rx_bytes\":%llu,\"tx_packets\":1,\"tx_bytes\":60,\"drops\":{\"tx_bad_chain\":2},\"rx_no_buffers\":4,"
    "\"tx_backend_full\":1}]}";

static struct json_object *reply(const char *name, const char *target, unsigned long long t, int restarts,
                                 const char *cpu, unsigned long long rd_ops, unsigned long long rd_bytes,
                                 unsigned long long wr_ops, unsigned long long rx)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf), reply_fmt, name, t, restarts, cpu, target, rd_ops, wr_ops, rd_bytes, wr_ops * 4096,
             rd_ops * 50000, rd_ops, rx, rx * 1000);
    struct json_object *o = json_tokener_parse(buf);
    assert_non_null(o);
    return o;
}

static void parse_and_delta(void **state)
{
    (void)state;
    static struct vmstat a, b;
    char err[256];
    struct json_object *r = reply("web", "/img/web.raw", 10000000000ull, 0, "4.0", 100, 409600, 10, 5);
    assert_int_equal(vmstat_parse(r, &a, err, sizeof(err)), 0);
    json_object_put(r);
    assert_string_equal(a.name, "web");
    assert_int_equal(a.id, 3);
    assert_int_equal(a.nvcpus, 2);
    assert_int_equal(a.vcpus[0].vmm_exits[VMSTAT_EXIT_MMIO], 20);
    assert_true(a.vcpus[0].kvm_have[KVM_VSTAT_EXITS]);
    assert_int_equal(a.vcpus[0].kvm[KVM_VSTAT_HALT_EXITS], 400);
    assert_false(a.vcpus[1].kvm_have[KVM_VSTAT_EXITS]);
    assert_int_equal(a.ndisks, 1);
    assert_string_equal(a.disks[0].guest_dev, "vda");
    assert_int_equal(a.disks[0].tids[0], 77);
    assert_int_equal(a.disks[0].s.lat[BLK_OP_READ].count, 100);   /* from the buckets, not "count" */
    assert_int_equal(a.mem_guest, 104857600);
    /* Two seconds later: 200 more reads of 4 KiB, 20 writes, 1000 frames. */
    r = reply("web", "/img/web.raw", 12000000000ull, 0, "5.0", 300, 409600 + 819200, 30, 1005);
    assert_int_equal(vmstat_parse(r, &b, err, sizeof(err)), 0);
    json_object_put(r);
    struct top_row row;
    top_row_fill(&row, &a, &b);
    assert_true(row.d.seconds > 1.999 && row.d.seconds < 2.001);
    assert_true(row.cpu_pct > 49.9 && row.cpu_pct < 50.1);
    assert_true(row.rd_iops > 99.9 && row.rd_iops < 100.1);
    assert_true(row.rd_bps > 409599 && row.rd_bps < 409601);
    assert_true(row.wr_iops > 9.9 && row.wr_iops < 10.1);
    assert_int_equal(row.d.disk_total.ops[BLK_OP_READ], 200);
    assert_int_equal(row.d.disk_total.lat[BLK_OP_READ].count, 200);
    /* All in bucket 6: (2^13, 2^14] ns. */
    assert_true(row.p50_us > 8.192 && row.p50_us <= 16.384);
    assert_int_equal(row.d.vif_total.rx_packets, 1000);
    assert_true(row.rx_bps > 499999 && row.rx_bps < 500001);
    assert_int_equal(row.d.disks[0].inflight, 2);
    /* Restarted in between: the new counters count from the restart. */
    r = reply("web", "/img/web.raw", 13000000000ull, 1, "0.5", 7, 28672, 0, 0);
    static struct vmstat c;
    assert_int_equal(vmstat_parse(r, &c, err, sizeof(err)), 0);
    json_object_put(r);
    top_row_fill(&row, &b, &c);
    assert_int_equal(row.d.disk_total.ops[BLK_OP_READ], 7);
    assert_true(row.d.seconds > 100.4 && row.d.seconds < 100.6);   /* its uptime */
}

/* A balloon on its way down shows as HELD>TARGET in MEM_MiB (one word:
 * RES_MiB stays the seventh column), at its target as what the guest
 * holds; without a balloon, the configured memory and "balloon": null. */
static void balloon_in_top(void **state)
{
    (void)state;
    static struct vmstat a, b;
    char err[256], line[1024], hdr[1024];
    struct json_object *r = reply("bal", "/img/b.raw", 1000000000ull, 0, "1", 1, 4096, 1, 1);
    assert_int_equal(vmstat_parse(r, &a, err, sizeof(err)), 0);
    json_object_put(r);
    assert_false(a.balloon);
    r = reply("bal", "/img/b.raw", 2000000000ull, 0, "1", 2, 8192, 2, 2);
    struct json_object *bl = json_tokener_parse(
        "{\"target_mib\":100,\"max_mib\":192,\"ram_mib\":192,\"actual_mib\":160,\"progress\":\"moving\","
        "\"guest\":{\"total\":167772160,\"free\":104857600,\"updates\":3}}");
    assert_non_null(bl);
    json_object_object_add(r, "balloon", bl);
    assert_int_equal(vmstat_parse(r, &b, err, sizeof(err)), 0);
    json_object_put(r);
    assert_true(b.balloon);
    assert_int_equal(b.bal_held_mib, 160);
    assert_int_equal(b.bal_guest_total, 167772160);
    struct top_row row;
    top_row_fill(&row, &a, &b);
    top_header(hdr, sizeof(hdr));
    top_line(line, sizeof(line), &row);
    char f[16][64];
    assert_int_equal(sscanf(line, "%63s %63s %63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4], f[5], f[6]), 7);
    assert_string_equal(f[5], "160>100");
    assert_string_equal(f[6], "108");   /* rss: 113246208 bytes */
    /* The header's MEM_MiB ends where the figure does. */
    assert_int_equal(strstr(hdr, "MEM_MiB") + 7 - hdr, strstr(line, "160>100") + 7 - line);
    struct json_object *j = top_row_json(&row), *m, *jb, *v;
    assert_true(json_object_object_get_ex(j, "memory", &m) && json_object_object_get_ex(m, "balloon", &jb));
    assert_true(json_object_object_get_ex(jb, "target_mib", &v) && json_object_get_int(v) == 100);
    assert_true(json_object_object_get_ex(jb, "held_mib", &v) && json_object_get_int(v) == 160);
    assert_true(json_object_object_get_ex(jb, "progress", &v) && !strcmp(json_object_get_string(v), "moving"));
    json_object_put(j);
    /* At its target: the plain figure. */
    b.bal_held_mib = 100;
    top_row_fill(&row, &a, &b);
    top_line(line, sizeof(line), &row);
    assert_int_equal(sscanf(line, "%63s %63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4], f[5]), 6);
    assert_string_equal(f[5], "100");
    /* No balloon: the configured 256 MiB, and null in the JSON. */
    top_row_fill(&row, NULL, &a);
    top_line(line, sizeof(line), &row);
    assert_int_equal(sscanf(line, "%63s %63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4], f[5]), 6);
    assert_string_equal(f[5], "256");
    j = top_row_json(&row);
    assert_true(json_object_object_get_ex(j, "memory", &m) && json_object_object_get_ex(m, "balloon", &jb));
    assert_null(jb);
    json_object_put(j);
    /* A balloon object without a target (malformed) counts as none. */
    r = reply("bal", "/img/b.raw", 3000000000ull, 0, "1", 2, 8192, 2, 2);
    json_object_object_add(r, "balloon", json_tokener_parse("{\"target_mib\":\"lots\",\"actual_mib\":5}"));
    assert_int_equal(vmstat_parse(r, &b, err, sizeof(err)), 0);
    json_object_put(r);
    assert_false(b.balloon);
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* JSON of a name with an escape sequence, a newline, quotes, a
 * backslash and bytes that are not UTF-8. */
#define HOSTILE_NAME   "ev\\u001b[2Jil\\n\\\"x\\\\"
#define HOSTILE_TARGET "/img/\\u001b]0;pwned\\u0007\\u00ff.raw"

static void hostile_names_are_escaped(void **state)
{
    (void)state;
    static struct vmstat a, b;
    char err[256];
    struct json_object *r = reply(HOSTILE_NAME, HOSTILE_TARGET, 1000000000ull, 0, "1", 1, 4096, 1, 1);
    assert_int_equal(vmstat_parse(r, &a, err, sizeof(err)), 0);
    json_object_put(r);
    r = reply(HOSTILE_NAME, HOSTILE_TARGET, 2000000000ull, 0, "1", 2, 8192, 2, 2);
    assert_int_equal(vmstat_parse(r, &b, err, sizeof(err)), 0);
    json_object_put(r);
    assert_non_null(strchr(b.name, '\033'));
    struct top_row row;
    top_row_fill(&row, &a, &b);
    char line[1024];
    top_line(line, sizeof(line), &row);
    assert_true(printable(line));
    assert_non_null(strstr(line, "ev\\x1b[2Jil\\x0a+ "));   /* cut to its column at a whole escape, marked */
    struct json_object *j = top_row_json(&row);
    const char *js = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
    assert_true(printable(js));
    assert_non_null(strstr(js, "\"name\":\"ev\\\\x1b[2Jil\\\\x0a\\\"x\\\\\\\\\""));
    json_object_put(j);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    metrics_write(f, &b, 1, 0, 0);
    fclose(f);
    for (size_t i = 0; i < len; i++)
        assert_true(text[i] == '\n' || (text[i] >= 0x20 && text[i] < 0x7f));
    /* The label value: str_escape's text with the format's escapes. */
    assert_non_null(strstr(text, "domain=\"ev\\\\x1b[2Jil\\\\x0a\\\"x\\\\\\\\\""));
    assert_non_null(strstr(text, "source_file=\"/img/\\\\x1b]0;pwned\\\\x07\\\\xc3\\\\xbf.raw\""));
    free(text);
}

/* Every sample line is NAME{LABELS} VALUE; histograms are cumulative,
 * end at +Inf with _count, and read requests match the VM's. */
static void detail_line_printable(void *ctx, const char *line)
{
    (void)ctx;
    assert_true(printable(line));
}

/* The state is the VM process's word too: the detail view's first line
 * printed it raw (found by fuzz_vmstat). */
static void hostile_state_in_detail(void **state)
{
    (void)state;
    static struct vmstat a, b;
    char err[256];
    struct json_object *r = reply("web", "/img/a.raw", 1000000000ull, 0, "1", 1, 4096, 1, 1);
    assert_int_equal(vmstat_parse(r, &a, err, sizeof(err)), 0);
    json_object_put(r);
    r = reply("web", "/img/a.raw", 2000000000ull, 0, "1", 2, 8192, 2, 2);
    assert_int_equal(vmstat_parse(r, &b, err, sizeof(err)), 0);
    json_object_put(r);
    snprintf(b.state, sizeof(b.state), "ru\033]0;x\a\xd4n");
    struct top_row row;
    top_row_fill(&row, &a, &b);
    top_detail(&row, NULL, NULL, detail_line_printable, NULL);
}

static void metrics_text_is_well_formed(void **state)
{
    (void)state;
    static struct vmstat v[2];
    char err[256];
    struct json_object *r = reply("alpha", "/a.raw", 1000000000ull, 0, "3.25", 512, 33554432, 0, 0);
    assert_int_equal(vmstat_parse(r, &v[0], err, sizeof(err)), 0);
    json_object_put(r);
    r = reply("beta", "/b.raw", 1000000000ull, 0, "1", 0, 0, 2000, 10);
    assert_int_equal(vmstat_parse(r, &v[1], err, sizeof(err)), 0);
    json_object_put(r);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    metrics_write(f, v, 2, 1, 0);
    fclose(f);
    regex_t re;
    assert_int_equal(regcomp(&re, "^vireo_[a-z_]+(\\{([a-z_]+=\"([^\"\\\\]|\\\\.)*\",?)+\\})? [0-9.e+-]+$",
                             REG_EXTENDED | REG_NOSUB), 0);
    unsigned samples = 0;
    unsigned long long last_bucket = 0, inf = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') {
            assert_true(!strncmp(line, "# HELP vireo_", 13) || !strncmp(line, "# TYPE vireo_", 13));
            continue;
        }
        if (regexec(&re, line, 0, NULL, 0))
            fail_msg("not a sample line: %s", line);
        samples++;
        if (strstr(line, "domain_block_latency_seconds_bucket{domain=\"alpha\"") && strstr(line, "op=\"read\"")) {
            unsigned long long v2 = strtoull(strrchr(line, ' ') + 1, NULL, 10);
            assert_true(v2 >= last_bucket);
            last_bucket = v2;
            if (strstr(line, "le=\"+Inf\""))
                inf = v2;
        }
    }
    assert_true(samples > 200);
    assert_int_equal(inf, 512);
    regfree(&re);
    f = open_memstream(&text, &len);
    metrics_write(f, v, 2, 1, 0);
    fclose(f);
    assert_non_null(strstr(text, "vireo_domain_block_stats_read_requests_total{domain=\"alpha\",target_device=\"vda\","
                                 "source_file=\"/a.raw\"} 512\n"));
    assert_non_null(strstr(text, "vireo_domain_block_stats_read_bytes_total{domain=\"alpha\",target_device=\"vda\","
                                 "source_file=\"/a.raw\"} 33554432\n"));
    assert_non_null(strstr(text, "vireo_domain_block_stats_write_requests_total{domain=\"beta\",target_device=\"vda\","
                                 "source_file=\"/b.raw\"} 2000\n"));
    assert_non_null(strstr(text, "vireo_domain_info_cpu_time_seconds_total{domain=\"alpha\"} 3.250000\n"));
    assert_non_null(strstr(text, "vireo_domain_block_latency_seconds_bucket{domain=\"alpha\",target_device=\"vda\","
                                 "source_file=\"/a.raw\",op=\"read\",le=\"1.6384e-05\"} 512\n"));
    assert_non_null(strstr(text, "vireo_domain_vcpu_exits_total{domain=\"alpha\",vcpu=\"0\"} 1000\n"));
    assert_non_null(strstr(text, "vireo_domains_unreadable{reason=\"not_accessible\"} 1\n"));
    free(text);
}

/* Replies that lie: wrong types read as nothing, too many of anything
 * and oversized histograms are refused, long strings are cut. */
static void hostile_replies(void **state)
{
    (void)state;
    static struct vmstat v;
    char err[256];
    static const char *const bad[] = {
        "{\"disks\":[{},{},{},{},{},{},{},{},{}]}",
        ("{\"vcpus\":[" "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},"
         "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}]}"),
        ("{\"disks\":[{\"latency\":{\"read\":{\"buckets\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
         "1,1]}}}]}"),
        "{\"vifs\":[1,2,3,4,5]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct json_object *o = json_tokener_parse(bad[i]);
        assert_non_null(o);
        assert_int_equal(vmstat_parse(o, &v, err, sizeof(err)), -1);
        json_object_put(o);
    }
    struct json_object *o = json_tokener_parse(
        "{\"name\":42,\"id\":-5,\"pid\":1e300,\"time_ns\":\"soon\",\"cpu_time\":-3,\"memory\":[],\"vcpus\":{},"
        "\"disks\":[{\"vdev\":\"xvdaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"ops\":{\"read\":-1,"
        "\"write\":\"x\"},\"iothread_tids\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,-4]}],\"vifs\":[7]}");
    assert_int_equal(vmstat_parse(o, &v, err, sizeof(err)), 0);
    json_object_put(o);
    assert_string_equal(v.name, "");
    assert_int_equal(v.id, 0);
    assert_int_equal(v.pid, 0);
    assert_true(v.cpu_time == 0);
    assert_int_equal(v.nvcpus, 0);
    assert_int_equal(strlen(v.disks[0].vdev), sizeof(v.disks[0].vdev) - 1);
    assert_int_equal(v.disks[0].s.ops[BLK_OP_READ], 0);
    assert_int_equal(v.disks[0].ntids, IOTHREAD_GROUP_MAX);
    assert_int_equal(v.nvifs, 1);
    assert_false(v.vifs[0].has_stats);
}

static int write_metrics(const char *path)
{
    static struct vmstat v[2];
    char err[256];
    struct json_object *r = reply(HOSTILE_NAME, HOSTILE_TARGET, 1000000000ull, 0, "1", 3, 12288, 1, 1);
    if (vmstat_parse(r, &v[0], err, sizeof(err)) < 0)
        return 1;
    json_object_put(r);
    r = reply("plain", "/x.raw", 1000000000ull, 0, "2", 5, 20480, 9, 3);
    if (vmstat_parse(r, &v[1], err, sizeof(err)) < 0)
        return 1;
    json_object_put(r);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    metrics_write(f, v, 2, 0, 1);
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write-metrics"))
        return write_metrics(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blk_round_trip),
        cmocka_unit_test(parse_and_delta),
        cmocka_unit_test(balloon_in_top),
        cmocka_unit_test(hostile_names_are_escaped),
        cmocka_unit_test(hostile_state_in_detail),
        cmocka_unit_test(metrics_text_is_well_formed),
        cmocka_unit_test(hostile_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

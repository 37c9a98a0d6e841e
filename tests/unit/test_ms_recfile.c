/* Recording files: what the writer produces the reader gives back (CSV and
 * JSON lines), and every malformed line is refused with file:line and what
 * was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "microscope/recfile.h"
#include "util/printable.h"

#define ERRLEN 512

static const struct ms_header H = {.bucket_ns = 1000000, .start_ns = 5000000000ull, .start_realtime_ns = 17, .host = "box"};

static struct ms_sample sample(uint32_t tid, uint64_t bucket)
{
    struct ms_sample s = {0};
    s.t_ns = H.start_ns + bucket * H.bucket_ns;
    s.bucket_ns = H.bucket_ns;
    s.tid = tid;
    s.pid = tid - 1;
    s.dev = 7u << 20 | 3;
    s.kind = MS_WRITEBACK;
    s.cgroup = 99;
    snprintf(s.comm, sizeof(s.comm), "a,\"b\"");
    snprintf(s.devname, sizeof(s.devname), "loop3");
    s.v.rd_bytes = 4096;
    s.v.wr_bytes = 1ull << 40;
    s.v.rd_ops = 1;
    s.v.wr_ops = 2;
    s.v.other_ops = 3;
    s.v.queue_ns = 11;
    s.v.service_ns = 12;
    s.v.share_ns = 13;
    s.v.inflight_ns = 14;
    s.v.lat[0] = 5;
    s.v.lat[7] = 6;
    return s;
}

struct got {
    struct ms_sample s[8];
    int n;
};

static int collect(void *arg, const struct ms_sample *s)
{
    struct got *g = arg;
    if (g->n < 8)
        g->s[g->n] = *s;
    g->n++;
    return 0;
}

static char *write_rec(enum ms_format fmt, size_t *len, bool trailer)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    struct ms_writer w;
    assert_int_equal(ms_writer_begin(&w, f, fmt, &H), 0);
    struct ms_sample a = sample(100, 0), b = sample(200, 41);
    assert_int_equal(ms_writer_sample(&w, &a), 0);
    assert_int_equal(ms_writer_sample(&w, &b), 0);
    if (trailer) {
        struct ms_trailer t = {.end_ns = 6000000000ull, .missed = 4};
        for (int i = 0; i < MS_NR_COUNTERS; i++)
            t.counters[i] = (uint64_t)i * 10;
        assert_int_equal(ms_writer_end(&w, &t), 0);
    }
    fclose(f);
    return buf;
}

static void round_trip(enum ms_format fmt)
{
    size_t len;
    char *buf = write_rec(fmt, &len, true);
    struct ms_header h;
    struct ms_trailer t;
    struct got g = {0};
    char err[ERRLEN] = "";
    int rc = ms_read_buf(buf, len, "rec", &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(g.n, 2);
    assert_int_equal(h.bucket_ns, H.bucket_ns);
    assert_int_equal(h.start_ns, H.start_ns);
    assert_int_equal(h.start_realtime_ns, 17);
    assert_string_equal(h.host, "box");
    struct ms_sample want = sample(200, 41);
    assert_memory_equal(&g.s[1], &want, sizeof(want));
    want = sample(100, 0);
    assert_memory_equal(&g.s[0], &want, sizeof(want));
    assert_true(t.present);
    assert_int_equal(t.end_ns, 6000000000ull);
    assert_int_equal(t.missed, 4);
    for (int i = 0; i < MS_NR_COUNTERS; i++)
        assert_int_equal(t.counters[i], (uint64_t)i * 10);
    free(buf);
}

static void csv_round_trip(void **state)
{
    (void)state;
    round_trip(MS_FMT_CSV);
}

static void jsonl_round_trip(void **state)
{
    (void)state;
    round_trip(MS_FMT_JSONL);
}

static void cut_short_has_no_trailer(void **state)
{
    (void)state;
    for (int fmt = 0; fmt < 2; fmt++) {
        size_t len;
        char *buf = write_rec((enum ms_format)fmt, &len, false);
        struct ms_header h;
        struct ms_trailer t;
        struct got g = {0};
        char err[ERRLEN];
        assert_int_equal(ms_read_buf(buf, len, "rec", &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err,
                                     sizeof(err)),
                         0);
        assert_int_equal(g.n, 2);
        assert_false(t.present);
        free(buf);
    }
}

static void format_by_name(void **state)
{
    (void)state;
    assert_int_equal(ms_format_for_path("a.csv"), MS_FMT_CSV);
    assert_int_equal(ms_format_for_path("a.jsonl"), MS_FMT_JSONL);
    assert_int_equal(ms_format_for_path("a.json"), MS_FMT_JSONL);
    assert_int_equal(ms_format_for_path("rec"), MS_FMT_CSV);
}

/* Replaces the first occurrence of `from` in the CSV recording and checks
 * the reader's complaint. */
static void expect_error(enum ms_format fmt, const char *from, const char *to, const char *want)
{
    size_t len;
    char *buf = write_rec(fmt, &len, true);
    char *at = strstr(buf, from);
    if (!at)
        fail_msg("'%s' not in the recording", from);
    size_t fl = strlen(from), tl = strlen(to);
    char *mod = malloc(len - fl + tl + 1);
    memcpy(mod, buf, (size_t)(at - buf));
    memcpy(mod + (at - buf), to, tl);
    memcpy(mod + (at - buf) + tl, at + fl, len - (size_t)(at - buf) - fl + 1);
    struct ms_header h;
    struct ms_trailer t;
    struct got g = {0};
    char err[ERRLEN] = "";
    if (ms_read_buf(mod, len - fl + tl, "rec.x", &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err,
                    sizeof(err)) != -1)
        fail_msg("accepted after replacing '%s' by '%s'", from, to);
    assert_string_equal(err, want);
    free(mod);
    free(buf);
}

static void csv_errors(void **state)
{
    (void)state;
    expect_error(MS_FMT_CSV, "# vireo-microscope 1", "hello",
                 "rec.x:1: expected '# vireo-microscope 1' or a JSON header object: not a microscope recording");
    expect_error(MS_FMT_CSV, "bucket_ns=1000000", "bucket_ns=10",
                 "rec.x:2: bucket_ns: expected between 1000 (1 us) and 60000000000 (60 s)");
    expect_error(MS_FMT_CSV, "start_ns=5000000000", "start_ns=5x",
                 "rec.x:2: start_ns: expected an unsigned integer");
    expect_error(MS_FMT_CSV, "t_ns,bucket_ns", "t,bucket_ns",
                 "rec.x:3: expected the column line 't_ns,bucket_ns,tid,pid,comm,cgroup,dev,d...'");
    expect_error(MS_FMT_CSV, ",100,99,", ",-100,99,", "rec.x:4: field tid: expected an unsigned integer, got '-100'");
    expect_error(MS_FMT_CSV, "7:3", "7-3", "rec.x:4: field dev: expected MAJOR:MINOR, got '7-3'");
    expect_error(MS_FMT_CSV, "writeback", "sideways",
                 "rec.x:4: field kind: expected own, writeback, unattributed or device, got 'sideways'");
    expect_error(MS_FMT_CSV, "1099511627776", "99999999999999999999",
                 "rec.x:4: field wr_bytes: expected an unsigned integer, got '99999999999999999999'");
    expect_error(MS_FMT_CSV, "\"a,\"\"b\"\"\"", "\"a", "rec.x:4: expected ',' after quoted field 5");
    expect_error(MS_FMT_CSV, "5;0;0;0;0;0;0;6\n", "\"5\n", "rec.x:4: unterminated quoted field 19");
    expect_error(MS_FMT_CSV, "5;0;0;0;0;0;0;6\n", "5;0;0;0;0;0;0;6,7\n",
                 "rec.x:4: expected 19 comma-separated fields, found more");
    expect_error(MS_FMT_CSV, "5000000000,1000000,100", "5000000001,1000000,100",
                 "rec.x:4: t_ns: expected a bucket start (start_ns + k * bucket_ns)");
    expect_error(MS_FMT_CSV, " missed=4", " missed=", "rec.x:6: missed: expected an unsigned integer");
    expect_error(MS_FMT_CSV, "issues_unseen=120\n", "issues_unseen=120\n5000000000,1\n",
                 "rec.x:7: unexpected line after the end record");
}

static void jsonl_errors(void **state)
{
    (void)state;
    expect_error(MS_FMT_JSONL, "\"version\":1,", "", "rec.x:1: header object without \"version\"");
    expect_error(MS_FMT_JSONL, "\"tid\":100", "\"tid\":\"100\"", "rec.x:2: \"tid\": expected an unsigned integer");
    expect_error(MS_FMT_JSONL, "\"tid\":100", "\"tid\":100,\"tid\":1", "rec.x:2: duplicate key \"tid\"");
    expect_error(MS_FMT_JSONL, "\"tid\":100", "\"tid\":4294967296",
                 "rec.x:2: \"tid\": expected an unsigned integer");
    expect_error(MS_FMT_JSONL, "\"tid\":100", "\"colour\":1", "rec.x:2: unknown key \"colour\"");
    expect_error(MS_FMT_JSONL, "\"dev\":\"7:3\"", "\"dev\":\"7\"", "rec.x:2: \"dev\": expected \"MAJOR:MINOR\"");
    expect_error(MS_FMT_JSONL, "\"lat_us_log2\":[5,", "\"lat_us_log2\":[5 ",
                 "rec.x:2: \"lat_us_log2\": expected ',' or ']'");
    expect_error(MS_FMT_JSONL, "{\"type\":\"sample\"", "{\"type\":\"sampel\"",
                 "rec.x:2: \"type\": expected \"sample\", \"vm\" or \"end\", got \"sampel\"");
    expect_error(MS_FMT_JSONL, "]}\n{\"type\":\"sample\"", "]} x\n{\"type\":\"sample\"",
                 "rec.x:2: unexpected text after the object");
    expect_error(MS_FMT_JSONL, "\"comm\":\"a,\\\"b\\\"\"", "\"comm\":\"a\\q\"", "rec.x:2: \"comm\": expected a string");
}

static void empty_file(void **state)
{
    (void)state;
    struct ms_header h;
    struct ms_trailer t;
    char err[ERRLEN];
    assert_int_equal(ms_read_buf("", 0, "e.csv", &h, &t, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "e.csv:1: unexpected end of file: the recording has no header");
}

/* SIGKILL leaves the last line unfinished at any byte: it is dropped and
 * the recording counts as cut short, as one cut at a line's end does. */
static void cut_mid_line(void **state)
{
    (void)state;
    for (int fmt = 0; fmt < 2; fmt++) {
        size_t len;
        char *buf = write_rec((enum ms_format)fmt, &len, false);
        size_t last = len - 1;
        while (last > 0 && buf[last - 1] != '\n')
            last--;
        for (size_t cut = last; cut <= len; cut++) {
            struct ms_header h;
            struct ms_trailer t;
            struct got g = {0};
            char err[ERRLEN] = "";
            if (ms_read_buf(buf, cut, "rec", &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err,
                            sizeof(err)))
                fail_msg("format %d cut at %zu of %zu: %s", fmt, cut, len, err);
            bool whole = cut == len, none = cut == last;
            assert_int_equal(g.n, whole ? 2 : 1);
            assert_false(t.present);
            assert_int_equal(t.cut_line, !whole && !none);
        }
        free(buf);
    }
}

/* Task names are anyone's: a recording holds them printable (no control
 * bytes, valid UTF-8) and reading one back and writing it again changes
 * nothing. */
static void hostile_names(void **state)
{
    (void)state;
    const char *evil = "\x1b]0;x\x07\xff\xc3\xa9\xe2\x80\xae";
    char want[PRINTABLE_CAP(16)];
    printable(want, sizeof(want), evil);
    assert_string_equal(want, "\\x1b]0;x\\x07\\xff\xc3\xa9\\xe2\\x80\\xae");
    for (int fmt = 0; fmt < 2; fmt++) {
        char *buf = NULL, *again = NULL;
        size_t len, len2;
        FILE *f = open_memstream(&buf, &len);
        struct ms_writer w;
        struct ms_sample a = sample(100, 0);
        snprintf(a.comm, sizeof(a.comm), "%s", evil);
        snprintf(a.devname, sizeof(a.devname), "\x9b" "1m");
        struct ms_header hh = H;
        snprintf(hh.host, sizeof(hh.host), "h\x1b[2J st");
        ms_writer_begin(&w, f, (enum ms_format)fmt, &hh);
        ms_writer_sample(&w, &a);
        fclose(f);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)buf[i] < 0x20 && buf[i] != '\n')
                fail_msg("format %d: control byte 0x%02x at %zu", fmt, buf[i], i);
        for (size_t i = 0; i < len;) {
            uint32_t cp;
            size_t n = (unsigned char)buf[i] < 0x80 ? 1 : utf8_char((const unsigned char *)buf + i, len - i, &cp);
            if (!n)
                fail_msg("format %d: not UTF-8 at %zu", fmt, i);
            i += n;
        }
        struct ms_header h;
        struct ms_trailer t;
        struct got g = {0};
        char err[ERRLEN] = "";
        if (ms_read_buf(buf, len, "rec", &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err,
                        sizeof(err)))
            fail_msg("%s", err);
        assert_int_equal(g.n, 1);
        assert_string_equal(g.s[0].comm, want);
        assert_string_equal(g.s[0].devname, "\\x9b1m");
        f = open_memstream(&again, &len2);
        ms_writer_begin(&w, f, (enum ms_format)fmt, &h);
        ms_writer_sample(&w, &g.s[0]);
        fclose(f);
        assert_int_equal(len2, len);
        assert_memory_equal(again, buf, len);
        free(buf);
        free(again);
    }
}

struct vms {
    struct ms_vm vm[4];
    int n;
};

static int collect_vm(void *arg, const struct ms_vm *vm)
{
    struct vms *v = arg;
    if (v->n < 4)
        v->vm[v->n] = *vm;
    v->n++;
    return 0;
}

/* The pid -> VM records `report --by vm` reads offline. */
static void vm_records(void **state)
{
    (void)state;
    for (int fmt = 0; fmt < 2; fmt++) {
        char *buf = NULL;
        size_t len;
        FILE *f = open_memstream(&buf, &len);
        struct ms_writer w;
        ms_writer_begin(&w, f, (enum ms_format)fmt, &H);
        ms_writer_vm(&w, &(struct ms_vm){.t_ns = H.start_ns + 5, .pid = 4242, .name = "web"});
        ms_writer_vm(&w, &(struct ms_vm){.t_ns = H.start_ns + 6, .pid = 7, .name = "db one\xff"});
        fclose(f);
        struct ms_header h;
        struct ms_trailer t;
        struct vms v = {0};
        char err[ERRLEN] = "";
        if (ms_read_buf(buf, len, "rec", &h, &t, &(struct ms_read_cbs){.vm = collect_vm, .arg = &v}, err,
                        sizeof(err)))
            fail_msg("%s", err);
        assert_int_equal(v.n, 2);
        assert_int_equal(v.vm[0].pid, 4242);
        assert_int_equal(v.vm[0].t_ns, H.start_ns + 5);
        assert_string_equal(v.vm[0].name, "web");
        assert_int_equal(v.vm[1].pid, 7);
        assert_string_equal(v.vm[1].name, fmt == MS_FMT_CSV ? "db\\x20one\\xff" : "db one\\xff");
        free(buf);
    }
    expect_error(MS_FMT_CSV, "\n# end", "\n# vm t_ns=5000000000 pid=0 name=x\n# end", "rec.x:6: pid: expected a process id");
    expect_error(MS_FMT_JSONL, "\n{\"type\":\"end\"", "\n{\"type\":\"vm\",\"t_ns\":5000000000,\"pid\":3}\n{\"type\":\"end\"",
                 "rec.x:4: vm object without \"name\"");
}

/* /dev/zero's endless NULs or one endless line are refused at once, not
 * after reading (and holding) everything. */
static void bounded_lines(void **state)
{
    (void)state;
    struct ms_header h;
    struct ms_trailer t;
    char err[ERRLEN];
    size_t n = 1 << 20;
    char *big = malloc(n);
    memset(big, 'a', n);
    assert_int_equal(ms_read_buf(big, n, "f", &h, &t, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "f:1: line longer than 8192 bytes: not a microscope recording");
    static const char nul[] = "# vireo-microscope 1\n# bucket_ns=1000000 start_ns=0\n\0\0\0";
    assert_int_equal(ms_read_buf(nul, sizeof(nul), "f", &h, &t, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "f:3: unexpected NUL byte: not a microscope recording");
    free(big);
}

/* Only regular files are read, up to their size. */
static void files(void **state)
{
    (void)state;
    struct ms_header h;
    struct ms_trailer t;
    char err[ERRLEN], dir[] = "/tmp/ms-rec-XXXXXX", path[64];
    assert_non_null(mkdtemp(dir));
    assert_int_equal(ms_read_file(dir, &h, &t, NULL, err, sizeof(err)), -1);
    snprintf(path, sizeof(path), "%s: is a directory, not a recording", dir);
    assert_memory_equal(err, path, strlen(path));
    assert_int_equal(ms_read_file("/dev/zero", &h, &t, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "/dev/zero: is a character device, not a recording (a file `vireo microscope record -o` wrote)");
    snprintf(path, sizeof(path), "%s/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    int wfd = open(path, O_RDWR); /* a writer that never closes it */
    assert_true(wfd >= 0);
    assert_int_equal(write(wfd, "# vireo-microscope 1\n", 21), 21);
    assert_int_equal(ms_read_file(path, &h, &t, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ": is a FIFO, not a recording"));
    close(wfd);
    unlink(path);
    /* a 1 GiB file of zeros: answered from its first 64 KiB */
    snprintf(path, sizeof(path), "%s/zeros", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1ll << 30), 0);
    close(fd);
    assert_int_equal(ms_read_file(path, &h, &t, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "zeros:1: unexpected NUL byte"));
    unlink(path);
    /* a real recording, cut in its last line */
    size_t len;
    char *buf = write_rec(MS_FMT_CSV, &len, false);
    snprintf(path, sizeof(path), "%s/rec.csv", dir);
    FILE *f = fopen(path, "w");
    fwrite(buf, 1, len - 3, f);
    fclose(f);
    struct got g = {0};
    assert_int_equal(ms_read_file(path, &h, &t, &(struct ms_read_cbs){.sample = collect, .arg = &g}, err, sizeof(err)), 0);
    assert_int_equal(g.n, 1);
    assert_true(t.cut_line);
    unlink(path);
    free(buf);
    rmdir(dir);
}

/* \\u escapes of other writers become UTF-8. */
static void json_unicode(void **state)
{
    (void)state;
    static const char rec[] = "{\"type\":\"header\",\"version\":1,\"bucket_ns\":1000000,\"start_ns\":0}\n"
                              "{\"type\":\"vm\",\"t_ns\":0,\"pid\":3,\"name\":\"caf\\u00e9 \\u20ac \\ud800\"}\n";
    struct ms_header h;
    struct ms_trailer t;
    struct vms v = {0};
    char err[ERRLEN] = "";
    if (ms_read_buf(rec, sizeof(rec) - 1, "j", &h, &t, &(struct ms_read_cbs){.vm = collect_vm, .arg = &v}, err,
                    sizeof(err)))
        fail_msg("%s", err);
    assert_string_equal(v.vm[0].name, "caf\xc3\xa9 \xe2\x82\xac \xef\xbf\xbd");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_round_trip),   cmocka_unit_test(jsonl_round_trip),
        cmocka_unit_test(cut_short_has_no_trailer), cmocka_unit_test(format_by_name),
        cmocka_unit_test(csv_errors),       cmocka_unit_test(jsonl_errors),
        cmocka_unit_test(empty_file),       cmocka_unit_test(cut_mid_line),
        cmocka_unit_test(hostile_names),    cmocka_unit_test(vm_records),
        cmocka_unit_test(bounded_lines),    cmocka_unit_test(files),
        cmocka_unit_test(json_unicode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

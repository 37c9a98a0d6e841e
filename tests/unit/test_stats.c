/* The accounting's building blocks: log2 histograms (bounds, quantiles,
 * differences), the clock, escaping of untrusted names, KVM's binary
 * statistics parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvm/kvm_stats.h"
#include "util/log2hist.h"
#include "util/mclock.h"
#include "util/strescape.h"

static void bucket_bounds(void **state)
{
    (void)state;
    assert_int_equal(log2hist_index(0), 0);
    assert_int_equal(log2hist_index(1), 0);
    assert_int_equal(log2hist_index(256), 0);
    assert_int_equal(log2hist_index(257), 1);
    assert_int_equal(log2hist_index(512), 1);
    assert_int_equal(log2hist_index(513), 2);
    assert_int_equal(log2hist_index(1000000), 12);   /* (2^19, 2^20] ns: 0.52-1.05 ms */
    assert_int_equal(log2hist_index(1ull << 38), 30);
    assert_int_equal(log2hist_index((1ull << 38) + 1), 31);
    assert_int_equal(log2hist_index(UINT64_MAX), 31);
    /* Every value is at most its bucket's upper bound and above the one
     * before. */
    for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
        unsigned i = log2hist_index(v);
        assert_true(v <= log2hist_upper_ns(i));
        if (i > 0)
            assert_true(v > log2hist_upper_ns(i - 1));
    }
    assert_int_equal(log2hist_upper_ns(0), 256);
    assert_int_equal(log2hist_upper_ns(31), UINT64_MAX);
}

static void quantiles_and_deltas(void **state)
{
    (void)state;
    struct log2hist h;
    memset(&h, 0, sizeof(h));
    struct log2hist_snap s0, s1, d;
    log2hist_read(&h, &s0);
    assert_int_equal(s0.count, 0);
    assert_true(log2hist_quantile(&s0, 0.5) == 0);
    /* 90 requests of 10 us, 10 of 5 ms. */
    for (int i = 0; i < 90; i++)
        log2hist_add(&h, 10000);
    for (int i = 0; i < 10; i++)
        log2hist_add(&h, 5000000);
    log2hist_read(&h, &s1);
    assert_int_equal(s1.count, 100);
    assert_int_equal(s1.sum_ns, 90 * 10000 + 10 * 5000000);
    double p50 = log2hist_quantile(&s1, 0.5), p99 = log2hist_quantile(&s1, 0.99);
    assert_true(p50 > 8192 && p50 <= 16384);          /* 10 us's bucket */
    assert_true(p99 > 4194304 && p99 <= 8388608);     /* 5 ms's bucket */
    log2hist_snap_delta(&d, &s1, &s0);
    assert_int_equal(d.count, 100);
    /* More of the fast ones: the interval's quantiles see only them. */
    for (int i = 0; i < 50; i++)
        log2hist_add(&h, 10000);
    struct log2hist_snap s2;
    log2hist_read(&h, &s2);
    log2hist_snap_delta(&d, &s2, &s1);
    assert_int_equal(d.count, 50);
    assert_int_equal(d.sum_ns, 50 * 10000);
    assert_true(log2hist_quantile(&d, 0.99) <= 16384);
    /* Counters that went back (a restart) count from zero. */
    log2hist_snap_delta(&d, &s0, &s2);
    assert_int_equal(d.count, 0);
    struct log2hist_snap sum = {0};
    log2hist_snap_add(&sum, &s1);
    log2hist_snap_add(&sum, &s2);
    assert_int_equal(sum.count, 250);
}

/* One reading of each clock at about the same moment: the mclock reading
 * between two monotonic ones less than 20 us apart (a busy host preempts
 * us now and then). */
static void pair(uint64_t *mono, uint64_t *mc)
{
    for (int i = 0; i < 1000; i++) {
        uint64_t a = mclock_monotonic_ns();
        *mc = mclock_now();
        uint64_t b = mclock_monotonic_ns();
        *mono = a + (b - a) / 2;
        if (b - a < 20000)
            return;
    }
}

static void clock_is_monotonic_nanoseconds(void **state)
{
    (void)state;
    mclock_init();
    const char *src = mclock_source();
    assert_true(!strcmp(src, "tsc") || !strcmp(src, "monotonic"));
    uint64_t prev = mclock_now();
    for (int i = 0; i < 100000; i++) {
        uint64_t t = mclock_now();
        assert_true(t >= prev);
        prev = t;
    }
    /* Its nanoseconds are CLOCK_MONOTONIC's to within 1 % over 50 ms. */
    uint64_t m0, c0, m1, c1;
    pair(&m0, &c0);
    nanosleep(&(struct timespec){0, 50000000}, NULL);
    pair(&m1, &c1);
    double ratio = (double)(c1 - c0) / (double)(m1 - m0);
    assert_true(ratio > 0.99 && ratio < 1.01);
}

static void escaping(void **state)
{
    (void)state;
    char out[64];
    assert_string_equal(str_escape(out, sizeof(out), "web-1.a_b"), "web-1.a_b");
    assert_string_equal(str_escape(out, sizeof(out), "a\033[2Jb"), "a\\x1b[2Jb");
    assert_string_equal(str_escape(out, sizeof(out), "c:\\d\n\"q\""), "c:\\\\d\\x0a\"q\"");
    assert_string_equal(str_escape(out, sizeof(out), "\xff\xc3\xa9"), "\\xff\\xc3\\xa9");
    assert_string_equal(str_escape(out, sizeof(out), NULL), "");
    /* Cut at a whole escape. */
    char small[6];
    assert_string_equal(str_escape(small, sizeof(small), "ab\033cd"), "ab");
    assert_string_equal(str_escape(small, sizeof(small), "abcdefgh"), "abcde");
}

/* A stats file as KVM lays it out: header, descriptors (each followed by
 * a name of name_size bytes), data. */
static size_t fake_kvm_stats(uint8_t *buf, const char *const *names, unsigned n, const uint32_t *flags)
{
    const unsigned name_size = 48;
    struct kvm_stats_header h = {.name_size = name_size, .num_desc = n, .id_offset = sizeof(h),
                                 .desc_offset = sizeof(h) + 64};
    size_t dsize = sizeof(struct kvm_stats_desc) + name_size;
    h.data_offset = (uint32_t)(h.desc_offset + n * dsize);
    memset(buf, 0, h.data_offset + 8 * n);
    memcpy(buf, &h, sizeof(h));
    for (unsigned i = 0; i < n; i++) {
        struct kvm_stats_desc d = {.flags = flags[i], .size = 1, .offset = 8 * i};
        uint8_t *p = buf + h.desc_offset + i * dsize;
        memcpy(p, &d, sizeof(d));
        snprintf((char *)p + sizeof(d), name_size, "%s", names[i]);
        uint64_t v = 1000 + i;
        memcpy(buf + h.data_offset + 8 * i, &v, 8);
    }
    return h.data_offset;
}

static void kvm_binary_stats(void **state)
{
    (void)state;
    static uint8_t buf[8192];
    const char *names[] = {"halt_successful_poll", "exits", "io_exits", "halt_exits", "mmio_exits"};
    uint32_t flags[] = {0, KVM_STATS_TYPE_CUMULATIVE, KVM_STATS_TYPE_CUMULATIVE, KVM_STATS_TYPE_PEAK,
                        KVM_STATS_TYPE_CUMULATIVE};
    size_t len = fake_kvm_stats(buf, names, 5, flags);
    int64_t off[KVM_VSTAT_N];
    assert_int_equal(kvm_stats_parse(buf, len, off), 0);
    uint32_t data = (uint32_t)len;
    assert_int_equal(off[KVM_VSTAT_EXITS], data + 8);
    assert_int_equal(off[KVM_VSTAT_IO_EXITS], data + 16);
    assert_int_equal(off[KVM_VSTAT_HALT_EXITS], -1);   /* not a counter */
    assert_int_equal(off[KVM_VSTAT_MMIO_EXITS], data + 32);
    assert_int_equal(off[KVM_VSTAT_IRQ_EXITS], -1);
    /* Cut short, or lying about its sizes: refused, nothing read past it. */
    assert_int_equal(kvm_stats_parse(buf, len - 1, off), -1);
    assert_int_equal(kvm_stats_parse(buf, 8, off), -1);
    struct kvm_stats_header h;
    memcpy(&h, buf, sizeof(h));
    h.num_desc = 0x40000000;
    memcpy(buf, &h, sizeof(h));
    assert_int_equal(kvm_stats_parse(buf, len, off), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_bounds),
        cmocka_unit_test(quantiles_and_deltas),
        cmocka_unit_test(clock_is_monotonic_nanoseconds),
        cmocka_unit_test(escaping),
        cmocka_unit_test(kvm_binary_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* util/zero.h: everything reads zero afterwards, and pages that were
 * never written do not become resident (the point of it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/zero.h"

static long resident_pages(void)
{
    long size, res;
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res;
}

static void zeroes_everything(void **state)
{
    (void)state;
    enum { N = 5 * 4096 + 123 };
    static unsigned char buf[N + 7];
    for (size_t off = 0; off < 7; off++) {
        memset(buf, 0xa5, sizeof(buf));
        zero_sparse(buf + off, N);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(buf[off + i], 0);
        /* nothing outside the range */
        for (size_t i = 0; i < off; i++)
            assert_int_equal(buf[i], 0xa5);
        for (size_t i = off + N; i < sizeof(buf); i++)
            assert_int_equal(buf[i], 0xa5);
    }
    /* one nonzero byte at the end of a page, one at the start of the next */
    memset(buf, 0, sizeof(buf));
    buf[4095] = 1;
    buf[4096] = 2;
    buf[N - 1] = 3;
    zero_sparse(buf, N);
    assert_int_equal(buf[4095] | buf[4096] | buf[N - 1], 0);
}

static void untouched_pages_stay_out(void **state)
{
    (void)state;
    size_t len = 64u << 20;
    unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(p != MAP_FAILED);
    madvise(p, len, MADV_NOHUGEPAGE);   /* a read fault must not bring a huge page */
    p[3 * 4096 + 5] = 7;
    long before = resident_pages();
    zero_sparse(p, len);
    long after = resident_pages();
    assert_int_equal(p[3 * 4096 + 5], 0);
    /* memset would have made 16384 pages resident */
    assert_true(after - before < 256);
    munmap(p, len);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(zeroes_everything),
        cmocka_unit_test(untouched_pages_stay_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

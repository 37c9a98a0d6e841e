/* The console buffer (bounded, oldest out first) and CPU list parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "toolstack/console_buf.h"
#include "util/cpulist.h"

/* The buffer as one string, for comparisons. */
static void flat(const struct console_buf *b, char *out)
{
    const uint8_t *p[2];
    size_t n[2];
    int k = console_buf_pieces(b, p, n);
    size_t o = 0;
    for (int i = 0; i < k; i++) {
        memcpy(out + o, p[i], n[i]);
        o += n[i];
    }
    out[o] = 0;
}

static void buf_keeps_newest(void **state)
{
    (void)state;
    struct console_buf b;
    char s[64];
    assert_int_equal(console_buf_init(&b, 8), 0);
    flat(&b, s);
    assert_string_equal(s, "");
    console_buf_append(&b, (const uint8_t *)"abc", 3);
    flat(&b, s);
    assert_string_equal(s, "abc");
    console_buf_append(&b, (const uint8_t *)"defgh", 5);   /* exactly full */
    flat(&b, s);
    assert_string_equal(s, "abcdefgh");
    assert_int_equal(b.dropped, 0);
    console_buf_append(&b, (const uint8_t *)"ij", 2);      /* wraps */
    flat(&b, s);
    assert_string_equal(s, "cdefghij");
    assert_int_equal(b.dropped, 2);
    console_buf_append(&b, (const uint8_t *)"0123456789XY", 12);   /* larger than the buffer */
    flat(&b, s);
    assert_string_equal(s, "456789XY");
    assert_int_equal(b.dropped, 2 + 8 + 4);
    for (int i = 0; i < 100; i++)   /* many small wraps */
        console_buf_append(&b, (const uint8_t *)(i % 2 ? "x" : "yz"), i % 2 ? 1 : 2);
    flat(&b, s);
    assert_int_equal(strlen(s), 8);
    assert_string_equal(s, "zxyzxyzx");
    console_buf_free(&b);
}

static void cpulist_parses(void **state)
{
    (void)state;
    cpu_set_t s;
    char err[128], out[64];
    assert_int_equal(cpulist_parse("0-3,6", 8, &s, err, sizeof(err)), 0);
    cpulist_format(&s, 8, out, sizeof(out));
    assert_string_equal(out, "0-3,6");
    assert_int_equal(cpulist_parse("all", 4, &s, err, sizeof(err)), 0);
    cpulist_format(&s, 4, out, sizeof(out));
    assert_string_equal(out, "all");
    assert_int_equal(cpulist_parse("^1", 4, &s, err, sizeof(err)), 0);
    cpulist_format(&s, 4, out, sizeof(out));
    assert_string_equal(out, "0,2-3");
    assert_int_equal(cpulist_parse("0-3,^1-2", 8, &s, err, sizeof(err)), 0);
    cpulist_format(&s, 8, out, sizeof(out));
    assert_string_equal(out, "0,3");
    assert_int_equal(cpulist_parse("all,^0", 2, &s, err, sizeof(err)), 0);
    cpulist_format(&s, 2, out, sizeof(out));
    assert_string_equal(out, "1");
}

static void cpulist_rejects(void **state)
{
    (void)state;
    cpu_set_t s;
    char err[128];
    assert_int_equal(cpulist_parse("4", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "CPU 4 does not exist; this host has CPUs 0-3");
    assert_int_equal(cpulist_parse("3-1", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "CPU range 3-1 is backwards");
    assert_int_equal(cpulist_parse("1,", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "expected ',' or the end at ','");
    assert_int_equal(cpulist_parse("x", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "expected a CPU number at 'x'");
    assert_int_equal(cpulist_parse("", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "'' selects no CPU");
    assert_int_equal(cpulist_parse("^0-3", 4, &s, err, sizeof(err)), -1);
    assert_string_equal(err, "'^0-3' selects no CPU");
    assert_int_equal(cpulist_parse("99999999999999999999", 4, &s, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_keeps_newest),
        cmocka_unit_test(cpulist_parses),
        cmocka_unit_test(cpulist_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

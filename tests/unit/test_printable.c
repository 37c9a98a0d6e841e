/* printable(): what a name anyone chose becomes before a terminal, an SVG
 * or a JSON parser sees it; json_string() on bytes that are not UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "util/json.h"
#include "util/printable.h"

static void check(const char *in, const char *want)
{
    char out[PRINTABLE_CAP(64)], again[PRINTABLE_CAP(4 * 64)];
    assert_string_equal(printable(out, sizeof(out), in), want);
    assert_string_equal(printable(again, sizeof(again), out), out); /* a second pass changes nothing */
}

static void names(void **state)
{
    (void)state;
    check("kworker/u8:2", "kworker/u8:2");
    check("a\\b", "a\\b");
    check("\x1b[2J", "\\x1b[2J");                       /* escape sequence */
    check("\x1b]0;title\x07", "\\x1b]0;title\\x07");      /* OSC with BEL */
    check("tab\there\n", "tab\\x09here\\x0a");
    check("\x7f", "\\x7f");
    check("caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5"); /* UTF-8 stays */
    check("\xc2\x9b" "31m", "\\xc2\\x9b31m");                /* C1 CSI in UTF-8 */
    check("\xe2\x80\xae" "cod", "\\xe2\\x80\\xaecod");      /* right-to-left override */
    check("\xe2\x80\x8b", "\\xe2\\x80\\x8b");               /* zero-width space */
    check("\xff\xfe", "\\xff\\xfe");                       /* not UTF-8 */
    check("\xc0\xaf", "\\xc0\\xaf");                       /* overlong '/' */
    check("\xed\xa0\x80", "\\xed\\xa0\\x80");              /* a surrogate */
    check("\xe6\x97", "\\xe6\\x97");                       /* cut short */
    check("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");         /* U+1F600 */
}

static void never_cut_inside(void **state)
{
    (void)state;
    char out[8];
    assert_string_equal(printable(out, sizeof(out), "ab\x1b\x1b"), "ab\\x1b"); /* room for one escape */
    assert_string_equal(printable(out, sizeof(out), "abcdef\xc3\xa9"), "abcdef"); /* no room for both bytes of é */
    assert_string_equal(printable(out, 1, "abc"), "");
}

static void json(void **state)
{
    (void)state;
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    json_string(f, "q\"\\\x01\xc3\xa9\xff");
    fclose(f);
    assert_string_equal(buf, "\"q\\\"\\\\\\u0001\xc3\xa9\\u00ff\"");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(never_cut_inside),
        cmocka_unit_test(json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* `vireo microscope` command lines and durations: defaults, every option,
 * and the exact wording of usage errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cli/microscope_args.h"
#include "util/duration.h"

#define ARGV(...) ((char *const[]){"microscope", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *const[]){"microscope", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) microscope_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err), sizeof(err))

static void durations(void **state)
{
    (void)state;
    uint64_t ns;
    assert_true(parse_duration("1ms", &ns));
    assert_int_equal(ns, 1000000);
    assert_true(parse_duration("100us", &ns));
    assert_int_equal(ns, 100000);
    assert_true(parse_duration("2.5s", &ns));
    assert_int_equal(ns, 2500000000ull);
    assert_true(parse_duration("30", &ns));
    assert_int_equal(ns, 30000000000ull);
    assert_true(parse_duration("0.5ms", &ns));
    assert_int_equal(ns, 500000);
    assert_true(parse_duration("2m", &ns));
    assert_int_equal(ns, 120000000000ull);
    assert_false(parse_duration("1.5ns", &ns)); /* not a whole ns */
    assert_false(parse_duration("ms", &ns));
    assert_false(parse_duration("1 ms", &ns));
    assert_false(parse_duration("-1ms", &ns));
    assert_false(parse_duration("1.ms", &ns));
    assert_false(parse_duration("99999999999999999999", &ns));
    assert_false(parse_duration("18446744073709551615s", &ns));
}

static void defaults(void **state)
{
    (void)state;
    struct microscope_args a;
    char err[256];
    assert_int_equal(microscope_args_parse(1, (char *const[]){"microscope", NULL}, &a, err, sizeof(err)), 0);
    assert_int_equal(a.cmd, MS_CMD_LIVE);
    assert_int_equal(a.interval_ns, 1000000);
    assert_int_equal(a.refresh_ns, 1000000000);
    assert_int_equal(a.duration_ns, 0);
    assert_int_equal(a.top, 20);
}

static void record(void **state)
{
    (void)state;
    struct microscope_args a;
    char err[256] = "";
    assert_int_equal(PARSE(&a, err, "record", "-o", "x.jsonl", "--interval", "100us", "--duration", "5", "--",
                           "fio", "--name=x"),
                     0);
    assert_int_equal(a.cmd, MS_CMD_RECORD);
    assert_string_equal(a.output, "x.jsonl");
    assert_int_equal(a.interval_ns, 100000);
    assert_int_equal(a.duration_ns, 5000000000ull);
    assert_string_equal(a.command[0], "fio");
    assert_string_equal(a.command[1], "--name=x"); /* options after -- are the command's */
    assert_null(a.command[2]);
}

static void report(void **state)
{
    (void)state;
    struct microscope_args a;
    char err[256] = "";
    assert_int_equal(PARSE(&a, err, "report", "r.csv", "--json", "--svg", "o.svg", "--window", "5ms", "--min-share",
                           "0.5", "--gap", "1ms", "--top", "3"),
                     0);
    assert_string_equal(a.input, "r.csv");
    assert_true(a.json);
    assert_string_equal(a.svg, "o.svg");
    assert_int_equal(a.rep.window_ns, 5000000);
    assert_true(a.rep.min_share == 0.5);
    assert_int_equal(a.rep.gap_ns, 1000000);
    assert_int_equal(a.rep.top, 3);
}

static void expect(const char *want, int argc, char *const argv[])
{
    struct microscope_args a;
    char err[256] = "";
    if (microscope_args_parse(argc, argv, &a, err, sizeof(err)) != -1)
        fail_msg("accepted: %s", argv[1]);
    assert_string_equal(err, want);
}
#define EXPECT(want, ...) expect(want, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

static void errors(void **state)
{
    (void)state;
    EXPECT("unknown subcommand 'replay' (expected live, record or report)", "replay");
    EXPECT("record needs -o FILE", "record");
    EXPECT("report needs a recording FILE", "report");
    EXPECT("--interval '10us': expected a duration such as 500us, 1ms, 2s (from 0.1 ms to 1 s)", "--interval", "10us");
    EXPECT("--interval '2s': expected a duration such as 500us, 1ms, 2s (from 0.1 ms to 1 s)", "--interval", "2s");
    EXPECT("--interval needs a value", "--interval");
    EXPECT("--format 'xml': expected csv or jsonl", "record", "-o", "f", "--format", "xml");
    EXPECT("unknown option '--json' for microscope record", "record", "-o", "f", "--json");
    EXPECT("unknown option '--interval' for microscope report", "report", "f", "--interval", "1ms");
    EXPECT("unknown option '-o' for microscope live", "-o", "f");
    EXPECT("'--' must be followed by a COMMAND", "record", "-o", "f", "--");
    EXPECT("--min-share '0': expected a fraction in (0, 1], e.g. 0.2", "report", "f", "--min-share", "0");
    EXPECT("--min-share '1.5': expected a fraction in (0, 1], e.g. 0.2", "report", "f", "--min-share", "1.5");
    EXPECT("--top '0': expected a number from 1 to 100000", "--top", "0");
    EXPECT("unexpected argument 'g'", "report", "f", "g");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations), cmocka_unit_test(defaults), cmocka_unit_test(record),
        cmocka_unit_test(report),    cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

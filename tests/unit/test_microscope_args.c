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
    assert_true(parse_duration("2h", &ns));
    assert_int_equal(ns, 7200000000000ull);
    assert_true(parse_duration("30d", &ns));
    assert_int_equal(ns, 30ull * 86400 * 1000000000);
    /* Bounds in messages are printed so that they parse back. */
    char buf[32];
    static const uint64_t back[] = {1, 999, 100000, 1000000, 1500000, 1000000000, 90000000000ull, 3600000000000ull,
                                    30ull * 86400 * 1000000000};
    static const char *const shown[] = {"1ns", "999ns", "100us", "1ms", "1500us", "1s", "90s", "1h", "30d"};
    for (size_t i = 0; i < sizeof(back) / sizeof(back[0]); i++) {
        format_duration(back[i], buf, sizeof(buf));
        assert_string_equal(buf, shown[i]);
        assert_true(parse_duration(buf, &ns));
        assert_int_equal(ns, back[i]);
    }
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
    assert_false(a.by_vm);
    assert_int_equal(PARSE(&a, err, "report", "r.csv", "--by", "vm"), 0);
    assert_true(a.by_vm);
    assert_int_equal(PARSE(&a, err, "live", "--by", "vm"), 0);
    assert_true(a.by_vm);
    assert_int_equal(PARSE(&a, err, "--by", "task"), 0);
    assert_false(a.by_vm);
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
    EXPECT("--interval '10us': expected a duration from 100us to 1s (a number with ns, us, ms, s, m, h or d; bare: "
           "seconds)", "--interval", "10us");
    EXPECT("--interval '2s': expected a duration from 100us to 1s (a number with ns, us, ms, s, m, h or d; bare: "
           "seconds)", "--interval", "2s");
    EXPECT("--duration '31d': expected a duration from 1ms to 30d (a number with ns, us, ms, s, m, h or d; bare: "
           "seconds)", "--duration", "31d");
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
    EXPECT("--by 'pid': expected vm or task", "report", "f", "--by", "pid");
    EXPECT("unknown option '--by' for microscope record", "record", "-o", "f", "--by", "vm");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations), cmocka_unit_test(defaults), cmocka_unit_test(record),
        cmocka_unit_test(report),    cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

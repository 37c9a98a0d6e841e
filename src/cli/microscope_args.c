#include "cli/microscope_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/duration.h"
#include "util/size.h"
#include "util/suggest.h"

const char microscope_usage[] =
    "usage: vireo microscope [live] [--interval T] [--refresh T] [--top N] [--duration T] [--by vm]\n"
    "       vireo microscope record -o FILE [--interval T] [--duration T] [--format csv|jsonl]\n"
    "                               [-- COMMAND [ARGS...]]\n"
    "       vireo microscope report FILE [--json] [--svg OUT.svg] [--window T] [--min-share F]\n"
    "                               [--gap T] [--top N] [--by vm]\n"
    "Per-task disk I/O on this host at millisecond resolution (eBPF; needs root).\n"
    "  --interval T   bucket width, 100us to 1s (default 1ms)\n"
    "  --refresh T    live view: screen refresh (default 1s; measuring stays at --interval)\n"
    "  --top N        rows shown (default 20)\n"
    "  --duration T   stop after T (e.g. 30, 30s, 500ms)\n"
    "  -o FILE        record to FILE: CSV, or JSON lines when it ends in .jsonl/.json\n"
    "  --format F     record as csv or jsonl, whatever -o FILE ends in\n"
    "  -- COMMAND     record until COMMAND exits; vireo exits with its status\n"
    "  --json         report as one JSON object\n"
    "  --svg OUT      also draw a timeline per task (SVG)\n"
    "  --window T     intensity window (default 5ms)\n"
    "  --min-share F  a task is I/O-intensive when it used at least F (default 0.2) of a\n"
    "                 device's time in some window\n"
    "  --gap T        bursts closer than T are one burst (default 2ms)\n"
    "  --by vm        one row per Vireo VM (all threads of its process) beside the other\n"
    "                 tasks; --by task (default) one row per thread\n";

static int want_value(int i, int argc, char *const argv[], char *err, size_t errlen)
{
    if (i + 1 >= argc) {
        snprintf(err, errlen, "%s needs a value", argv[i]);
        return -1;
    }
    return 0;
}

static int duration_arg(const char *opt, const char *v, uint64_t min, uint64_t max, uint64_t *out, char *err,
                        size_t errlen)
{
    if (!parse_duration(v, out) || *out < min || *out > max) {
        char lo[32], hi[32];
        format_duration(min, lo, sizeof(lo));
        format_duration(max, hi, sizeof(hi));
        snprintf(err, errlen, "%s '%s': expected a duration from %s to %s (a number with ns, us, ms, s, m, h "
                 "or d; bare: seconds)", opt, v, lo, hi);
        return -1;
    }
    return 0;
}

int microscope_args_parse(int argc, char *const argv[], struct microscope_args *a, char *err, size_t errlen)
{
    memset(a, 0, sizeof(*a));
    a->interval_ns = 1000000;
    a->refresh_ns = 1000000000;
    a->top = 20;
    ms_report_defaults(&a->rep);
    int i = 1;
    if (i < argc && argv[i][0] != '-') {
        if (!strcmp(argv[i], "live"))
            a->cmd = MS_CMD_LIVE;
        else if (!strcmp(argv[i], "record"))
            a->cmd = MS_CMD_RECORD;
        else if (!strcmp(argv[i], "report"))
            a->cmd = MS_CMD_REPORT;
        else {
            static const char *const subs[] = {"live", "record", "report"};
            const char *hint = suggest_word(argv[i], subs, 3, NULL);
            if (hint)
                snprintf(err, errlen, "unknown subcommand '%s'; did you mean '%s'?", argv[i], hint);
            else
                snprintf(err, errlen, "unknown subcommand '%s' (expected live, record or report)", argv[i]);
            return -1;
        }
        i++;
    }
    for (; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            a->help = true;
            return 0;
        }
        /* report's FILE may start with '-' after "--", as getopt has it. */
        if (!strcmp(o, "--") && a->cmd == MS_CMD_REPORT) {
            if (i + 2 != argc || a->input) {
                snprintf(err, errlen, "'--' must be followed by the one FILE");
                return -1;
            }
            a->input = argv[i + 1];
            break;
        }
        if (!strcmp(o, "--") && a->cmd == MS_CMD_RECORD) {
            if (i + 1 >= argc) {
                snprintf(err, errlen, "'--' must be followed by a COMMAND");
                return -1;
            }
            a->command = argv + i + 1;
            break;
        }
        bool report = a->cmd == MS_CMD_REPORT, record = a->cmd == MS_CMD_RECORD, live = a->cmd == MS_CMD_LIVE;
        if (!strcmp(o, "--interval") && !report) {
            if (want_value(i, argc, argv, err, errlen) < 0 ||
                duration_arg(o, v, 100000, 1000000000, &a->interval_ns, err, errlen) < 0)
                return -1;
        } else if (!strcmp(o, "--duration") && !report) {
            if (want_value(i, argc, argv, err, errlen) < 0 ||
                duration_arg(o, v, 1000000, 30ull * 24 * 3600 * 1000000000, &a->duration_ns, err, errlen) < 0)
                return -1;
        } else if (!strcmp(o, "--refresh") && live) {
            if (want_value(i, argc, argv, err, errlen) < 0 ||
                duration_arg(o, v, 100000000, 3600ull * 1000000000, &a->refresh_ns, err, errlen) < 0)
                return -1;
        } else if (!strcmp(o, "--top") && !record) {
            uint64_t n;
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            if (!parse_uint(v, 1, 100000, &n)) {
                snprintf(err, errlen, "--top '%s': expected a number from 1 to 100000", v);
                return -1;
            }
            a->top = (unsigned)n;
            a->rep.top = (unsigned)n;
        } else if (!strcmp(o, "-o") && record) {
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            a->output = v;
        } else if (!strcmp(o, "--format") && record) {
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            if (strcmp(v, "csv") && strcmp(v, "jsonl")) {
                snprintf(err, errlen, "--format '%s': expected csv or jsonl", v);
                return -1;
            }
            a->format = v;
        } else if (!strcmp(o, "--by") && !record) {
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            if (strcmp(v, "vm") && strcmp(v, "task")) {
                snprintf(err, errlen, "--by '%s': expected vm or task", v);
                return -1;
            }
            a->by_vm = !strcmp(v, "vm");
        } else if (!strcmp(o, "--json") && report) {
            a->json = true;
            continue;
        } else if (!strcmp(o, "--svg") && report) {
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            a->svg = v;
        } else if (!strcmp(o, "--window") && report) {
            if (want_value(i, argc, argv, err, errlen) < 0 ||
                duration_arg(o, v, 100000, 60ull * 1000000000, &a->rep.window_ns, err, errlen) < 0)
                return -1;
        } else if (!strcmp(o, "--gap") && report) {
            if (want_value(i, argc, argv, err, errlen) < 0 ||
                duration_arg(o, v, 0 + 1, 60ull * 1000000000, &a->rep.gap_ns, err, errlen) < 0)
                return -1;
        } else if (!strcmp(o, "--min-share") && report) {
            if (want_value(i, argc, argv, err, errlen) < 0)
                return -1;
            char *end;
            double d = strtod(v, &end);
            if (end == v || *end || !(d > 0 && d <= 1)) {
                snprintf(err, errlen, "--min-share '%s': expected a fraction in (0, 1], e.g. 0.2", v);
                return -1;
            }
            a->rep.min_share = d;
        } else if (report && o[0] != '-' && !a->input) {
            a->input = o;
            continue;
        } else {
            /* Every option of every subcommand: a hint that names one of
             * another subcommand still helps more than none. */
            static const char *const opts[] = {"--interval", "--refresh", "--top", "--duration", "--by", "--format",
                                               "--json", "--svg", "--window", "--gap", "--min-share", "--help"};
            const char *hint = o[0] == '-' ? suggest_word(o, opts, sizeof(opts) / sizeof(opts[0]), NULL) : NULL;
            if (hint && strcmp(hint, o))
                snprintf(err, errlen, "unknown option '%s' for microscope %s; did you mean '%s'?", o,
                         report ? "report" : record ? "record" : "live", hint);
            else if (o[0] == '-')
                snprintf(err, errlen, "unknown option '%s' for microscope %s", o,
                         report ? "report" : record ? "record" : "live");
            else
                snprintf(err, errlen, "unexpected argument '%s'", o);
            return -1;
        }
        i++; /* the option's value */
    }
    if (a->cmd == MS_CMD_RECORD && !a->output) {
        snprintf(err, errlen, "record needs -o FILE");
        return -1;
    }
    if (a->cmd == MS_CMD_REPORT && !a->input) {
        snprintf(err, errlen, "report needs a recording FILE");
        return -1;
    }
    return 0;
}

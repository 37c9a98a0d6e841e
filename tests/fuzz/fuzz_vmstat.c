/* libFuzzer target: replies to `stats`, `block-stats` and `net-stats` as a
 * VM process (possibly another user's, possibly not vireo at all) could
 * send them to `vireo top` and `vireo metrics`.  The input is the reply
 * line; it is read as a stats reply and as both queue replies, then shown
 * every way top and metrics show it (against itself as the earlier
 * reading, and against nothing).  Nothing may crash, leak or read out of
 * bounds, and every byte printed must be printable ASCII (or a newline):
 * names and paths cannot reach a terminal or a scraper raw. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/metrics_fmt.h"
#include "cli/top_view.h"
#include "toolstack/vm_stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\n' && ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f))
            abort();
}

static void emit(void *ctx, const char *line)
{
    (void)ctx;
    printable(line, strlen(line));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vmstat a, b;
    static struct top_queues qa, qb;
    struct json_tokener *tok = json_tokener_new();
    struct json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)(size > 1 << 20 ? 1 << 20 : size));
    json_tokener_free(tok);
    if (!o)
        return 0;
    char err[256];
    int ra = vmstat_parse(o, &a, err, sizeof(err));
    int rb = top_queues_parse(o, o, &qa, err, sizeof(err));
    if (ra == 0) {
        b = a;
        b.time_ns += 1000000000;
        struct top_row rows[2];
        top_row_fill(&rows[0], &a, &b);
        top_row_fill(&rows[1], NULL, &a);
        char line[1024];
        for (int i = 0; i < 2; i++) {
            top_line(line, sizeof(line), &rows[i]);
            printable(line, strlen(line));
            struct json_object *j = top_row_json(&rows[i]);
            const char *js = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
            printable(js, strlen(js));
            json_object_put(j);
            qb = qa;
            top_detail(&rows[i], rb == 0 ? &qa : NULL, rb == 0 ? &qb : NULL, emit, NULL);
        }
        top_sort(rows, 2, TOP_SORT_LAT, true);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        if (f) {
            metrics_write(f, &a, 1, 0, 0);
            fclose(f);
            printable(text, len);
            free(text);
        }
    }
    json_object_put(o);
    return 0;
}

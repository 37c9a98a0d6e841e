/* What `vireo top` shows, apart from the terminal: each VM's line, the
 * detail of one VM's disks and queues, and the JSON of --json, computed
 * from two readings (toolstack/vm_stats.h).  Names and paths come from
 * the user (and the VM process): everything printed goes through
 * str_escape. */
#ifndef VIREO_CLI_TOP_VIEW_H
#define VIREO_CLI_TOP_VIEW_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "toolstack/vm_stats.h"

enum top_sort { TOP_SORT_ID, TOP_SORT_NAME, TOP_SORT_CPU, TOP_SORT_MEM, TOP_SORT_READ, TOP_SORT_WRITE,
                TOP_SORT_LAT, TOP_SORT_NET, TOP_SORT_N };

/* One VM over one interval. */
struct top_row {
    const struct vmstat *vm;        /* the later reading */
    struct vmstat_delta d;
    double cpu_pct;                 /* of one host CPU, as top and xentop */
    double rd_iops, rd_bps, wr_iops, wr_bps;
    double p50_us, p99_us;          /* every request of every disk in the interval */
    double rx_bps, tx_bps;
};

/* before: the same VM's earlier reading, or NULL (since it started). */
void top_row_fill(struct top_row *r, const struct vmstat *before, const struct vmstat *now);
void top_sort(struct top_row *rows, unsigned n, enum top_sort by, bool reverse);
/* "cpu" -> TOP_SORT_CPU...; -1 if unknown.  top_sort_name: the reverse. */
int top_sort_parse(const char *s);
const char *top_sort_name(enum top_sort s);

/* Lines without a newline; cut to len. */
void top_header(char *buf, size_t len);
void top_line(char *buf, size_t len, const struct top_row *r);
/* One VM's detail: the heading lines, then for each disk its total and
 * each queue (queues from a block-stats reading, may be NULL), for each
 * interface its total and each queue pair.  emit(line) is called per
 * line. */
struct top_queues {
    unsigned ndisks;
    unsigned nqueues[VM_MAX_DISKS];
    struct blk_qstats_snap q[VM_MAX_DISKS][16];
    unsigned nvifs;
    unsigned npairs[VM_MAX_NETS];
    struct vnet_stats p[VM_MAX_NETS][16];
};
/* The queues of a block-stats and a net-stats reply (either may be
 * NULL); -1 with err when one is malformed. */
int top_queues_parse(struct json_object *blk, struct json_object *net, struct top_queues *out, char *err,
                     size_t errlen);
void top_detail(const struct top_row *r, const struct top_queues *before, const struct top_queues *now,
                void (*emit)(void *ctx, const char *line), void *ctx);

/* --json: one VM over the interval, with the raw differences (requests,
 * bytes) next to the rates. */
struct json_object *top_row_json(const struct top_row *r);

#endif

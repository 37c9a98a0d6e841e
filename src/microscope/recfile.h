/* Recording files: CSV (one sample per line after a '#' header) or JSON
 * lines ({"type":"header"|"sample"|"counters"|"end",...}).  The reader
 * takes both, validates every field and reports file:line on errors. */
#ifndef VIREO_MS_RECFILE_H
#define VIREO_MS_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "microscope/sample.h"

enum ms_format { MS_FMT_CSV, MS_FMT_JSONL };

struct ms_header {
    uint64_t bucket_ns;
    uint64_t start_ns;          /* CLOCK_MONOTONIC at the start */
    uint64_t start_realtime_ns; /* CLOCK_REALTIME at the same moment */
    char host[64];
};

struct ms_trailer {
    uint64_t end_ns;
    uint64_t counters[MS_NR_COUNTERS];
    uint64_t missed;            /* program runs the kernel skipped (recursion) */
    bool present;
};

/* Chooses by file name: *.jsonl / *.json -> JSON lines, otherwise CSV. */
enum ms_format ms_format_for_path(const char *path);

struct ms_writer {
    FILE *f;
    enum ms_format fmt;
};

int ms_writer_begin(struct ms_writer *w, FILE *f, enum ms_format fmt, const struct ms_header *h);
int ms_writer_sample(struct ms_writer *w, const struct ms_sample *s);
int ms_writer_end(struct ms_writer *w, const struct ms_trailer *t);

typedef int (*ms_sample_cb)(void *arg, const struct ms_sample *s);

/* Reads a whole recording from memory.  On error returns -1 and writes
 * "NAME:LINE: what was expected" into err. */
int ms_read_buf(const char *buf, size_t len, const char *name, struct ms_header *h,
                struct ms_trailer *t, ms_sample_cb cb, void *arg, char *err, size_t errlen);
int ms_read_file(const char *path, struct ms_header *h, struct ms_trailer *t, ms_sample_cb cb,
                 void *arg, char *err, size_t errlen);

#endif

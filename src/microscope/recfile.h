/* Recording files: CSV (one sample per line after a '#' header) or JSON
 * lines ({"type":"header"|"sample"|"vm"|"end",...}).  The reader takes
 * both, validates every field and reports file:line on errors.  It holds
 * one line at a time (at most MS_MAX_LINE bytes), so what it is handed
 * costs no more memory than the samples it accepts. */
#ifndef VIREO_MS_RECFILE_H
#define VIREO_MS_RECFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "microscope/sample.h"

/* Far beyond a real line (under 1 KiB); a longer one is not a recording. */
#define MS_MAX_LINE 8192

enum ms_format { MS_FMT_CSV, MS_FMT_JSONL };

struct ms_header {
    uint64_t bucket_ns;
    uint64_t start_ns;          /* CLOCK_MONOTONIC when measuring began */
    uint64_t start_realtime_ns; /* CLOCK_REALTIME at the same moment */
    char host[64];
};

struct ms_trailer {
    uint64_t end_ns;            /* CLOCK_MONOTONIC when measuring ended */
    uint64_t counters[MS_NR_COUNTERS];
    uint64_t missed;            /* program runs the kernel skipped (recursion) */
    bool present;               /* false: the recording was cut short */
    bool cut_line;              /* its unfinished last line was dropped */
};

/* A Vireo VM's process, so `report --by vm` can put its threads together
 * without the host it was recorded on. */
struct ms_vm {
    uint64_t t_ns;              /* when the recorder first saw it */
    uint32_t pid;
    char name[MS_VM_NAME];
};

/* Chooses by file name: *.jsonl / *.json -> JSON lines, otherwise CSV. */
enum ms_format ms_format_for_path(const char *path);

struct ms_writer {
    FILE *f;
    enum ms_format fmt;
};

/* Names (task, device, host, VM) are written in their printable() form. */
int ms_writer_begin(struct ms_writer *w, FILE *f, enum ms_format fmt, const struct ms_header *h);
int ms_writer_sample(struct ms_writer *w, const struct ms_sample *s);
int ms_writer_vm(struct ms_writer *w, const struct ms_vm *vm);
int ms_writer_end(struct ms_writer *w, const struct ms_trailer *t);

typedef int (*ms_sample_cb)(void *arg, const struct ms_sample *s);
typedef int (*ms_vm_cb)(void *arg, const struct ms_vm *vm);

/* What the reader hands on; either callback may be NULL.  A callback's
 * negative return stops the reading ("out of memory"). */
struct ms_read_cbs {
    ms_sample_cb sample;
    ms_vm_cb vm;
    void *arg;
};

/* Reads a whole recording from memory.  On error returns -1 and writes
 * "NAME:LINE: what was expected" into err.  A last line without its
 * newline (the writer was killed while writing it) is dropped, and the
 * recording counts as cut short (t->present false, t->cut_line true). */
int ms_read_buf(const char *buf, size_t len, const char *name, struct ms_header *h, struct ms_trailer *t,
                const struct ms_read_cbs *cb, char *err, size_t errlen);
/* The same from a regular file, read in pieces up to the size it had when
 * opened (a recording still being written ends there).  Anything else (a
 * directory, a device such as /dev/zero, a FIFO) is refused by name. */
int ms_read_file(const char *path, struct ms_header *h, struct ms_trailer *t, const struct ms_read_cbs *cb,
                 char *err, size_t errlen);

#endif

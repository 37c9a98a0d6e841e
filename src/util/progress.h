/* A progress line for long copies (a sparse copy, a backup), on stderr and
 * only when stderr is a terminal: redrawn in place at most 5 times a
 * second, ended by a newline.  Elsewhere (a log, a pipe) it says nothing,
 * so scripts see only the result lines. */
#ifndef VIREO_UTIL_PROGRESS_H
#define VIREO_UTIL_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
    char what[160];
    uint64_t total, done;
    bool tty;
    bool drawn;
    uint64_t start_ns, last_ns;
};

/* total: the bytes the work will move (0: unknown). */
void progress_start(struct progress *p, const char *what, uint64_t total);
void progress_add(struct progress *p, uint64_t bytes);
/* Draws the final state and ends the line (if anything was drawn). */
void progress_end(struct progress *p);

#endif

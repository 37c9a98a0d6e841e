/* Counters with one writer (the thread that owns the data: a disk queue's
 * or a network queue pair's I/O thread) and readers on any thread.  The
 * writer adds with a relaxed load and store, which is a plain add on
 * x86-64: no locked instruction, no system call; readers load relaxed and
 * see each counter whole (never torn), possibly a few events behind. */
#ifndef VIREO_UTIL_STAT_COUNTER_H
#define VIREO_UTIL_STAT_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t stat_counter;

/* Only from the counter's one writer. */
static inline void stat_add(stat_counter *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void stat_inc(stat_counter *c)
{
    stat_add(c, 1);
}

static inline uint64_t stat_read(const stat_counter *c)
{
    return atomic_load_explicit((stat_counter *)c, memory_order_relaxed);
}

#endif

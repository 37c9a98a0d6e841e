/* The cheapest monotonic clock there is, for timing the data path: the
 * TSC read directly (rdtsc, no system call, no vDSO arithmetic) and scaled
 * to nanoseconds, where the kernel itself trusts the TSC (its clocksource
 * is "tsc": invariant, synchronized across CPUs); CLOCK_MONOTONIC
 * elsewhere.  Only differences between two readings mean anything: the
 * epoch is not CLOCK_MONOTONIC's. */
#ifndef VIREO_UTIL_MCLOCK_H
#define VIREO_UTIL_MCLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

struct mclock_cal {
    bool tsc;            /* readings are rdtsc scaled by mult >> 32 */
    uint64_t mult;       /* nanoseconds per TSC tick, times 2^32 */
};

extern struct mclock_cal mclock_cal;

/* Chooses the clock, once per process (later calls return at once): the
 * TSC is calibrated against CLOCK_MONOTONIC over 2 ms (a sleep, not a
 * spin).  VIREO_CLOCK=monotonic forces CLOCK_MONOTONIC (comparisons). */
void mclock_init(void);
/* "tsc" or "monotonic". */
const char *mclock_source(void);

static inline uint64_t mclock_monotonic_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Nanoseconds from an arbitrary epoch; before mclock_init, CLOCK_MONOTONIC. */
static inline uint64_t mclock_now(void)
{
#if defined(__x86_64__)
    if (__builtin_expect(mclock_cal.tsc, 1))
        return (uint64_t)(((unsigned __int128)__rdtsc() * mclock_cal.mult) >> 32);
#endif
    return mclock_monotonic_ns();
}

#endif

#include "util/mclock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mclock_cal mclock_cal;

#define CLOCKSOURCE "/sys/devices/system/clocksource/clocksource0/current_clocksource"

#if defined(__x86_64__)
/* One (TSC, CLOCK_MONOTONIC) pair: the monotonic reading bracketed by two
 * TSC readings, the tightest of a few tries (an interrupt or a preemption
 * between them widens the bracket). */
static void pair(uint64_t *tsc, uint64_t *ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 8; i++) {
        uint64_t a = __rdtsc();
        uint64_t m = mclock_monotonic_ns();
        uint64_t b = __rdtsc();
        if (b > a && b - a < best) {
            best = b - a;
            *tsc = a + (b - a) / 2;
            *ns = m;
        }
    }
}

static bool kernel_trusts_tsc(void)
{
    char buf[32] = "";
    FILE *f = fopen(CLOCKSOURCE, "re");
    if (!f)
        return false;
    bool ok = fgets(buf, sizeof(buf), f) && !strcmp(buf, "tsc\n");
    fclose(f);
    return ok;
}
#endif

static void init_once(void)
{
#if defined(__x86_64__)
    const char *want = getenv("VIREO_CLOCK");
    if ((want && !strcmp(want, "monotonic")) || !kernel_trusts_tsc())
        return;
    uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
    pair(&t0, &n0);
    nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    pair(&t1, &n1);
    if (t1 <= t0 || n1 <= n0)
        return;
    /* A bracket of ~50 ns at each end over 2 ms: the scale is right to a
     * few parts in 10^5, far below a log2 histogram's resolution. */
    mclock_cal.mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
    mclock_cal.tsc = mclock_cal.mult != 0;
#endif
}

void mclock_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_once);
}

const char *mclock_source(void)
{
    return mclock_cal.tsc ? "tsc" : "monotonic";
}

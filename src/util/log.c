#include "util/log.h"

#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LINE_MAX_BYTES 1024

static void vlog(const char *fmt, va_list ap)
{
    /* Build the whole line first so lines from several threads don't mix. */
    char line[LINE_MAX_BYTES];
    vsnprintf(line, sizeof(line), fmt, ap);
    fprintf(stderr, "vireo: %s\n", line);
}

void vlog_err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void vlog_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void vlog_debug(const char *fmt, ...)
{
    static int enabled = -1;
    if (enabled < 0)
        enabled = getenv("VIREO_DEBUG") != NULL;
    if (!enabled)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Whether this message goes out; *held is how many were held back before
 * it (reported with it). */
static bool ratelimit_pass(struct vlog_ratelimit *rl, unsigned *held)
{
    uint64_t now = now_ns();
    uint64_t interval = (uint64_t)(rl->interval_ms ? rl->interval_ms : VLOG_RATELIMIT_INTERVAL_MS) * 1000000ULL;
    unsigned burst = rl->burst ? rl->burst : VLOG_RATELIMIT_BURST;
    while (atomic_exchange_explicit(&rl->busy, true, memory_order_acquire))
        sched_yield();   /* the holder may have been preempted */
    if (!rl->window_start_ns || now - rl->window_start_ns >= interval) {
        rl->window_start_ns = now;
        rl->printed = 0;
    }
    bool pass = rl->printed < burst;
    *held = 0;
    if (pass) {
        rl->printed++;
        *held = rl->suppressed;
        rl->suppressed = 0;
    } else if (rl->suppressed < ~0u) {
        rl->suppressed++;
    }
    atomic_store_explicit(&rl->busy, false, memory_order_release);
    return pass;
}

void vlog_ratelimited(struct vlog_ratelimit *rl, const char *fmt, ...)
{
    unsigned held;
    if (!ratelimit_pass(rl, &held))
        return;
    char line[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (held)
        vlog_err("%s (%u similar messages suppressed before this one)", line, held);
    else
        vlog_err("%s", line);
}

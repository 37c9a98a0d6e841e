#ifndef VIREO_UTIL_LOG_H
#define VIREO_UTIL_LOG_H

#include <stdatomic.h>
#include <stdint.h>

/* One-line messages on stderr, prefixed "vireo: ". */
void vlog_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vlog_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Debug lines only when VIREO_DEBUG is set in the environment. */
void vlog_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Messages a guest (or a vhost-user front-end) can trigger at will, such as
 * a driver resetting a broken device in a loop, go through a limiter: one
 * per device and kind of message, so one device's flood hides no other's.
 * Each interval lets a burst of lines through; the first line let through
 * after some were held back says how many.  Zeroed is ready to use with
 * the defaults (Linux's printk_ratelimit: 10 lines per 5 s). */
#define VLOG_RATELIMIT_BURST       10
#define VLOG_RATELIMIT_INTERVAL_MS 5000

struct vlog_ratelimit {
    unsigned burst;            /* 0: VLOG_RATELIMIT_BURST */
    unsigned interval_ms;      /* 0: VLOG_RATELIMIT_INTERVAL_MS */
    atomic_bool busy;          /* guards the rest; held for a few instructions */
    uint64_t window_start_ns;
    unsigned printed;          /* in this window */
    unsigned suppressed;       /* since the last line let through */
};

void vlog_ratelimited(struct vlog_ratelimit *rl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

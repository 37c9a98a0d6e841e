#include "util/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/size.h"

#define REDRAW_NS 200000000ull

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

void progress_start(struct progress *p, const char *what, uint64_t total)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->what, sizeof(p->what), "%s", what);
    p->total = total;
    p->tty = isatty(STDERR_FILENO) == 1;
    p->start_ns = p->last_ns = now_ns();
}

static void draw(struct progress *p, uint64_t now)
{
    char done[32], total[32], rate[32];
    size_human(p->done, done, sizeof(done));
    double secs = (double)(now - p->start_ns) / 1e9;
    size_human(secs > 0.05 ? (uint64_t)((double)p->done / secs) : 0, rate, sizeof(rate));
    if (p->total) {
        size_human(p->total, total, sizeof(total));
        unsigned pct = (unsigned)(p->done >= p->total ? 100 : p->done * 100 / p->total);
        fprintf(stderr, "\r\033[Kvireo: %s: %s of %s (%u%%), %s/s", p->what, done, total, pct, rate);
    } else {
        fprintf(stderr, "\r\033[Kvireo: %s: %s, %s/s", p->what, done, rate);
    }
    fflush(stderr);
    p->drawn = true;
    p->last_ns = now;
}

void progress_add(struct progress *p, uint64_t bytes)
{
    p->done += bytes;
    if (!p->tty)
        return;
    uint64_t now = now_ns();
    if (now - p->last_ns >= REDRAW_NS)
        draw(p, now);
}

void progress_end(struct progress *p)
{
    if (!p->tty || !p->drawn)
        return;
    draw(p, now_ns());
    fputc('\n', stderr);
}

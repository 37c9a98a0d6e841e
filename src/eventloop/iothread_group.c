#include "eventloop/iothread_group.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int iothread_group_start(struct iothread_group *g, const char *prefix, unsigned nthreads, unsigned nqueues,
                         uint64_t poll_max_ns, const cpu_set_t *affinity, struct event_loop *main_loop)
{
    memset(g, 0, sizeof(*g));
    g->main = main_loop;
    g->poll_max_ns = poll_max_ns;
    if (nthreads > IOTHREAD_GROUP_MAX) {
        errno = EINVAL;
        return -1;
    }
    unsigned want = nthreads < nqueues ? nthreads : nqueues;
    for (unsigned i = 0; i < want; i++) {
        char name[16];
        snprintf(name, sizeof(name), "%.10s%u", prefix, i % 100u);
        if (iothread_start(&g->threads[i], name, poll_max_ns, affinity) < 0) {
            int e = errno;
            iothread_group_stop(g);
            errno = e;
            return -1;
        }
        g->n = i + 1;
    }
    return 0;
}

struct event_loop *iothread_group_loop(struct iothread_group *g, unsigned i)
{
    return g->n ? &g->threads[i % g->n].loop : g->main;
}

void iothread_group_loops(struct iothread_group *g, struct event_loop **loops, unsigned nqueues)
{
    for (unsigned i = 0; i < nqueues; i++)
        loops[i] = iothread_group_loop(g, i);
}

void iothread_group_describe(const struct iothread_group *g, char *buf, size_t len)
{
    if (g->n)
        snprintf(buf, len, "%u I/O thread%s, poll %llu us", g->n, g->n > 1 ? "s" : "",
                 (unsigned long long)(g->poll_max_ns / 1000));
    else
        snprintf(buf, len, "the main loop");
}

unsigned iothread_group_tids(const struct iothread_group *g, int *tids, unsigned max)
{
    for (unsigned i = 0; i < g->n && i < max; i++)
        tids[i] = atomic_load(&g->threads[i].tid);
    return g->n;
}

void iothread_group_stop(struct iothread_group *g)
{
    for (unsigned i = 0; i < g->n; i++)
        iothread_stop(&g->threads[i]);
    g->n = 0;
}

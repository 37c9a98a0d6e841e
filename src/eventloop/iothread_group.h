/* The I/O threads of one device and which of them serves each queue: the
 * one piece of code that starts I/O threads for disks and network
 * interfaces alike.  The assembling layer (vm_disks.c, vm_nets.c, `vireo
 * disk serve`) starts a group and hands each device model the event loop
 * of every queue; device models never start threads themselves. */
#ifndef VIREO_IOTHREAD_IOTHREAD_GROUP_H
#define VIREO_IOTHREAD_IOTHREAD_GROUP_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "eventloop/iothread.h"

#define IOTHREAD_GROUP_MAX 16

struct iothread_group {
    unsigned n;                /* threads running; 0: the main loop serves every queue */
    struct iothread threads[IOTHREAD_GROUP_MAX];
    struct event_loop *main;
    uint64_t poll_max_ns;
};

/* Starts min(nthreads, nqueues) threads (more would idle) named prefix0,
 * prefix1, ..., busy-polling up to poll_max_ns, restricted to affinity
 * when not NULL.  With nthreads 0 nothing starts and main_loop serves the
 * queues.  -1 with errno (the threads started are stopped again). */
int iothread_group_start(struct iothread_group *g, const char *prefix, unsigned nthreads, unsigned nqueues,
                         uint64_t poll_max_ns, const cpu_set_t *affinity, struct event_loop *main_loop);
/* The loop serving queue i: thread i mod n, so queues spread evenly. */
struct event_loop *iothread_group_loop(struct iothread_group *g, unsigned i);
/* loops[i] = iothread_group_loop(g, i) for i < nqueues. */
void iothread_group_loops(struct iothread_group *g, struct event_loop **loops, unsigned nqueues);
/* "2 I/O threads, poll 32 us" or "the main loop", for log lines. */
void iothread_group_describe(const struct iothread_group *g, char *buf, size_t len);
/* The threads' ids (0 for one not yet running), at most max; returns how
 * many threads there are (0: the main loop serves the queues). */
unsigned iothread_group_tids(const struct iothread_group *g, int *tids, unsigned max);
/* Stops and joins the threads; what ran on them must be gone. */
void iothread_group_stop(struct iothread_group *g);

#endif

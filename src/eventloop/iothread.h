/* A dedicated I/O thread: one event loop on its own thread, where the
 * virtqueues assigned to it are served (QEMU's -object iothread). */
#ifndef VIREO_IOTHREAD_IOTHREAD_H
#define VIREO_IOTHREAD_IOTHREAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>

#include "eventloop/event_loop.h"

struct iothread {
    struct event_loop loop;
    pthread_t thread;
    bool running;
    bool stop;                 /* set inside the loop by iothread_stop */
    char name[16];
    _Atomic int tid;           /* its thread id once it runs (tools attribute host I/O by it) */
};

/* Starts the thread, busy-polling up to poll_max_ns before it sleeps (0:
 * never); -1 with errno on failure. */
/* affinity: the host CPUs the thread may run on, set before it runs
 * (NULL: anywhere). */
int iothread_start(struct iothread *t, const char *name, uint64_t poll_max_ns, const cpu_set_t *affinity);
/* Stops and joins it; what runs on it must have been removed first. */
void iothread_stop(struct iothread *t);

#endif

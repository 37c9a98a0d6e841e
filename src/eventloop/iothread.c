#include "eventloop/iothread.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "confine/seccomp.h"

static void *iothread_main(void *arg)
{
    struct iothread *t = arg;
    atomic_store(&t->tid, (int)gettid());
    confine_thread(CONFINE_IOTHREAD, t->name);
    while (!t->stop)
        if (event_loop_run_once(&t->loop, -1) < 0)
            break;
    return NULL;
}

int iothread_start(struct iothread *t, const char *name, uint64_t poll_max_ns, const cpu_set_t *affinity)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    if (event_loop_init(&t->loop) < 0)
        return -1;
    t->loop.poll_max_ns = poll_max_ns;
    /* Signals belong to the main thread (its signalfd) and the vCPUs; not
     * the faults this thread's own accesses raise: blocked, those kill the
     * process outright, where a handler must run (the vhost-user SIGBUS
     * guard, a sanitizer's report, the seccomp filter's SIGSYS line). */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGFPE);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    if (affinity)
        pthread_attr_setaffinity_np(&attr, sizeof(*affinity), affinity);
    int err = pthread_create(&t->thread, &attr, iothread_main, t);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        event_loop_destroy(&t->loop);
        errno = err;
        return -1;
    }
    /* Set here, not in the thread: callers may event_loop_call() as soon as
     * we return. */
    t->loop.owner = t->thread;
    t->loop.owner_set = true;
    t->running = true;
    return 0;
}

static void set_stop(void *arg)
{
    ((struct iothread *)arg)->stop = true;
}

void iothread_stop(struct iothread *t)
{
    if (!t->running)
        return;
    event_loop_call(&t->loop, set_stop, t);
    pthread_join(t->thread, NULL);
    event_loop_destroy(&t->loop);
    t->running = false;
}

/* The fallback engine: worker threads doing blocking preadv/pwritev/
 * fdatasync/fallocate, handing results back to the loop via an eventfd.
 * Used where io_uring is unavailable (old kernels, seccomp, sysctl). */
#include "block/aio_impl.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "confine/seccomp.h"

#define WORKERS 4

struct threads_engine {
    struct aio_engine base;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct aio_req *todo, **todo_tail;
    struct aio_req *done;
    bool stop;
    int efd;
    struct el_watch watch;
    unsigned nworkers;
    pthread_t workers[WORKERS];
};

static void *worker(void *arg)
{
    struct threads_engine *t = arg;
    confine_thread(CONFINE_AIO_WORKER, "vireo-aio");
    pthread_mutex_lock(&t->lock);
    for (;;) {
        while (!t->todo && !t->stop)
            pthread_cond_wait(&t->cond, &t->lock);
        if (t->stop)
            break;
        struct aio_req *r = t->todo;
        t->todo = r->next;
        if (!t->todo)
            t->todo_tail = &t->todo;
        pthread_mutex_unlock(&t->lock);
        aio_req_run_sync(r);
        pthread_mutex_lock(&t->lock);
        r->next = t->done;
        t->done = r;
        uint64_t one = 1;
        (void)!write(t->efd, &one, sizeof(one));
    }
    pthread_mutex_unlock(&t->lock);
    return NULL;
}

static void complete(void *opaque, uint32_t events)
{
    (void)events;
    struct threads_engine *t = opaque;
    uint64_t v;
    if (read(t->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&t->lock);
    struct aio_req *list = t->done;
    t->done = NULL;
    pthread_mutex_unlock(&t->lock);
    /* Completion order does not matter to virtio; reversing is cheap. */
    while (list) {
        struct aio_req *r = list;
        list = r->next;
        r->done(r);
    }
    aio_batch_end(&t->base);
}

static void threads_submit(struct aio_engine *e, struct aio_req *r)
{
    struct threads_engine *t = (struct threads_engine *)e;
    r->next = NULL;
    pthread_mutex_lock(&t->lock);
    *t->todo_tail = r;
    t->todo_tail = &r->next;
    pthread_cond_signal(&t->cond);
    pthread_mutex_unlock(&t->lock);
}

static void threads_flush(struct aio_engine *e)
{
    (void)e;
}

static void threads_free(struct aio_engine *e)
{
    struct threads_engine *t = (struct threads_engine *)e;
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    for (unsigned i = 0; i < t->nworkers; i++)
        pthread_join(t->workers[i], NULL);
    event_loop_del(e->loop, &t->watch);
    close(t->efd);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
}

static const struct aio_engine_ops threads_ops = {
    .name = "threads", .submit = threads_submit, .flush = threads_flush, .free = threads_free,
};

struct aio_engine *aio_threads_new(struct event_loop *loop, char *why, size_t why_len)
{
    struct threads_engine *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(why, why_len, "out of memory");
        return NULL;
    }
    t->base.ops = &threads_ops;
    t->base.loop = loop;
    t->todo_tail = &t->todo;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->efd < 0 || event_loop_add(loop, &t->watch, t->efd, EPOLLIN, complete, t) < 0) {
        snprintf(why, why_len, "eventfd: %s", strerror(errno));
        if (t->efd >= 0)
            close(t->efd);
        free(t);
        return NULL;
    }
    /* The loop's thread takes the signals; the workers only their own
     * faults and the seccomp filter's SIGSYS. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGSYS);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (unsigned i = 0; i < WORKERS; i++) {
        if (pthread_create(&t->workers[i], NULL, worker, t) != 0)
            break;
        t->nworkers++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!t->nworkers) {
        snprintf(why, why_len, "cannot start I/O worker threads");
        threads_free(&t->base);
        return NULL;
    }
    return &t->base;
}

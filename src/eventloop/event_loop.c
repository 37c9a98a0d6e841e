#include "eventloop/event_loop.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define POLL_GROW_START_NS 4000

struct el_call {
    void (*fn)(void *);
    void *arg;
    bool done;
    pthread_cond_t cond;
    struct el_call *next;
};

static void run_calls(void *opaque, uint32_t events)
{
    (void)events;
    struct event_loop *l = opaque;
    uint64_t v;
    if (read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        return;
    pthread_mutex_lock(&l->lock);
    while (l->calls) {
        struct el_call *c = l->calls;
        l->calls = c->next;
        pthread_mutex_unlock(&l->lock);
        c->fn(c->arg);
        pthread_mutex_lock(&l->lock);
        c->done = true;
        pthread_cond_signal(&c->cond);
    }
    /* Posts queued by now; later ones wrote the eventfd again. */
    struct el_post *p = l->posts;
    l->posts = NULL;
    l->posts_tail = &l->posts;
    pthread_mutex_unlock(&l->lock);
    while (p) {
        struct el_post *next = p->next;
        p->fn(p->arg);
        p = next;
    }
}

int event_loop_init(struct event_loop *l)
{
    memset(l, 0, sizeof(*l));
    l->wake_fd = -1;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0)
        return -1;
    l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (l->wake_fd < 0) {
        close(l->epfd);
        return -1;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->posts_tail = &l->posts;
    return event_loop_add(l, &l->wake_watch, l->wake_fd, EPOLLIN, run_calls, l);
}

void event_loop_destroy(struct event_loop *l)
{
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wake_fd >= 0)
        close(l->wake_fd);
    pthread_mutex_destroy(&l->lock);
    l->epfd = l->wake_fd = -1;
}

void event_loop_set_owner(struct event_loop *l)
{
    l->owner = pthread_self();
    l->owner_set = true;
}

bool event_loop_is_owner(const struct event_loop *l)
{
    return l->owner_set && pthread_equal(l->owner, pthread_self());
}

bool event_loop_polling(const struct event_loop *l)
{
    return l->polling;
}

int event_loop_add(struct event_loop *l, struct el_watch *w, int fd, uint32_t events,
                   el_handler_fn fn, void *opaque)
{
    w->fd = fd;
    w->fn = fn;
    w->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev);
}

int event_loop_mod(struct event_loop *l, struct el_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void event_loop_del(struct event_loop *l, struct el_watch *w)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    l->generation++;
}

void event_loop_add_poller(struct event_loop *l, struct el_poller *p)
{
    p->next = l->pollers;
    l->pollers = p;
}

void event_loop_del_poller(struct event_loop *l, struct el_poller *p)
{
    for (struct el_poller **q = &l->pollers; *q; q = &(*q)->next) {
        if (*q == p) {
            *q = p->next;
            break;
        }
    }
    l->generation++;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* Spins up to l->poll_ns; true if a poller found work. */
static bool poll_window(struct event_loop *l)
{
    unsigned gen = l->generation;
    l->polling = true;
    for (struct el_poller *p = l->pollers; p; p = p->next)
        if (p->begin)
            p->begin(p->opaque);
    bool progress = false;
    uint64_t start = now_ns();
    do {
        for (struct el_poller *p = l->pollers; p && l->generation == gen; p = p->next)
            progress |= p->poll(p->opaque);
    } while (!progress && l->generation == gen && now_ns() - start < l->poll_ns);
    l->polling = false;
    for (struct el_poller *p = l->pollers; p && l->generation == gen; p = p->next)
        if (p->end && p->end(p->opaque))
            progress = true;
    return progress;
}

/* Grows the window while sleeps are short enough that polling would have
 * caught the event, shrinks it when they are long (QEMU's heuristic). */
static void adapt(struct event_loop *l, uint64_t block_ns)
{
    if (block_ns <= l->poll_ns)
        return;
    if (block_ns > l->poll_max_ns) {
        l->poll_ns /= 2;
        if (l->poll_ns < POLL_GROW_START_NS)
            l->poll_ns = 0;
    } else {
        l->poll_ns = l->poll_ns ? l->poll_ns * 2 : POLL_GROW_START_NS;
        if (l->poll_ns > l->poll_max_ns)
            l->poll_ns = l->poll_max_ns;
    }
}

int event_loop_run_once(struct event_loop *l, int timeout_ms)
{
    struct epoll_event evs[32];
    uint64_t start = 0;
    if (timeout_ms != 0 && l->poll_max_ns && l->pollers) {
        start = now_ns();
        if (l->poll_ns && poll_window(l))
            timeout_ms = 0;
    }
    int n = epoll_wait(l->epfd, evs, 32, timeout_ms);
    if (start)
        adapt(l, now_ns() - start);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    unsigned gen = l->generation;
    for (int i = 0; i < n; i++) {
        /* A handler removed a watch: the rest of this batch may point at
         * it.  Level triggering reports the others again. */
        if (l->generation != gen)
            break;
        struct el_watch *w = evs[i].data.ptr;
        w->fn(w->opaque, evs[i].events);
    }
    return 0;
}

void event_loop_call(struct event_loop *l, void (*fn)(void *), void *arg)
{
    if (event_loop_is_owner(l)) {
        fn(arg);
        return;
    }
    struct el_call c = {.fn = fn, .arg = arg};
    pthread_cond_init(&c.cond, NULL);
    pthread_mutex_lock(&l->lock);
    struct el_call **p = &l->calls;
    while (*p)
        p = &(*p)->next;
    *p = &c;
    uint64_t one = 1;
    /* An eventfd write only fails on counter overflow, which needs 2^64
     * unread wakeups. */
    (void)!write(l->wake_fd, &one, sizeof(one));
    while (!c.done)
        pthread_cond_wait(&c.cond, &l->lock);
    pthread_mutex_unlock(&l->lock);
    pthread_cond_destroy(&c.cond);
}

void event_loop_post(struct event_loop *l, struct el_post *p)
{
    p->next = NULL;
    pthread_mutex_lock(&l->lock);
    *l->posts_tail = p;
    l->posts_tail = &p->next;
    pthread_mutex_unlock(&l->lock);
    uint64_t one = 1;
    (void)!write(l->wake_fd, &one, sizeof(one));
}

/* A small epoll event loop, one per thread that serves devices: the main
 * thread has one and so has each I/O thread (the role of QEMU's
 * AioContext).  Device state is touched only by the thread whose loop owns
 * it; other threads reach it through event_loop_call(), which runs a
 * function inside the loop and waits for it. */
#ifndef VIREO_IOTHREAD_EVENT_LOOP_H
#define VIREO_IOTHREAD_EVENT_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*el_handler_fn)(void *opaque, uint32_t events);

/* Storage for one watched fd, owned by the caller, live until removed. */
struct el_watch {
    int fd;
    el_handler_fn fn;
    void *opaque;
};

struct el_call;

/* A function to run on a loop later (event_loop_post): the caller's
 * storage, untouched by the caller until fn runs. */
struct el_post {
    void (*fn)(void *arg);
    void *arg;
    struct el_post *next;      /* private */
};

/* Busy-polling instead of sleeping (QEMU's iothread poll-max-ns): before
 * blocking, the loop spins up to poll_ns calling each poller's poll(),
 * which does any work it finds and says whether it did.  While polling,
 * sources may stop notifying (begin); end must re-arm them and itself do
 * whatever arrived meanwhile (its notification is lost), saying whether it
 * did. */
struct el_poller {
    bool (*poll)(void *opaque);
    void (*begin)(void *opaque);
    bool (*end)(void *opaque);
    void *opaque;
    struct el_poller *next;
};

struct event_loop {
    int epfd;
    int wake_fd;               /* eventfd: a call is queued */
    struct el_watch wake_watch;
    pthread_mutex_t lock;      /* guards calls and posts */
    struct el_call *calls;
    struct el_post *posts, **posts_tail;
    pthread_t owner;
    bool owner_set;
    unsigned generation;       /* bumped by removals: stale events are skipped */
    struct el_poller *pollers;
    uint64_t poll_max_ns;      /* 0: never poll */
    uint64_t poll_ns;          /* current window, adapted to the load */
    bool polling;              /* inside a polling window */
};

int event_loop_init(struct event_loop *l);
void event_loop_destroy(struct event_loop *l);
/* The calling thread becomes the loop's owner (calls from it run inline). */
void event_loop_set_owner(struct event_loop *l);
/* Whether the calling thread is the one running l. */
bool event_loop_is_owner(const struct event_loop *l);
/* Whether l is inside a polling window, where sources stay silent and
 * pollers look for work themselves (see el_poller). */
bool event_loop_polling(const struct event_loop *l);

/* Level-triggered watches (EPOLLIN etc.); only from the owner thread, or
 * before the loop runs. */
int event_loop_add(struct event_loop *l, struct el_watch *w, int fd, uint32_t events,
                   el_handler_fn fn, void *opaque);
int event_loop_mod(struct event_loop *l, struct el_watch *w, uint32_t events);
void event_loop_del(struct event_loop *l, struct el_watch *w);

/* Pollers are added and removed on the owner thread. */
void event_loop_add_poller(struct event_loop *l, struct el_poller *p);
void event_loop_del_poller(struct event_loop *l, struct el_poller *p);

/* Waits up to timeout_ms (-1: forever) and runs what is ready; -1 on an
 * epoll failure other than EINTR. */
int event_loop_run_once(struct event_loop *l, int timeout_ms);

/* Runs fn(arg) in the loop's thread and returns once it has run.  From the
 * owner thread it runs at once. */
void event_loop_call(struct event_loop *l, void (*fn)(void *), void *arg);

/* Has p->fn(p->arg) run on the loop's thread soon, without waiting for it
 * (a completion handed from one I/O thread to another, which must never
 * block on each other): from any thread, the owner's too (then it runs on
 * a later turn, never inside this call).  Posts run in order.  p must not
 * be posted again before its fn has started. */
void event_loop_post(struct event_loop *l, struct el_post *p);

#endif

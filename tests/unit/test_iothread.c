/* I/O threads start pinned when asked: they never run on another CPU; they
 * take no asynchronous signals, but the faults of their own accesses.  A
 * group spreads queues over its threads, never starts more threads than
 * queues, and leaves them to the main loop with none.  A post from
 * another thread runs on the loop's, in order, without its poster
 * waiting; from the loop's own thread it runs later, never inline. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <string.h>

#include "eventloop/iothread.h"
#include "eventloop/iothread_group.h"

struct seen {
    cpu_set_t affinity;
    int cpu;
};

static void look(void *arg)
{
    struct seen *s = arg;
    pthread_getaffinity_np(pthread_self(), sizeof(s->affinity), &s->affinity);
    s->cpu = sched_getcpu();
}

static void pinned_from_the_start(void **state)
{
    (void)state;
    cpu_set_t mine;
    assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
    /* The highest CPU we may use: on a multi-CPU host not where the test
     * itself usually runs, so an unpinned thread would show. */
    int target = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &mine))
            target = c;
    assert_true(target >= 0);
    cpu_set_t want;
    CPU_ZERO(&want);
    CPU_SET(target, &want);
    struct iothread t;
    assert_int_equal(iothread_start(&t, "pin-test", 0, &want), 0);
    struct seen s;
    event_loop_call(&t.loop, look, &s);
    iothread_stop(&t);
    assert_true(CPU_EQUAL(&s.affinity, &want));
    assert_int_equal(s.cpu, target);
}

static void unpinned_keeps_ours(void **state)
{
    (void)state;
    cpu_set_t mine;
    assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
    struct iothread t;
    assert_int_equal(iothread_start(&t, "free-test", 0, NULL), 0);
    struct seen s;
    event_loop_call(&t.loop, look, &s);
    iothread_stop(&t);
    assert_true(CPU_EQUAL(&s.affinity, &mine));
}

static void mask_of(void *arg)
{
    pthread_sigmask(SIG_BLOCK, NULL, arg);
}

/* A blocked SIGBUS or SIGSEGV from a fault kills the process without
 * running any handler: the vhost-user SIGBUS guard must run on the I/O
 * thread that reads a ring a front-end took away (issue 14). */
static void faults_not_blocked(void **state)
{
    (void)state;
    struct iothread t;
    assert_int_equal(iothread_start(&t, "mask-test", 0, NULL), 0);
    sigset_t m;
    event_loop_call(&t.loop, mask_of, &m);
    iothread_stop(&t);
    static const int faults[] = {SIGBUS, SIGSEGV, SIGFPE, SIGILL};
    for (unsigned i = 0; i < 4; i++)
        if (sigismember(&m, faults[i]))
            fail_msg("I/O thread blocks %s", strsignal(faults[i]));
    static const int others[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGCHLD, SIGPIPE};
    for (unsigned i = 0; i < 6; i++)
        assert_true(sigismember(&m, others[i]));
}

struct who {
    struct event_loop *loop;
    bool owner;
    char name[16];
};

static void whoami(void *arg)
{
    struct who *w = arg;
    w->owner = event_loop_is_owner(w->loop);
    pthread_getname_np(pthread_self(), w->name, sizeof(w->name));
}

static void group_spreads_queues(void **state)
{
    (void)state;
    struct event_loop main_loop;
    assert_int_equal(event_loop_init(&main_loop), 0);
    struct iothread_group g;
    assert_int_equal(iothread_group_start(&g, "grp", 2, 5, 4000, NULL, &main_loop), 0);
    assert_int_equal(g.n, 2);
    struct event_loop *loops[5];
    iothread_group_loops(&g, loops, 5);
    for (unsigned i = 0; i < 5; i++) {
        assert_ptr_equal(loops[i], &g.threads[i % 2].loop);
        struct who w = {.loop = loops[i]};
        event_loop_call(loops[i], whoami, &w);
        assert_true(w.owner);
        assert_string_equal(w.name, i % 2 ? "grp1" : "grp0");
        assert_false(event_loop_is_owner(loops[i]));
    }
    char d[64];
    iothread_group_describe(&g, d, sizeof(d));
    assert_string_equal(d, "2 I/O threads, poll 4 us");
    iothread_group_stop(&g);
    assert_int_equal(g.n, 0);

    /* More threads than queues would idle. */
    assert_int_equal(iothread_group_start(&g, "grp", 4, 1, 0, NULL, &main_loop), 0);
    assert_int_equal(g.n, 1);
    iothread_group_stop(&g);

    assert_int_equal(iothread_group_start(&g, "grp", 0, 3, 0, NULL, &main_loop), 0);
    for (unsigned i = 0; i < 3; i++)
        assert_ptr_equal(iothread_group_loop(&g, i), &main_loop);
    iothread_group_describe(&g, d, sizeof(d));
    assert_string_equal(d, "the main loop");
    iothread_group_stop(&g);
    assert_int_equal(iothread_group_start(&g, "grp", IOTHREAD_GROUP_MAX + 1, 20, 0, NULL, &main_loop), -1);
    event_loop_destroy(&main_loop);
}

struct posted {
    struct el_post p;
    struct event_loop *loop;
    int *order;
    int *n;
    int id;
    bool on_loop;
};

static void posted_run(void *arg)
{
    struct posted *x = arg;
    x->on_loop = event_loop_is_owner(x->loop);
    x->order[(*x->n)++] = x->id;
}

static void *post_from_thread(void *arg)
{
    struct posted *x = arg;
    for (int i = 0; i < 3; i++)
        event_loop_post(x[i].loop, &x[i].p);
    return NULL;
}

static void posts_run_later_in_order(void **state)
{
    (void)state;
    struct event_loop l;
    assert_int_equal(event_loop_init(&l), 0);
    event_loop_set_owner(&l);
    int order[5] = {0}, n = 0;
    struct posted x[4];
    for (int i = 0; i < 4; i++)
        x[i] = (struct posted){.p = {posted_run, &x[i], NULL}, .loop = &l, .order = order, .n = &n, .id = i + 1};
    /* The poster does not wait: the loop is not turning meanwhile. */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, post_from_thread, x), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(n, 0);
    event_loop_post(&l, &x[3].p);
    assert_int_equal(n, 0);   /* not inline on the owner's thread */
    for (int i = 0; i < 10 && n < 4; i++)
        event_loop_run_once(&l, 100);
    assert_int_equal(n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(order[i], i + 1);
        assert_true(x[i].on_loop);
    }
    /* Storage may be posted again once its function ran. */
    event_loop_post(&l, &x[0].p);
    event_loop_run_once(&l, 100);
    assert_int_equal(n, 5);
    event_loop_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_from_the_start),
        cmocka_unit_test(unpinned_keeps_ours),
        cmocka_unit_test(faults_not_blocked),
        cmocka_unit_test(group_spreads_queues),
        cmocka_unit_test(posts_run_later_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* I/O threads start pinned when asked: they never run on another CPU. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "iothread/iothread.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pinned_from_the_start),
        cmocka_unit_test(unpinned_keeps_ours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

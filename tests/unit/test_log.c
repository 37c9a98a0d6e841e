/* The rate limit for messages a guest can trigger at will. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "util/log.h"

/* stderr goes to a file while a test speaks; lines() reads it back. */
static FILE *cap;
static int saved_stderr = -1;

static void capture(void)
{
    cap = tmpfile();
    assert_non_null(cap);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    assert_true(dup2(fileno(cap), STDERR_FILENO) >= 0);
}

/* Restores stderr; returns the captured lines (at most max) in out. */
static unsigned lines(char out[][256], unsigned max)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    rewind(cap);
    unsigned n = 0;
    char line[256];
    while (fgets(line, sizeof(line), cap)) {
        if (n < max)
            snprintf(out[n], 256, "%s", line);
        n++;
    }
    fclose(cap);
    return n;
}

static void sleep_ms(unsigned ms)
{
    struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&t, NULL);
}

static void burst_then_silence(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {.interval_ms = 60000};
    char out[32][256];
    capture();
    for (int i = 0; i < 25; i++)
        vlog_ratelimited(&rl, "dev: broken %d", i);
    unsigned n = lines(out, 32);
    assert_int_equal(n, VLOG_RATELIMIT_BURST);
    assert_string_equal(out[0], "vireo: dev: broken 0\n");
    assert_string_equal(out[VLOG_RATELIMIT_BURST - 1], "vireo: dev: broken 9\n");
}

/* The first line of a new interval says how many were held back. */
static void summary_in_the_next_interval(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {.burst = 3, .interval_ms = 50};
    char out[8][256];
    capture();
    for (int i = 0; i < 20; i++)
        vlog_ratelimited(&rl, "x %d", i);
    sleep_ms(80);
    vlog_ratelimited(&rl, "after");
    vlog_ratelimited(&rl, "after again");
    unsigned n = lines(out, 8);
    assert_int_equal(n, 5);
    assert_string_equal(out[2], "vireo: x 2\n");
    assert_string_equal(out[3], "vireo: after (17 similar messages suppressed before this one)\n");
    assert_string_equal(out[4], "vireo: after again\n");
}

/* One device's flood does not silence another's messages. */
static void limiters_are_independent(void **state)
{
    (void)state;
    struct vlog_ratelimit a = {.interval_ms = 60000}, b = {.interval_ms = 60000};
    char out[32][256];
    capture();
    for (int i = 0; i < 1000; i++)
        vlog_ratelimited(&a, "a");
    vlog_ratelimited(&b, "b");
    unsigned n = lines(out, 32);
    assert_int_equal(n, VLOG_RATELIMIT_BURST + 1);
    assert_string_equal(out[n - 1], "vireo: b\n");
}

#define THREADS 4
#define CALLS   5000

static void *hammer(void *arg)
{
    for (int i = 0; i < CALLS; i++)
        vlog_ratelimited(arg, "t");
    return NULL;
}

/* Threads (a device's I/O threads and vCPUs) share one limiter: the count
 * stays exact. */
static void threads_share_a_limiter(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {.burst = 5, .interval_ms = 60000};
    char out[16][256];
    capture();
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &rl), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    rl.window_start_ns = 0;   /* as if the interval were over, without waiting a minute */
    vlog_ratelimited(&rl, "end");
    unsigned n = lines(out, 16);
    assert_int_equal(n, 6);
    char want[256];
    snprintf(want, sizeof(want), "vireo: end (%u similar messages suppressed before this one)\n", THREADS * CALLS - 5);
    assert_string_equal(out[5], want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_silence),
        cmocka_unit_test(summary_in_the_next_interval),
        cmocka_unit_test(limiters_are_independent),
        cmocka_unit_test(threads_share_a_limiter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

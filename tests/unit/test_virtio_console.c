/* The virtio console's device model against a driver played by the test
 * (tests/common/vq_driver): output reaches the descriptor whole and in
 * order, and only as fast as its reader takes it; input fills the guest's
 * receive buffers; chains of the wrong direction and a reader that went
 * away are counted, never fatal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtio/console.h"
#include "vq_driver.h"

enum { RXQ, TXQ };

struct fx {
    struct vqd d;
    struct vcons *c;
    int out[2];   /* the device writes out[1]; the test reads out[0] */
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    vqd_init(&f->d);
    assert_int_equal(pipe2(f->out, O_CLOEXEC), 0);
    char err[128];
    f->c = vcons_new("console test", f->out[1], &f->d.loop, err, sizeof(err));
    assert_non_null(f->c);
    assert_int_equal(vcons_dev(f->c)->device_id, VIRTIO_ID_CONSOLE);
    assert_int_equal(vcons_dev(f->c)->num_queues, 2);
    vqd_attach(&f->d, vcons_dev(f->c), 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    vqd_detach(&f->d);
    vcons_free(f->c);
    vqd_fini(&f->d);
    close(f->out[0]);
    if (f->out[1] >= 0)
        close(f->out[1]);
    free(f);
    return 0;
}

static struct vcons_counters counters(struct fx *f)
{
    struct vcons_counters c;
    vcons_get_counters(f->c, &c);
    return c;
}

/* What the test's end of the output pipe holds now. */
static size_t drain(struct fx *f, uint8_t *buf, size_t max)
{
    int fl = fcntl(f->out[0], F_GETFL);
    fcntl(f->out[0], F_SETFL, fl | O_NONBLOCK);
    size_t have = 0;
    ssize_t r;
    while (have < max && (r = read(f->out[0], buf + have, max - have)) > 0)
        have += (size_t)r;
    fcntl(f->out[0], F_SETFL, fl);
    return have;
}

static uint64_t put(struct fx *f, const void *data, size_t len)
{
    uint64_t g = vqd_alloc(&f->d, len);
    memcpy(vqd_gpa(&f->d, g), data, len);
    return g;
}

/* A chain of two readable segments comes out as one text, and the chain
 * goes back to the driver with an interrupt. */
static void output_reaches_the_descriptor(void **state)
{
    struct fx *f = *state;
    struct vqd_seg s[2] = {{put(f, "hello, ", 7), 7, false}, {put(f, "world\n", 6), 6, false}};
    vqd_post(&f->d, TXQ, s, 2);
    vqd_spin(&f->d, 3, 10);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 1);
    assert_true(f->d.notified > 0);
    uint8_t got[64];
    assert_int_equal(drain(f, got, sizeof(got)), 13);
    assert_memory_equal(got, "hello, world\n", 13);
    assert_int_equal(counters(f).tx_bytes, 13);
    assert_int_equal(f->d.broken, 0);
}

/* A reader that is behind holds the guest back: while the pipe is full the
 * chain stays with the device; once it drains, the rest follows in order
 * without another kick (the retry timer). */
static void output_waits_for_its_reader(void **state)
{
    struct fx *f = *state;
    /* Fill the pipe through a second description of it, non-blocking. */
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", f->out[1]);
    int w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    assert_true(w >= 0);
    static uint8_t filler[4096];
    size_t filled = 0;
    ssize_t r;
    while ((r = write(w, filler, sizeof(filler))) > 0)
        filled += (size_t)r;
    assert_int_equal(errno, EAGAIN);
    close(w);
    static uint8_t text[20000];
    for (size_t i = 0; i < sizeof(text); i++)
        text[i] = (uint8_t)('a' + i % 26);
    struct vqd_seg s = {put(f, text, sizeof(text)), sizeof(text), false};
    vqd_post(&f->d, TXQ, &s, 1);
    vqd_spin(&f->d, 3, 10);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 0);   /* held: the pipe is full */
    static uint8_t got[(4 << 20) + sizeof(text)];   /* more than any pipe holds */
    size_t have = 0;
    for (int turns = 0; turns < 2000 && vqd_used_idx(&f->d, TXQ) == 0; turns++) {
        have += drain(f, got + have, sizeof(got) - have);
        vqd_spin(&f->d, 1, 10);
    }
    have += drain(f, got + have, sizeof(got) - have);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 1);
    assert_int_equal(have, filled + sizeof(text));
    assert_memory_equal(got + filled, text, sizeof(text));
    assert_int_equal(counters(f).tx_bytes, sizeof(text));
}

/* Writable buffers on the transmit queue are the driver's mistake: the
 * chain comes back unused and counted; the queue keeps working. */
static void transmit_chain_of_the_wrong_direction(void **state)
{
    struct fx *f = *state;
    struct vqd_seg bad = {vqd_alloc(&f->d, 16), 16, true};
    vqd_post(&f->d, TXQ, &bad, 1);
    struct vqd_seg ok = {put(f, "ok", 2), 2, false};
    vqd_post(&f->d, TXQ, &ok, 1);
    vqd_spin(&f->d, 3, 10);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 2);
    assert_int_equal(counters(f).bad_buffers, 1);
    uint8_t got[8];
    assert_int_equal(drain(f, got, sizeof(got)), 2);
    assert_memory_equal(got, "ok", 2);
    assert_int_equal(f->d.broken, 0);
}

/* Input waits for receive buffers and is spread over them, with the
 * lengths written; a readable-only chain gets nothing. */
static void input_fills_receive_buffers(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vcons_rx_push(f->c, (const uint8_t *)"abc", 3), 0);   /* none posted yet */
    struct vqd_seg ro = {vqd_alloc(&f->d, 4), 4, false};
    vqd_post(&f->d, RXQ, &ro, 1);
    uint64_t b1 = vqd_alloc(&f->d, 2), b2 = vqd_alloc(&f->d, 8);
    struct vqd_seg s1 = {b1, 2, true}, s2 = {b2, 8, true};
    vqd_post(&f->d, RXQ, &s1, 1);
    vqd_post(&f->d, RXQ, &s2, 1);
    vqd_spin(&f->d, 2, 10);
    assert_int_equal(vcons_rx_push(f->c, (const uint8_t *)"abc", 3), 3);
    assert_int_equal(vqd_used_idx(&f->d, RXQ), 3);
    assert_int_equal(vqd_used(&f->d, RXQ, 0).len, 0);
    assert_int_equal(vqd_used(&f->d, RXQ, 1).len, 2);
    assert_int_equal(vqd_used(&f->d, RXQ, 2).len, 1);
    assert_memory_equal(vqd_gpa(&f->d, b1), "ab", 2);
    assert_memory_equal(vqd_gpa(&f->d, b2), "c", 1);
    struct vcons_counters c = counters(f);
    assert_int_equal(c.rx_bytes, 3);
    assert_int_equal(c.bad_buffers, 1);
    assert_int_equal(vcons_rx_push(f->c, (const uint8_t *)"d", 1), 0);   /* all used up */
}

/* Nobody reads the output any more: what the guest writes is dropped and
 * counted, its chains still come back. */
static void output_nobody_reads(void **state)
{
    struct fx *f = *state;
    close(f->out[0]);
    f->out[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct vqd_seg s = {put(f, "lost", 4), 4, false};
    vqd_post(&f->d, TXQ, &s, 1);
    vqd_spin(&f->d, 3, 10);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 1);
    assert_int_equal(counters(f).tx_dropped, 4);
    assert_int_equal(counters(f).tx_bytes, 0);
}

/* A descriptor outside guest RAM breaks the queue (the transport then
 * asks for a reset); nothing is written. */
static void chain_outside_ram_breaks_the_queue(void **state)
{
    struct fx *f = *state;
    struct vqd_seg s = {VQD_GPA + VQD_RAM + 4096, 16, false};
    vqd_post(&f->d, TXQ, &s, 1);
    vqd_spin(&f->d, 3, 10);
    assert_int_equal(f->d.broken, 1);
    assert_int_equal(vqd_used_idx(&f->d, TXQ), 0);
    uint8_t got[8];
    assert_int_equal(drain(f, got, sizeof(got)), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(output_reaches_the_descriptor, setup, teardown),
        cmocka_unit_test_setup_teardown(output_waits_for_its_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(transmit_chain_of_the_wrong_direction, setup, teardown),
        cmocka_unit_test_setup_teardown(input_fills_receive_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(output_nobody_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(chain_outside_ram_breaks_the_queue, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

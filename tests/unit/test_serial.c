/* The 16550 model: what Linux's 8250 probe and driver rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/serial.h"
#include "vm/console.h"

static int irq_level = -1;
static void set_irq(void *ctx, unsigned gsi, bool level)
{
    (void)ctx;
    assert_int_equal(gsi, 4);
    irq_level = level;
}

static uint8_t rd(struct serial *s, unsigned reg)
{
    uint8_t v;
    serial_io(s, reg, &v, 1, false);
    return v;
}

static void wr(struct serial *s, unsigned reg, uint8_t v)
{
    serial_io(s, reg, &v, 1, true);
}

static void transmit_reaches_fd(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct serial s;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, p[1]);
    wr(&s, 0, 'h');
    wr(&s, 0, 'i');
    char buf[4] = {0};
    assert_int_equal(read(p[0], buf, sizeof(buf)), 2);
    assert_string_equal(buf, "hi");
    assert_int_equal(rd(&s, 5) & 0x60, 0x60); /* THRE | TEMT */
    serial_destroy(&s);
    close(p[0]);
    close(p[1]);
}

static void loopback_probe(void **state)
{
    (void)state;
    struct serial s;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    /* What the 8250 autoconfig does: loopback with OUT2|RTS... must read
     * back as DCD|CTS in MSR. */
    wr(&s, 4, 0x10 | 0x0A);
    assert_int_equal(rd(&s, 6) & 0xF0, 0x90);
    wr(&s, 0, 'z');
    assert_int_equal(rd(&s, 5) & 1, 1);
    assert_int_equal(rd(&s, 0), 'z');
    assert_int_equal(rd(&s, 5) & 1, 0);
    /* Outside input is not heard in loopback. */
    assert_int_equal(serial_rx_push(&s, (const uint8_t *)"x", 1), 0);
    wr(&s, 4, 0x08);
    serial_destroy(&s);
}

static void fifo_and_scratch(void **state)
{
    (void)state;
    struct serial s;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    wr(&s, 2, 0x01);
    assert_int_equal(rd(&s, 2) & 0xC0, 0xC0); /* 16550A FIFO present */
    wr(&s, 7, 0xA5);
    assert_int_equal(rd(&s, 7), 0xA5);
    /* DLAB switches offsets 0/1 to the divisor. */
    wr(&s, 3, 0x80);
    wr(&s, 0, 0x01);
    wr(&s, 1, 0x00);
    assert_int_equal(rd(&s, 0), 0x01);
    wr(&s, 3, 0x03);
    serial_destroy(&s);
}

static void rx_interrupt_follows_data(void **state)
{
    (void)state;
    struct serial s;
    irq_level = -1;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    wr(&s, 1, 0x01); /* RDI */
    assert_int_equal(serial_rx_push(&s, (const uint8_t *)"ab", 2), 2);
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(&s, 2) & 0x0F, 0x04);
    assert_int_equal(rd(&s, 0), 'a');
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(&s, 0), 'b');
    assert_int_equal(irq_level, 0);
    assert_int_equal(rd(&s, 2) & 0x0F, 0x01);
    /* A full FIFO refuses more instead of dropping it. */
    uint8_t big[SERIAL_RX_FIFO + 10];
    memset(big, 'q', sizeof(big));
    assert_int_equal(serial_rx_push(&s, big, sizeof(big)), SERIAL_RX_FIFO);
    serial_destroy(&s);
}

static void thre_interrupt(void **state)
{
    (void)state;
    struct serial s;
    irq_level = -1;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    wr(&s, 1, 0x02); /* enabling THRI with an empty THR interrupts at once */
    assert_int_equal(irq_level, 1);
    assert_int_equal(rd(&s, 2) & 0x0F, 0x02);
    assert_int_equal(irq_level, 0); /* reading IIR acknowledged it */
    wr(&s, 4, 0x10);                /* loopback, so the byte goes nowhere */
    wr(&s, 0, 'x');
    assert_int_equal(irq_level, 1);
    serial_destroy(&s);
}

static void console_escape(void **state)
{
    (void)state;
    struct console c;
    memset(&c, 0, sizeof(c));
    uint8_t out[16];
    bool quit;
    size_t n = console_filter(&c, (const uint8_t *)"ab\x01\x01" "c", 5, out, &quit);
    assert_false(quit);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "ab\x01" "c", 4);
    /* Escape split across two reads. */
    n = console_filter(&c, (const uint8_t *)"\x01", 1, out, &quit);
    assert_int_equal(n, 0);
    n = console_filter(&c, (const uint8_t *)"x", 1, out, &quit);
    assert_true(quit);
    /* Ctrl-A followed by something else passes both through. */
    n = console_filter(&c, (const uint8_t *)"\x01z", 2, out, &quit);
    assert_false(quit);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "\x01z", 2);
}

/* The guest reads the UART like the 8250 driver: while LSR says data. */
static size_t guest_reads(struct serial *s, uint8_t *out, size_t max)
{
    size_t n = 0;
    while (n < max && (rd(s, 5) & 0x01))
        out[n++] = rd(s, 0);
    return n;
}

static bool quit_called;
static size_t uart_push(void *sink, const uint8_t *buf, size_t len)
{
    return serial_rx_push(sink, buf, len);
}

static void on_quit(void *opaque)
{
    (void)opaque;
    quit_called = true;
}

/* Host input of 3000 bytes, far more than the 64-byte receive FIFO, reaches
 * the guest whole and in order through the caller's loop, whether epoll can
 * watch the input (a pipe) or not (a regular file); the end of the input
 * leaves nothing watched. */
static void feed_and_check(int in_fd, bool pollable, bool keep_writing, int wr_fd, const uint8_t *data, size_t len)
{
    struct event_loop l;
    assert_int_equal(event_loop_init(&l), 0);
    event_loop_set_owner(&l);
    struct serial s;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    struct console c;
    console_open(&c, in_fd);
    assert_int_equal(console_input_start(&c, &l, uart_push, &s, on_quit, NULL), 0);
    assert_int_equal(c.pollable, pollable);
    static uint8_t got[4096];
    size_t have = 0, sent = keep_writing ? 0 : len;
    for (int turns = 0; turns < 10000 && (have < len || c.open); turns++) {
        if (sent < len) {
            size_t k = len - sent < 500 ? len - sent : 500;
            assert_int_equal(write(wr_fd, data + sent, k), (ssize_t)k);
            sent += k;
            if (sent == len)
                close(wr_fd);
        }
        assert_int_equal(event_loop_run_once(&l, 50), 0);
        have += guest_reads(&s, got + have, sizeof(got) - have);
    }
    assert_int_equal(have, len);
    assert_memory_equal(got, data, len);
    assert_false(c.open);
    assert_false(c.watched);
    assert_false(quit_called);
    console_input_stop(&c);
    serial_destroy(&s);
    event_loop_destroy(&l);
}

static void console_input_reaches_the_guest(void **state)
{
    (void)state;
    static uint8_t data[3000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 13 + 5);
    int p[2];
    assert_int_equal(pipe(p), 0);
    feed_and_check(p[0], true, true, p[1], data, sizeof(data));
    close(p[0]);

    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, sizeof(data), f), sizeof(data));
    fflush(f);
    rewind(f);
    feed_and_check(fileno(f), false, false, -1, data, sizeof(data));
    fclose(f);
}

/* On a terminal (raw mode) Ctrl-A x stops the VM; what came before it still
 * reaches the guest, nothing after it does. */
static void console_input_quits(void **state)
{
    (void)state;
    struct event_loop l;
    assert_int_equal(event_loop_init(&l), 0);
    event_loop_set_owner(&l);
    struct serial s;
    serial_init(&s, (struct irq_line){set_irq, NULL, 4}, -1);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct console c;
    console_open(&c, p[0]);
    c.raw = true;   /* as on a terminal, where the escape is active */
    quit_called = false;
    assert_int_equal(console_input_start(&c, &l, uart_push, &s, on_quit, NULL), 0);
    assert_int_equal(write(p[1], "ok\x01xno", 6), 6);
    assert_int_equal(event_loop_run_once(&l, 1000), 0);
    assert_true(quit_called);
    assert_false(c.open);
    assert_false(c.watched);
    uint8_t got[8];
    assert_int_equal(guest_reads(&s, got, sizeof(got)), 2);
    assert_memory_equal(got, "ok", 2);
    c.raw = false;
    console_input_stop(&c);
    close(p[0]);
    close(p[1]);
    serial_destroy(&s);
    event_loop_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transmit_reaches_fd),
        cmocka_unit_test(loopback_probe),
        cmocka_unit_test(fifo_and_scratch),
        cmocka_unit_test(rx_interrupt_follows_data),
        cmocka_unit_test(thre_interrupt),
        cmocka_unit_test(console_escape),
        cmocka_unit_test(console_input_reaches_the_guest),
        cmocka_unit_test(console_input_quits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The 16550 model: what Linux's 8250 probe and driver rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transmit_reaches_fd),
        cmocka_unit_test(loopback_probe),
        cmocka_unit_test(fifo_and_scratch),
        cmocka_unit_test(rx_interrupt_follows_data),
        cmocka_unit_test(thre_interrupt),
        cmocka_unit_test(console_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "vm/console.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

/* How soon a full receive FIFO is tried again. */
#define RETRY_NS (10 * 1000 * 1000)

void console_open(struct console *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->readable = true;
    c->timer_fd = -1;
    if (!isatty(fd))
        return;
    if (tcgetpgrp(fd) != getpgrp()) {
        c->readable = false;
        return;
    }
    if (tcgetattr(fd, &c->saved) < 0)
        return;
    struct termios t = c->saved;
    cfmakeraw(&t);
    if (tcsetattr(fd, TCSANOW, &t) == 0)
        c->raw = true;
}

void console_restore(struct console *c)
{
    if (c->raw)
        tcsetattr(c->fd, TCSANOW, &c->saved);
    c->raw = false;
}

size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit)
{
    size_t o = 0;
    *quit = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = in[i];
        if (c->escape_seen) {
            c->escape_seen = false;
            if (b == 'x' || b == 'X') {
                *quit = true;
                return o;
            }
            if (b != CONSOLE_ESCAPE)
                out[o++] = CONSOLE_ESCAPE;
            out[o++] = b;
        } else if (b == CONSOLE_ESCAPE) {
            c->escape_seen = true;
        } else {
            out[o++] = b;
        }
    }
    return o;
}

/* One read into pending; false when nothing came now (try later). */
static bool read_input(struct console *c)
{
    ssize_t r = read(c->fd, c->in, sizeof(c->in));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return false;
    if (r <= 0) {
        c->open = false;   /* the guest keeps running without input */
        return true;
    }
    c->pending_off = 0;
    if (!c->raw) {
        memcpy(c->pending, c->in, (size_t)r);
        c->pending_len = (size_t)r;
        return true;
    }
    bool quit;
    c->pending_len = console_filter(c, c->in, (size_t)r, c->pending, &quit);
    if (quit) {
        c->open = false;
        c->quit(c->opaque);
    }
    return true;
}

static void on_input(void *opaque, uint32_t events);

static void watch_input(struct console *c, bool on)
{
    if (on == c->watched)
        return;
    if (!on) {
        event_loop_del(c->loop, &c->w_in);
        c->watched = false;
    } else if (event_loop_add(c->loop, &c->w_in, c->fd, EPOLLIN, on_input, c) == 0) {
        c->watched = true;
    } else if (errno == EPERM) {
        c->pollable = false;   /* always readable: read it directly */
    } else {
        c->open = false;
    }
}

static void retry_later(struct console *c)
{
    struct itimerspec t = {.it_value = {.tv_nsec = RETRY_NS}};
    timerfd_settime(c->timer_fd, 0, &t, NULL);
}

/* Moves what is pending into the UART, then waits for more input: on the
 * fd when epoll can watch it, else by reading on until the FIFO is full. */
static void pump(struct console *c)
{
    for (;;) {
        if (c->pending_off < c->pending_len) {
            c->pending_off += c->push(c->sink, c->pending + c->pending_off, c->pending_len - c->pending_off);
            if (c->pending_off < c->pending_len) {
                watch_input(c, false);
                retry_later(c);
                return;
            }
        }
        if (!c->open) {
            watch_input(c, false);
            return;
        }
        if (c->pollable) {
            watch_input(c, true);
            if (c->pollable)
                return;
        }
        if (!read_input(c)) {
            retry_later(c);
            return;
        }
    }
}

static void on_input(void *opaque, uint32_t events)
{
    (void)events;
    struct console *c = opaque;
    if (read_input(c))
        pump(c);
}

static void on_timer(void *opaque, uint32_t events)
{
    (void)events;
    struct console *c = opaque;
    uint64_t n;
    (void)!read(c->timer_fd, &n, sizeof(n));
    pump(c);
}

int console_input_start(struct console *c, struct event_loop *loop,
                        size_t (*push)(void *sink, const uint8_t *buf, size_t len), void *sink,
                        void (*quit)(void *opaque), void *opaque)
{
    c->loop = loop;
    c->push = push;
    c->sink = sink;
    c->quit = quit;
    c->opaque = opaque;
    c->open = c->readable;
    c->pollable = true;
    c->pending_len = c->pending_off = 0;
    c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (c->timer_fd < 0)
        return -1;
    if (event_loop_add(loop, &c->w_timer, c->timer_fd, EPOLLIN, on_timer, c) < 0) {
        close(c->timer_fd);
        c->timer_fd = -1;
        return -1;
    }
    pump(c);
    return 0;
}

void console_input_stop(struct console *c)
{
    if (c->timer_fd < 0)
        return;
    watch_input(c, false);
    event_loop_del(c->loop, &c->w_timer);
    close(c->timer_fd);
    c->timer_fd = -1;
    c->open = false;
}

#include "vm/console.h"

#include <string.h>
#include <unistd.h>

void console_open(struct console *c, int fd)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    c->readable = true;
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

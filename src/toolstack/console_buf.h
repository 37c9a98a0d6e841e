/* The guest console's recent output, kept while nobody is attached, so
 * `vireo console` starts with what the guest said last (boot messages, a
 * login prompt).  Bounded: the oldest bytes go first. */
#ifndef VIREO_TOOLSTACK_CONSOLE_BUF_H
#define VIREO_TOOLSTACK_CONSOLE_BUF_H

#include <stddef.h>
#include <stdint.h>

#define CONSOLE_BUF_DEFAULT (64 * 1024)

struct console_buf {
    uint8_t *data;
    size_t cap;
    size_t start;      /* oldest byte */
    size_t len;
    uint64_t dropped;  /* bytes pushed out by newer ones */
};

int console_buf_init(struct console_buf *b, size_t cap);
void console_buf_free(struct console_buf *b);
void console_buf_append(struct console_buf *b, const uint8_t *p, size_t n);
/* The contents as at most two pieces, oldest first; returns how many. */
int console_buf_pieces(const struct console_buf *b, const uint8_t *ptr[2], size_t len[2]);

#endif

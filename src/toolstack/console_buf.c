#include "toolstack/console_buf.h"

#include <stdlib.h>
#include <string.h>

int console_buf_init(struct console_buf *b, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->data = malloc(cap);
    if (!b->data)
        return -1;
    b->cap = cap;
    return 0;
}

void console_buf_free(struct console_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

void console_buf_append(struct console_buf *b, const uint8_t *p, size_t n)
{
    if (n >= b->cap) {
        b->dropped += b->len + (n - b->cap);
        memcpy(b->data, p + (n - b->cap), b->cap);
        b->start = 0;
        b->len = b->cap;
        return;
    }
    size_t over = b->len + n > b->cap ? b->len + n - b->cap : 0;
    b->start = (b->start + over) % b->cap;
    b->len -= over;
    b->dropped += over;
    size_t end = (b->start + b->len) % b->cap;
    size_t first = n < b->cap - end ? n : b->cap - end;
    memcpy(b->data + end, p, first);
    memcpy(b->data, p + first, n - first);
    b->len += n;
}

int console_buf_pieces(const struct console_buf *b, const uint8_t *ptr[2], size_t len[2])
{
    if (!b->len)
        return 0;
    size_t first = b->len < b->cap - b->start ? b->len : b->cap - b->start;
    ptr[0] = b->data + b->start;
    len[0] = first;
    if (first == b->len)
        return 1;
    ptr[1] = b->data;
    len[1] = b->len - first;
    return 2;
}

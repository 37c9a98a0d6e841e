#include "util/zero.h"

#include <stdint.h>
#include <string.h>

#define PAGE 4096u

static int all_zero(const unsigned char *p, size_t n)
{
    /* word at a time; p is page-aligned or the start of the object */
    size_t i = 0;
    for (; i + sizeof(uint64_t) <= n; i += sizeof(uint64_t)) {
        uint64_t w;
        memcpy(&w, p + i, sizeof(w));
        if (w)
            return 0;
    }
    for (; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

void zero_sparse(void *p, size_t n)
{
    unsigned char *c = p;
    while (n) {
        /* up to the next page boundary */
        size_t chunk = PAGE - (size_t)((uintptr_t)c % PAGE);
        if (chunk > n)
            chunk = n;
        if (!all_zero(c, chunk))
            memset(c, 0, chunk);
        c += chunk;
        n -= chunk;
    }
}

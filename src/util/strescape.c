#include "util/strescape.h"

#include <stdio.h>
#include <string.h>

char *str_escape(char *out, size_t outlen, const char *s)
{
    size_t n = 0;
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        char one[5];
        if (c == '\\')
            memcpy(one, "\\\\", 3);
        else if (c >= 0x20 && c < 0x7f)
            one[0] = (char)c, one[1] = 0;
        else
            snprintf(one, sizeof(one), "\\x%02x", c);
        size_t k = strlen(one);
        if (n + k >= outlen)
            break;
        memcpy(out + n, one, k);
        n += k;
    }
    out[n] = 0;
    return out;
}

#include "util/size.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

bool parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return false;
    unsigned shift;
    switch (toupper((unsigned char)*end)) {
    case '\0': shift = 20; break;
    case 'B': shift = 0; break;
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: return false;
    }
    if (*end) {
        const char *suffix = end + 1;
        if (toupper((unsigned char)*end) != 'B' && *suffix) {
            if (!strcasecmp(suffix, "iB") || !strcasecmp(suffix, "B"))
                suffix += strlen(suffix);
        }
        if (*suffix)
            return false;
    }
    if (v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

void size_human(uint64_t v, char *buf, size_t len)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    unsigned u = 0;
    while (u < 5 && v >= (1ull << (10 * (u + 1))))
        u++;
    uint64_t whole = v >> (10 * u);
    uint64_t tenth = ((v - (whole << (10 * u))) * 10) >> (10 * u);
    if (tenth)
        snprintf(buf, len, "%llu.%llu %s", (unsigned long long)whole, (unsigned long long)tenth, unit[u]);
    else
        snprintf(buf, len, "%llu %s", (unsigned long long)whole, unit[u]);
}

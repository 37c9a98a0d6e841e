#include "util/duration.h"

#include <string.h>

bool parse_duration(const char *s, uint64_t *ns)
{
    uint64_t whole = 0, frac = 0, frac_div = 1;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (whole > (UINT64_MAX - 9) / 10)
            return false;
        whole = whole * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (frac_div >= 1000000000ull)
                return false;
            frac = frac * 10 + (uint64_t)(*p - '0');
            frac_div *= 10;
        }
    }
    static const struct { const char *unit; uint64_t ns; } units[] = {
        {"ns", 1}, {"us", 1000}, {"ms", 1000000}, {"s", 1000000000ull}, {"", 1000000000ull},
        {"m", 60000000000ull},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].unit))
            continue;
        uint64_t m = units[i].ns;
        if (whole > UINT64_MAX / m)
            return false;
        uint64_t f = frac * m;
        if (f % frac_div)
            return false;
        *ns = whole * m + f / frac_div;
        return true;
    }
    return false;
}

#include "util/duration.h"

#include <stdio.h>
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
        {"m", 60000000000ull}, {"h", 3600000000000ull}, {"d", 86400000000000ull},
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

void format_duration(uint64_t ns, char *buf, size_t len)
{
    static const struct { const char *unit; uint64_t ns; } units[] = {
        {"d", 86400000000000ull}, {"h", 3600000000000ull}, {"m", 60000000000ull}, {"s", 1000000000ull}, {"ms", 1000000}, {"us", 1000}, {"ns", 1},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ns && ns % units[i].ns == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ns / units[i].ns), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "0s");
}

#include "util/cpulist.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int number(const char **p, unsigned ncpus, unsigned *out, char *err, size_t errlen)
{
    char *end;
    errno = 0;
    if (**p < '0' || **p > '9') {
        snprintf(err, errlen, "expected a CPU number at '%s'", *p);
        return -1;
    }
    unsigned long v = strtoul(*p, &end, 10);
    if (errno || v >= ncpus) {
        snprintf(err, errlen, "CPU %.*s does not exist; this host has CPUs 0-%u", (int)(end - *p), *p, ncpus - 1);
        return -1;
    }
    *p = end;
    *out = (unsigned)v;
    return 0;
}

int cpulist_parse(const char *s, unsigned ncpus, cpu_set_t *set, char *err, size_t errlen)
{
    CPU_ZERO(set);
    if (ncpus > CPU_SETSIZE)
        ncpus = CPU_SETSIZE;
    const char *p = s;
    bool first = true;
    while (*p) {
        bool neg = *p == '^';
        p += neg;
        unsigned a, z;
        if (!neg && first && !strncmp(p, "all", 3) && (p[3] == ',' || !p[3])) {
            a = 0;
            z = ncpus - 1;
            p += 3;
        } else {
            if (number(&p, ncpus, &a, err, errlen) < 0)
                return -1;
            z = a;
            if (*p == '-') {
                p++;
                if (number(&p, ncpus, &z, err, errlen) < 0)
                    return -1;
                if (z < a) {
                    snprintf(err, errlen, "CPU range %u-%u is backwards", a, z);
                    return -1;
                }
            }
        }
        /* "^N" alone means every CPU but N, as in xl. */
        if (neg && first)
            for (unsigned c = 0; c < ncpus; c++)
                CPU_SET(c, set);
        for (unsigned c = a; c <= z; c++) {
            if (neg)
                CPU_CLR(c, set);
            else
                CPU_SET(c, set);
        }
        first = false;
        if (*p == ',' && p[1])
            p++;
        else if (*p) {
            snprintf(err, errlen, "expected ',' or the end at '%s'", p);
            return -1;
        }
    }
    if (CPU_COUNT(set) == 0) {
        snprintf(err, errlen, "'%s' selects no CPU", s);
        return -1;
    }
    return 0;
}

void cpulist_format(const cpu_set_t *set, unsigned ncpus, char *out, size_t len)
{
    if (ncpus > CPU_SETSIZE)
        ncpus = CPU_SETSIZE;
    unsigned n = 0;
    for (unsigned c = 0; c < ncpus; c++)
        n += CPU_ISSET(c, set) != 0;
    if (n == ncpus) {
        snprintf(out, len, "all");
        return;
    }
    size_t o = 0;
    out[0] = 0;
    for (unsigned c = 0; c < ncpus && o < len; c++) {
        if (!CPU_ISSET(c, set))
            continue;
        unsigned z = c;
        while (z + 1 < ncpus && CPU_ISSET(z + 1, set))
            z++;
        int w = z == c ? snprintf(out + o, len - o, "%s%u", o ? "," : "", c)
                       : snprintf(out + o, len - o, "%s%u-%u", o ? "," : "", c, z);
        if (w < 0)
            break;
        o += (size_t)w;
        c = z;
    }
}

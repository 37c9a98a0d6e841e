/* GRUB's `test` / `[ ... ]`: -z -n, string = == != < <= > >=, integers
 * -eq -ne -lt -le -gt -ge (and GRUB's -pgt -plt -pge -ple, which skip a
 * non-numeric prefix), files -e -f -d -s, ! -a -o and parentheses. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"

#define MAX_DEPTH 64

struct tp {
    struct gctx *c;
    char **a;
    unsigned n, i, depth;
    bool bad;
};

static bool is(const char *s, const char *w)
{
    return !strcmp(s, w);
}

static bool file_test(struct tp *t, char op, const char *arg)
{
    unsigned part;
    char path[BL_MAX_PATH], why[128];
    if (gresolve(t->c, arg, &part, path, sizeof(path), why, sizeof(why)) < 0)
        return false;
    uint64_t size = 0;
    bool dir = false;
    if (t->c->h->stat(t->c->h->ctx, part, path, &size, &dir) != 0)
        return false;
    switch (op) {
    case 'f': return !dir;
    case 'd': return dir;
    case 's': return !dir && size > 0;
    default: return true;
    }
}

static long long num(const char *s, bool prefixed)
{
    if (prefixed)
        while (*s && (*s < '0' || *s > '9'))
            s++;
    return strtoll(s, NULL, 10);
}

static bool binop(const char *op)
{
    static const char *const ops[] = {"=", "==", "!=", "<", "<=", ">", ">=", "-eq", "-ne", "-lt", "-le", "-gt",
                                      "-ge", "-pgt", "-plt", "-pge", "-ple", "-nt", "-ot", NULL};
    for (const char *const *o = ops; *o; o++)
        if (is(op, *o))
            return true;
    return false;
}

static bool compare(const char *x, const char *op, const char *y)
{
    int sc = strcmp(x, y);
    if (is(op, "=") || is(op, "=="))
        return !sc;
    if (is(op, "!="))
        return sc;
    if (is(op, "<"))
        return sc < 0;
    if (is(op, "<="))
        return sc <= 0;
    if (is(op, ">"))
        return sc > 0;
    if (is(op, ">="))
        return sc >= 0;
    if (is(op, "-nt") || is(op, "-ot"))
        return false;   /* file times: GRUB's ext2 driver has them, nothing here needs them */
    bool p = op[1] == 'p';
    long long a = num(x, p), b = num(y, p);
    const char *k = op + (p ? 2 : 1);
    if (is(k, "eq"))
        return a == b;
    if (is(k, "ne"))
        return a != b;
    if (is(k, "lt"))
        return a < b;
    if (is(k, "le"))
        return a <= b;
    if (is(k, "gt"))
        return a > b;
    return a >= b;
}

static bool t_or(struct tp *t);

static bool t_primary(struct tp *t)
{
    if (t->i >= t->n) {
        t->bad = true;
        return false;
    }
    const char *w = t->a[t->i];
    if (is(w, "!")) {
        if (++t->depth > MAX_DEPTH) {
            t->bad = true;
            return false;
        }
        t->i++;
        bool v = !t_primary(t);
        t->depth--;
        return v;
    }
    if (is(w, "(")) {
        if (++t->depth > MAX_DEPTH) {
            t->bad = true;
            return false;
        }
        t->i++;
        bool v = t_or(t);
        if (t->i < t->n && is(t->a[t->i], ")"))
            t->i++;
        else
            t->bad = true;
        t->depth--;
        return v;
    }
    if (t->i + 2 < t->n && binop(t->a[t->i + 1])) {
        bool v = compare(w, t->a[t->i + 1], t->a[t->i + 2]);
        t->i += 3;
        return v;
    }
    if (w[0] == '-' && w[1] && !w[2] && t->i + 1 < t->n) {
        const char *arg = t->a[t->i + 1];
        t->i += 2;
        switch (w[1]) {
        case 'z': return !arg[0];
        case 'n': return arg[0];
        case 'e': case 'f': case 'd': case 's': return file_test(t, w[1], arg);
        default: t->bad = true; return false;
        }
    }
    t->i++;
    return w[0] != 0;
}

static bool t_and(struct tp *t)
{
    bool v = t_primary(t);
    while (!t->bad && t->i < t->n && is(t->a[t->i], "-a")) {
        t->i++;
        bool r = t_primary(t);
        v = v && r;
    }
    return v;
}

static bool t_or(struct tp *t)
{
    bool v = t_and(t);
    while (!t->bad && t->i < t->n && is(t->a[t->i], "-o")) {
        t->i++;
        bool r = t_and(t);
        v = v || r;
    }
    return v;
}

int gtest(struct gctx *c, char **argv, unsigned argc)
{
    if (!argc)
        return 1;
    struct tp t = {.c = c, .a = argv, .n = argc};
    bool v = t_or(&t);
    if (t.bad || t.i != t.n)
        return 1;   /* GRUB reports a syntax error and fails the command */
    return v ? 0 : 1;
}

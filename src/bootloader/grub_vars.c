/* GRUB's variables and how a word is expanded: '...' literal, "..." with
 * $vars and \-escapes of $ " \ and newline, \x outside quotes, $name,
 * ${name}, $1..$9, $#, $@, $*, $?; substitutions outside quotes are split
 * at blanks, as GRUB's script engine splits them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"

#define MAX_FIELDS 4096

bool gvar_name_ok(const char *s, size_t len)
{
    if (!len || len > 128)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
        if (!alpha && !(i && ch >= '0' && ch <= '9'))
            return false;
    }
    return true;
}

const char *gvars_get(const struct gvars *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].name, name))
            return s->v[i].value;
    return NULL;
}

int gvars_set(struct gctx *c, struct gvars *s, const char *name, const char *value)
{
    size_t vl = strlen(value);
    char root[256];
    if (!strcmp(name, "root") && vl >= 2 && vl < sizeof(root) && value[0] == '(' && value[vl - 1] == ')') {
        /* GRUB's hook on root drops the parentheses of `set root=(hd0,1)`. */
        memcpy(root, value + 1, vl - 2);
        root[vl - 2] = 0;
        value = root;
        vl -= 2;
    }
    if (vl > GRUB_MAX_VALUE)
        return gerr(c, "variable '%.64s' would be %zu bytes long; at most %u", name, vl, GRUB_MAX_VALUE);
    char *v = strdup(value);
    if (!v)
        return gerr(c, "out of memory");
    for (unsigned i = 0; i < s->n; i++) {
        if (!strcmp(s->v[i].name, name)) {
            free(s->v[i].value);
            s->v[i].value = v;
            return 0;
        }
    }
    if (s->n == GRUB_MAX_VARS) {
        free(v);
        return gerr(c, "more than %d variables", GRUB_MAX_VARS);
    }
    if (!s->n) {
        s->v = calloc(GRUB_MAX_VARS, sizeof(*s->v));
        if (!s->v) {
            free(v);
            return gerr(c, "out of memory");
        }
    }
    char *n = strdup(name);
    if (!n) {
        free(v);
        return gerr(c, "out of memory");
    }
    s->v[s->n++] = (struct gvar){n, v};
    return 0;
}

void gvars_unset(struct gvars *s, const char *name)
{
    for (unsigned i = 0; i < s->n; i++) {
        if (!strcmp(s->v[i].name, name)) {
            free(s->v[i].name);
            free(s->v[i].value);
            s->v[i] = s->v[--s->n];
            return;
        }
    }
}

void gvars_free(struct gvars *s)
{
    for (unsigned i = 0; i < s->n; i++) {
        free(s->v[i].name);
        free(s->v[i].value);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

int gvars_copy(struct gctx *c, struct gvars *dst, const struct gvars *src)
{
    memset(dst, 0, sizeof(*dst));
    for (unsigned i = 0; i < src->n; i++)
        if (gvars_set(c, dst, src->v[i].name, src->v[i].value) < 0)
            return -1;
    return 0;
}

void gfields_free(struct gfields *f)
{
    for (unsigned i = 0; i < f->n; i++)
        free(f->v[i]);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

/* ---- expansion ---- */

struct buf {
    char *s;
    size_t len, cap;
    bool started;    /* quoted text or a literal counted: the field exists even if empty */
};

static int buf_add(struct gctx *c, struct buf *b, const char *s, size_t n)
{
    if (b->len + n > GRUB_MAX_VALUE)
        return gerr(c, "a word longer than %u bytes after expansion", GRUB_MAX_VALUE);
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns)
            return gerr(c, "out of memory");
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

static int emit(struct gctx *c, struct buf *b, struct gfields *out)
{
    if (!b->started && !b->len)
        return 0;
    if (out->n == MAX_FIELDS)
        return gerr(c, "a command of more than %d words after expansion", MAX_FIELDS);
    if (!(out->n % 16)) {
        char **nv = realloc(out->v, (out->n + 16) * sizeof(*nv));
        if (!nv)
            return gerr(c, "out of memory");
        out->v = nv;
    }
    out->v[out->n] = b->s ? b->s : strdup("");
    if (!out->v[out->n])
        return gerr(c, "out of memory");
    out->n++;
    b->s = NULL;
    b->len = b->cap = 0;
    b->started = false;
    return 0;
}

/* The value of a variable reference; argsbuf holds "$@" joined. */
static const char *lookup(struct gctx *c, const char *name, char *tmp, size_t tmplen, char **joined)
{
    *joined = NULL;
    if (!strcmp(name, "?")) {
        snprintf(tmp, tmplen, "%d", c->status);
        return tmp;
    }
    if (!strcmp(name, "#")) {
        snprintf(tmp, tmplen, "%u", c->argc);
        return tmp;
    }
    if (!strcmp(name, "@") || !strcmp(name, "*")) {
        size_t n = 1;
        for (unsigned i = 0; i < c->argc; i++)
            n += strlen(c->argv[i]) + 1;
        if (n > GRUB_MAX_VALUE) {
            gerr(c, "$%s would be %zu bytes long; at most %u", name, n, GRUB_MAX_VALUE);
            return "";
        }
        char *s = malloc(n), *p = s;
        if (!s) {
            gerr(c, "out of memory");
            return "";
        }
        for (unsigned i = 0; i < c->argc; i++) {
            size_t l = strlen(c->argv[i]);
            if (i)
                *p++ = ' ';
            memcpy(p, c->argv[i], l);
            p += l;
        }
        *p = 0;
        *joined = s;
        return s;
    }
    if (name[0] >= '0' && name[0] <= '9') {
        char *end;
        unsigned long i = strtoul(name, &end, 10);
        if (*end)
            return "";
        if (i == 0)
            return "grub";
        return i <= c->argc ? c->argv[i - 1] : "";
    }
    const char *v = gvars_get(c->vars, name);
    return v ? v : "";
}

/* Parses a reference after '$' at s[*i]; returns false when it is a
 * plain '$'. */
static bool var_ref(const char *s, size_t len, size_t *i, char *name, size_t namelen)
{
    size_t p = *i;
    if (p < len && s[p] == '{') {
        const char *end = memchr(s + p, '}', len - p);
        if (!end)
            return false;
        size_t n = (size_t)(end - (s + p + 1));
        if (!n || n >= namelen)
            return false;
        memcpy(name, s + p + 1, n);
        name[n] = 0;
        *i = (size_t)(end - s) + 1;
        return true;
    }
    size_t n = 0;
    if (p < len && (s[p] == '?' || s[p] == '#' || s[p] == '@' || s[p] == '*')) {
        n = 1;
    } else if (p < len && s[p] >= '0' && s[p] <= '9') {
        while (p + n < len && s[p + n] >= '0' && s[p + n] <= '9' && n < 8)
            n++;
    } else {
        while (p + n < len && gvar_name_ok(s + p, n + 1))
            n++;
    }
    if (!n || n >= namelen)
        return false;
    memcpy(name, s + p, n);
    name[n] = 0;
    *i = p + n;
    return true;
}

static int add_value(struct gctx *c, struct buf *b, const char *v, bool quoted, struct gfields *out)
{
    if (quoted)
        return buf_add(c, b, v, strlen(v));
    for (const char *p = v; *p; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            if (emit(c, b, out) < 0)
                return -1;
        } else if (buf_add(c, b, p, 1) < 0) {
            return -1;
        }
    }
    return 0;
}

static int expand_into(struct gctx *c, const char *s, size_t len, struct gfields *out, struct buf *b, bool keep_quotes)
{
    char name[160], tmp[32];
    bool dq = false;
    for (size_t i = 0; i < len;) {
        char ch = s[i];
        if (ch == '\\' && !keep_quotes) {
            if (i + 1 < len && s[i + 1] == '\n') {
                i += 2;
                continue;
            }
            if (i + 1 < len) {
                char e = s[i + 1];
                /* In double quotes only $ " \ are escaped; "\n" stays as two characters. */
                if (dq && e != '$' && e != '"' && e != '\\' && buf_add(c, b, "\\", 1) < 0)
                    return -1;
                if (buf_add(c, b, &e, 1) < 0)
                    return -1;
                b->started = true;
                i += 2;
                continue;
            }
            if (buf_add(c, b, "\\", 1) < 0)
                return -1;
            i++;
            continue;
        }
        if (ch == '\'' && !dq && !keep_quotes) {
            const char *end = memchr(s + i + 1, '\'', len - i - 1);
            size_t n = end ? (size_t)(end - (s + i + 1)) : len - i - 1;
            if (buf_add(c, b, s + i + 1, n) < 0)
                return -1;
            b->started = true;
            i += n + 2;
            continue;
        }
        if (ch == '"' && !keep_quotes) {
            dq = !dq;
            b->started = true;
            i++;
            continue;
        }
        if (ch == '$') {
            size_t j = i + 1;
            if (var_ref(s, len, &j, name, sizeof(name))) {
                char *joined;
                const char *v = lookup(c, name, tmp, sizeof(tmp), &joined);
                int r = c->fatal ? -1 : add_value(c, b, v, dq || keep_quotes, out);
                free(joined);
                if (r < 0)
                    return -1;
                i = j;
                continue;
            }
        }
        if (buf_add(c, b, &ch, 1) < 0)
            return -1;
        i++;
    }
    return 0;
}

int gexpand(struct gctx *c, const struct gs_word *w, struct gfields *out)
{
    struct buf b = {0};
    if (expand_into(c, w->s, w->len, out, &b, false) < 0 || emit(c, &b, out) < 0) {
        free(b.s);
        return -1;
    }
    return 0;
}

int gexpand_all(struct gctx *c, const struct gs_word *w, unsigned n, struct gfields *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < n; i++) {
        if (gexpand(c, &w[i], out) < 0) {
            gfields_free(out);
            return -1;
        }
    }
    return 0;
}

char *gexpand_text(struct gctx *c, const char *s)
{
    struct buf b = {0};
    struct gfields none = {0};
    if (expand_into(c, s, strlen(s), &none, &b, true) < 0) {
        free(b.s);
        return NULL;
    }
    return b.s ? b.s : strdup("");
}

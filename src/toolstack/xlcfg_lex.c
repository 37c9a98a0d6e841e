/* xl.cfg syntax, following libxlu's grammar (libxlu_cfg_y.y / _l.l):
 *
 *   file    := { [KEY ('=' | '+=') value] (';' | NEWLINE) }   (last one may end at EOF)
 *   value   := STRING | NUMBER | '[' [value {',' value}] [','] ']'
 *
 * with newlines and comments allowed anywhere inside a list.  Differences
 * from xl, each one a refusal with a message rather than a guess: numbers
 * with leading zeros (xl silently reads them as octal), escapes that
 * produce NUL (xl cuts the string there), raw control characters in
 * strings, and xl's broken \x and octal escapes are done as C does them.
 * Keys are lexed a little wider than xl's [a-z][._0-9a-z]* so that
 * "Memory" or "on-crash" get a message that says what to write instead. */
#include "util/hex.h"
#include "toolstack/xlcfg_lex.h"
#include "toolstack/xl_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ASCII only, whatever the locale: the syntax is ASCII. */
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_upper(int c) { return c >= 'A' && c <= 'Z'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || is_upper(c); }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static int to_lower(int c) { return is_upper(c) ? c - 'A' + 'a' : c; }

struct lex {
    const char *b;
    size_t len;
    size_t p;
    int line;
    size_t line_start;
    bool one_line;
    const char *src;
    char *err;
    size_t errlen;
    char *scratch;      /* XLCFG_MAX_STRING + 1 bytes: one string being unescaped */
    const char *key;    /* the setting whose value is being read */
};

int xlcfg_verror(char *err, size_t errlen, const struct xlcfg_loc *loc, const char *fmt, va_list ap)
{
    if (!err || !errlen)
        return -1;
    int n;
    if (!loc || !loc->src)
        n = 0;
    else if (loc->line > 0)
        n = snprintf(err, errlen, "%s:%d:%d: ", loc->src, loc->line, loc->col);
    else if (loc->col > 0)
        n = snprintf(err, errlen, "%s, column %d: ", loc->src, loc->col);
    else
        n = snprintf(err, errlen, "%s: ", loc->src);
    if (n < 0)
        n = 0;
    if ((size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    return -1;
}

int xlcfg_error(char *err, size_t errlen, const struct xlcfg_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(err, errlen, loc, fmt, ap);
    va_end(ap);
    return -1;
}

void xlcfg_show(char *dst, size_t dstlen, const char *s, size_t len)
{
    /* 60 shown bytes is enough to recognise a value, short enough for a line. */
    const size_t shown_max = 60;
    size_t o = 0;
    if (!dstlen)
        return;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[5];
        if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
            tmp[1] = 0;
        } else {
            snprintf(tmp, sizeof(tmp), "\\x%02x", c);
        }
        size_t t = strlen(tmp);
        if (i >= shown_max || o + t + 4 > dstlen) {
            if (o + 4 <= dstlen) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        memcpy(dst + o, tmp, t);
        o += t;
    }
    dst[o < dstlen ? o : dstlen - 1] = 0;
}

enum xlcfg_num xlcfg_parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    bool big = false;
    if (!len)
        return XLCFG_NUM_BAD;
    if (s[0] == '-')
        return len > 1 && is_digit((unsigned char)s[1]) ? XLCFG_NUM_NEGATIVE : XLCFG_NUM_BAD;
    if (!is_digit((unsigned char)s[0]))
        return XLCFG_NUM_BAD;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (size_t i = 2; i < len; i++) {
            int d = hex_digit((unsigned char)s[i]);
            if (d < 0)
                return XLCFG_NUM_BAD;
            if (v > (UINT64_MAX >> 4))
                big = true;
            v = (v << 4) | (unsigned)d;
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            if (!is_digit((unsigned char)s[i]))
                return XLCFG_NUM_BAD;
        }
        if (len > 1 && s[0] == '0')
            return XLCFG_NUM_LEADING_ZERO;
        for (size_t i = 0; i < len; i++) {
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                big = true;
            v = v * 10 + d;
        }
    }
    if (big)
        return XLCFG_NUM_TOO_BIG;
    *out = v;
    return XLCFG_NUM_OK;
}

struct xlcfg_loc xlcfg_loc_at(const struct xlcfg_value *v, size_t off)
{
    struct xlcfg_loc l = v->loc;
    if (off == XLCFG_WHOLE)
        return l;
    if (v->type == XLCFG_STRING && v->exact)
        l.col += 1 + (int)off;
    else if (v->type == XLCFG_NUMBER)
        l.col += (int)off;
    return l;
}

void xlcfg_value_free(struct xlcfg_value *v)
{
    if (!v)
        return;
    free(v->str);
    /* Depth is bounded by XLCFG_MAX_DEPTH, so this recursion is too. */
    for (size_t i = 0; i < v->nitems; i++)
        xlcfg_value_free(&v->items[i]);
    free(v->items);
    memset(v, 0, sizeof(*v));
}

void xlcfg_free(struct xlcfg *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].key);
        xlcfg_value_free(&c->v[i].value);
    }
    free(c->v);
    free(c->src);
    memset(c, 0, sizeof(*c));
}

/* ---- the lexer ---- */

static struct xlcfg_loc loc_of(const struct lex *l, size_t pos)
{
    struct xlcfg_loc loc = {l->src, l->one_line ? 0 : l->line, (int)(pos - l->line_start) + 1};
    return loc;
}

static int fail_at(struct lex *l, size_t pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(struct lex *l, size_t pos, const char *fmt, ...)
{
    struct xlcfg_loc loc = loc_of(l, pos);
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(l->err, l->errlen, &loc, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail_loc(struct lex *l, const struct xlcfg_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_loc(struct lex *l, const struct xlcfg_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(l->err, l->errlen, loc, fmt, ap);
    va_end(ap);
    return -1;
}

static bool is_word(int c)
{
    return is_alnum(c) || c == '_' || c == '.' || c == '-';
}

/* What is at pos, for "unexpected X" messages. */
static void describe(const struct lex *l, size_t pos, char *out, size_t n)
{
    if (pos >= l->len) {
        snprintf(out, n, l->one_line ? "end of the setting" : "end of file");
        return;
    }
    unsigned char c = (unsigned char)l->b[pos];
    if (c == '\n') {
        snprintf(out, n, l->one_line ? "newline" : "end of line");
    } else if (c == '#') {
        snprintf(out, n, "comment");
    } else if (c == '"' || c == '\'') {
        snprintf(out, n, "string");
    } else if (is_alnum(c) || c == '_') {
        size_t e = pos;
        while (e < l->len && is_word((unsigned char)l->b[e]))
            e++;
        char shown[96];
        xlcfg_show(shown, sizeof(shown), l->b + pos, e - pos);
        snprintf(out, n, "'%s'", shown);
    } else if (c >= 0x20 && c < 0x7f) {
        snprintf(out, n, "'%c'", c);
    } else if (l->len - pos >= 3 && !memcmp(l->b + pos, "\xef\xbb\xbf", 3)) {
        /* Concatenated files keep their marks; only the first one is
         * skipped (xlcfg_parse). */
        snprintf(out, n, "UTF-8 byte-order mark (one is allowed only at the start of the file)");
    } else {
        snprintf(out, n, "byte 0x%02x", c);
    }
}

static int newline(struct lex *l)
{
    if (l->one_line)
        return fail_at(l, l->p, "a newline in a command-line setting; expected one KEY=VALUE "
                                "(use ';' to separate several)");
    l->p++;
    l->line++;
    l->line_start = l->p;
    return 0;
}

static void skip_blank(struct lex *l)
{
    while (l->p < l->len && (l->b[l->p] == ' ' || l->b[l->p] == '\t' || l->b[l->p] == '\r'))
        l->p++;
}

static void skip_comment(struct lex *l)
{
    while (l->p < l->len && l->b[l->p] != '\n')
        l->p++;
}

/* Inside a list, newlines and comments are blanks too (xl's `nlok`). */
static int skip_list_blank(struct lex *l)
{
    for (;;) {
        skip_blank(l);
        if (l->p >= l->len)
            return 0;
        if (l->b[l->p] == '#')
            skip_comment(l);
        else if (l->b[l->p] == '\n') {
            if (newline(l) < 0)
                return -1;
        } else
            return 0;
    }
}


/* One backslash escape at l->p; the byte it stands for in *out. */
static int lex_escape(struct lex *l, const struct xlcfg_loc *start, char quote, char *out)
{
    size_t bs = l->p;
    if (bs + 1 >= l->len || l->b[bs + 1] == '\n')
        return fail_loc(l, start, "unterminated string; expected a closing %c on the same line", quote);
    unsigned char n = (unsigned char)l->b[bs + 1];
    int v = -1;
    size_t used = 2;
    switch (n) {
    case '"': case '\'': case '\\': v = n; break;
    case 'a': v = '\a'; break;
    case 'b': v = '\b'; break;
    case 'f': v = '\f'; break;
    case 'n': v = '\n'; break;
    case 'r': v = '\r'; break;
    case 't': v = '\t'; break;
    case 'v': v = '\v'; break;
    case 'x': {
        int h1 = bs + 2 < l->len ? hex_digit((unsigned char)l->b[bs + 2]) : -1;
        int h2 = bs + 3 < l->len ? hex_digit((unsigned char)l->b[bs + 3]) : -1;
        if (h1 < 0 || h2 < 0)
            return fail_at(l, bs, "invalid escape '\\x' in string; expected two hex digits after \\x");
        v = h1 * 16 + h2;
        used = 4;
        break;
    }
    default:
        if (n >= '0' && n <= '7') {
            v = 0;
            used = 1;
            while (used < 4 && bs + used < l->len && l->b[bs + used] >= '0' && l->b[bs + used] <= '7')
                v = v * 8 + (l->b[bs + used++] - '0');
            if (v > 255)
                return fail_at(l, bs, "octal escape out of range in string; expected \\0 to \\377");
        } else if (n >= 0x20 && n < 0x7f) {
            return fail_at(l, bs, "invalid escape '\\%c' in string; expected one of "
                                  "\\\" \\' \\\\ \\a \\b \\f \\n \\r \\t \\v \\xHH \\NNN", n);
        } else {
            return fail_at(l, bs, "invalid escape (backslash before byte 0x%02x) in string; expected one of "
                                  "\\\" \\' \\\\ \\a \\b \\f \\n \\r \\t \\v \\xHH \\NNN", n);
        }
    }
    if (v == 0)
        return fail_at(l, bs, "escape for a NUL character in string; expected text without NUL");
    *out = (char)v;
    l->p += used;
    return 0;
}

static int lex_string(struct lex *l, struct xlcfg_value *v)
{
    char quote = l->b[l->p];
    struct xlcfg_loc start = loc_of(l, l->p);
    char *buf = l->scratch;
    size_t n = 0;
    bool exact = true;
    l->p++;
    for (;;) {
        if (l->p >= l->len || l->b[l->p] == '\n')
            return fail_loc(l, &start, "unterminated string; expected a closing %c on the same line", quote);
        unsigned char c = (unsigned char)l->b[l->p];
        if (c == (unsigned char)quote) {
            l->p++;
            break;
        }
        char out = 0;
        if (c == '\\') {
            if (lex_escape(l, &start, quote, &out) < 0)
                return -1;
            exact = false;
        } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return fail_at(l, l->p, "control character 0x%02x in string; expected printable text "
                                    "or an escape such as \\t", c);
        } else {
            out = (char)c;
            l->p++;
        }
        if (n == XLCFG_MAX_STRING)
            return fail_loc(l, &start, "string longer than %d bytes; expected a shorter value",
                            XLCFG_MAX_STRING);
        buf[n++] = out;
    }
    /* Exactly sized: a file of many short strings must not cost 4 KiB each. */
    v->str = strndup(buf, n);
    if (!v->str)
        return fail_loc(l, &start, "out of memory");
    v->type = XLCFG_STRING;
    v->loc = start;
    v->len = n;
    v->exact = exact;
    return 0;
}

static int lex_number(struct lex *l, struct xlcfg_value *v)
{
    size_t s = l->p;
    while (l->p < l->len && (is_alnum((unsigned char)l->b[l->p]) || l->b[l->p] == '_' || l->b[l->p] == '.'))
        l->p++;
    size_t n = l->p - s;
    char shown[96];
    xlcfg_show(shown, sizeof(shown), l->b + s, n);
    if (n > XLCFG_MAX_NUMBER)
        return fail_at(l, s, "number '%s' is too long; expected at most %d digits", shown, XLCFG_MAX_NUMBER);
    uint64_t dummy;
    switch (xlcfg_parse_u64(l->b + s, n, &dummy)) {
    case XLCFG_NUM_OK:
    case XLCFG_NUM_TOO_BIG:   /* the key's range check says it better */
        break;
    case XLCFG_NUM_LEADING_ZERO:
        return fail_at(l, s, "number '%s' has a leading zero, which xl reads as octal; "
                             "expected a decimal number without leading zeros or 0x hex", shown);
    default:
        return fail_at(l, s, "bad number '%s'; expected a decimal or 0x hexadecimal integer", shown);
    }
    v->type = XLCFG_NUMBER;
    v->loc = loc_of(l, s);
    v->str = strndup(l->b + s, n);
    v->len = n;
    if (!v->str)
        return fail_at(l, s, "out of memory");
    return 0;
}

/* A value that is not a string, number or list: say what it looks like. */
static int bad_value(struct lex *l)
{
    size_t s = l->p;
    unsigned char c = s < l->len ? (unsigned char)l->b[s] : 0;
    if (c == '-' && s + 1 < l->len && is_digit((unsigned char)l->b[s + 1])) {
        size_t e = s + 1;
        while (e < l->len && is_alnum((unsigned char)l->b[e]))
            e++;
        char shown[96];
        xlcfg_show(shown, sizeof(shown), l->b + s, e - s);
        return fail_at(l, s, "negative number '%s'; expected a whole number >= 0", shown);
    }
    if (s < l->len && (is_alpha(c) || c == '_')) {
        size_t e = s;
        while (e < l->len && is_word((unsigned char)l->b[e]))
            e++;
        char shown[96];
        xlcfg_show(shown, sizeof(shown), l->b + s, e - s);
        if (!strcmp(shown, "True") || !strcmp(shown, "False"))
            return fail_at(l, s, "'%s' is Python, not xl.cfg; expected 1 or 0", shown);
        if (!strcmp(shown, "None"))
            return fail_at(l, s, "'None' is Python, not xl.cfg; expected a value: \"string\", number or [list]");
        /* Quoting it would only move the error to the key's check. */
        if (l->key && xl_key_number(l->key))
            return fail_at(l, s, "unquoted word '%s'; %s takes a number", shown, l->key);
        return fail_at(l, s, "unquoted word '%s'; expected a number, a \"string\" or a [list]", shown);
    }
    char what[128];
    describe(l, s, what, sizeof(what));
    return fail_at(l, s, "unexpected %s; expected a value: \"string\", number or [list]", what);
}

struct list_builder {
    struct xlcfg_value *items;
    size_t n, cap;
    struct xlcfg_loc loc;
    bool expect_sep;    /* an item was just read: ',' or ']' comes next */
};

static void free_builders(struct list_builder *st, int depth)
{
    for (int d = 0; d < depth; d++) {
        for (size_t i = 0; i < st[d].n; i++)
            xlcfg_value_free(&st[d].items[i]);
        free(st[d].items);
    }
}

static int builder_add(struct lex *l, struct list_builder *b, struct xlcfg_value *v)
{
    if (b->n == XLCFG_MAX_ITEMS) {
        struct xlcfg_loc loc = v->loc;
        xlcfg_value_free(v);
        return fail_loc(l, &loc, "list has more than %d items; expected at most %d", XLCFG_MAX_ITEMS,
                        XLCFG_MAX_ITEMS);
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4;
        struct xlcfg_value *items = realloc(b->items, cap * sizeof(*items));
        if (!items) {
            xlcfg_value_free(v);
            return fail_loc(l, &b->loc, "out of memory");
        }
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n++] = *v;
    memset(v, 0, sizeof(*v));
    b->expect_sep = true;
    return 0;
}

/* One value; lists are built with an explicit stack, not recursion, so
 * nesting costs no C stack whatever the input. */
static int lex_value(struct lex *l, struct xlcfg_value *out)
{
    struct list_builder st[XLCFG_MAX_DEPTH];
    int depth = 0;
    struct xlcfg_value v;
    for (;;) {
        memset(&v, 0, sizeof(v));
        if (depth > 0) {
            if (skip_list_blank(l) < 0)
                goto fail;
        } else {
            skip_blank(l);
        }
        struct list_builder *top = depth > 0 ? &st[depth - 1] : NULL;
        if (top && l->p >= l->len) {
            fail_loc(l, &top->loc, "'[' is never closed; expected ']'");
            goto fail;
        }
        char c = l->p < l->len ? l->b[l->p] : 0;
        if (top && (top->expect_sep || c == ']')) {
            if (c == ',' && top->expect_sep) {
                l->p++;
                top->expect_sep = false;
                continue;
            }
            if (c != ']') {
                char what[128];
                describe(l, l->p, what, sizeof(what));
                if (top->loc.line && top->loc.line != l->line)
                    fail_at(l, l->p, "unexpected %s in the list opened on line %d; expected ',' or ']'", what,
                            top->loc.line);
                else
                    fail_at(l, l->p, "unexpected %s in the list; expected ',' or ']'", what);
                goto fail;
            }
            l->p++;
            v.type = XLCFG_LIST;
            v.loc = top->loc;
            v.items = top->items;
            v.nitems = top->n;
            depth--;
        } else if (c == '[' && l->p < l->len) {
            if (depth == XLCFG_MAX_DEPTH) {
                fail_at(l, l->p, "lists nested more than %d deep; expected at most %d", XLCFG_MAX_DEPTH,
                        XLCFG_MAX_DEPTH);
                goto fail;
            }
            memset(&st[depth], 0, sizeof(st[depth]));
            st[depth].loc = loc_of(l, l->p);
            depth++;
            l->p++;
            continue;
        } else if (c == '"' || c == '\'') {
            if (lex_string(l, &v) < 0)
                goto fail;
        } else if (l->p < l->len && is_digit((unsigned char)c)) {
            if (lex_number(l, &v) < 0)
                goto fail;
        } else {
            bad_value(l);
            goto fail;
        }
        if (depth == 0) {
            *out = v;
            return 0;
        }
        if (builder_add(l, &st[depth - 1], &v) < 0)
            goto fail;
    }
fail:
    xlcfg_value_free(&v);
    free_builders(st, depth);
    return -1;
}

static int lex_key(struct lex *l, char **key)
{
    size_t s = l->p;
    while (l->p < l->len && is_word((unsigned char)l->b[l->p]))
        l->p++;
    size_t n = l->p - s;
    char shown[96];
    xlcfg_show(shown, sizeof(shown), l->b + s, n);
    if (n > XLCFG_MAX_KEY)
        return fail_at(l, s, "key '%s' is too long; expected at most %d characters", shown, XLCFG_MAX_KEY);
    bool upper = false;
    for (size_t i = 0; i < n; i++)
        upper |= is_upper((unsigned char)l->b[s + i]) != 0;
    if (upper) {
        char lower[XLCFG_MAX_KEY + 1];
        for (size_t i = 0; i < n; i++)
            lower[i] = (char)to_lower((unsigned char)l->b[s + i]);
        lower[n] = 0;
        return fail_at(l, s, "'%s' has upper-case letters; expected '%s' (xl keys are lower case)", shown, lower);
    }
    *key = strndup(l->b + s, n);
    if (!*key)
        return fail_at(l, s, "out of memory");
    return 0;
}

static int add_setting(struct lex *l, struct xlcfg *c, struct xlcfg_setting *s, size_t *cap)
{
    if (c->n == XLCFG_MAX_SETTINGS)
        return fail_loc(l, &s->loc, "more than %d settings; expected at most %d", XLCFG_MAX_SETTINGS,
                        XLCFG_MAX_SETTINGS);
    if (c->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct xlcfg_setting *v = realloc(c->v, ncap * sizeof(*v));
        if (!v)
            return fail_loc(l, &s->loc, "out of memory");
        c->v = v;
        *cap = ncap;
    }
    c->v[c->n++] = *s;
    return 0;
}

/* One `KEY = VALUE` from l->p (at the key) to just before its terminator. */
static int lex_setting(struct lex *l, struct xlcfg_setting *s)
{
    memset(s, 0, sizeof(*s));
    s->loc = loc_of(l, l->p);
    if (lex_key(l, &s->key) < 0)
        return -1;
    l->key = s->key;
    skip_blank(l);
    char what[128];
    if (l->p < l->len && l->b[l->p] == '=') {
        s->op = XLCFG_SET;
        l->p++;
    } else if (l->p + 1 < l->len && l->b[l->p] == '+' && l->b[l->p + 1] == '=') {
        s->op = XLCFG_APPEND;
        l->p += 2;
    } else {
        char shown[96];
        xlcfg_show(shown, sizeof(shown), s->key, strlen(s->key));
        describe(l, l->p, what, sizeof(what));
        fail_at(l, l->p, "unexpected %s after '%s'; expected '=' or '+='", what, shown);
        goto fail;
    }
    skip_blank(l);
    if (lex_value(l, &s->value) < 0)
        goto fail;
    skip_blank(l);
    if (l->p < l->len && l->b[l->p] != '\n' && l->b[l->p] != ';' && l->b[l->p] != '#') {
        describe(l, l->p, what, sizeof(what));
        fail_at(l, l->p, "unexpected %s after the value; expected ';', a newline or a # comment", what);
        goto fail;
    }
    return 0;
fail:
    l->key = NULL;
    free(s->key);
    xlcfg_value_free(&s->value);
    s->key = NULL;
    return -1;
}

int xlcfg_parse(struct xlcfg *out, const char *buf, size_t len, const char *src, unsigned flags,
                char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    struct lex l = {.b = buf, .len = len, .line = 1, .one_line = (flags & XLCFG_ONE_LINE) != 0,
                    .src = src, .err = err, .errlen = errlen};
    if (len > XLCFG_MAX_INPUT) {
        struct xlcfg_loc loc = {src, 0, 0};
        return xlcfg_error(err, errlen, &loc, "%zu bytes is too large for a config file; expected at most %u",
                           len, XLCFG_MAX_INPUT);
    }
    struct xlcfg c = {0};
    size_t cap = 0;
    c.src = strdup(src);
    if (!c.src) {
        struct xlcfg_loc loc = {src, 0, 0};
        return xlcfg_error(err, errlen, &loc, "out of memory");
    }
    l.src = c.src;
    l.scratch = malloc(XLCFG_MAX_STRING + 1);
    if (!l.scratch) {
        fail_at(&l, 0, "out of memory");
        goto fail;
    }
    /* A NUL means a binary file, whatever the syntax around it: say so first. */
    const char *nul = len ? memchr(buf, 0, len) : NULL;
    if (nul) {
        for (const char *q = buf; q < nul; q++) {
            if (*q == '\n') {
                l.line++;
                l.line_start = (size_t)(q - buf) + 1;
            }
        }
        fail_at(&l, (size_t)(nul - buf), "NUL byte in the file; expected text");
        goto fail;
    }
    /* Editors on other systems save a UTF-8 byte-order mark; it means
     * nothing here, and columns count from after it. */
    if (!l.one_line && len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
        l.p = l.line_start = 3;
    char what[128];
    while (l.p < l.len) {
        skip_blank(&l);
        if (l.p >= l.len)
            break;
        unsigned char ch = (unsigned char)l.b[l.p];
        if (ch == '#') {
            skip_comment(&l);
        } else if (ch == '\n') {
            if (newline(&l) < 0)
                goto fail;
        } else if (ch == ';') {
            l.p++;
        } else if (is_alpha(ch) || ch == '_') {
            struct xlcfg_setting s;
            if (lex_setting(&l, &s) < 0)
                goto fail;
            if (add_setting(&l, &c, &s, &cap) < 0) {
                free(s.key);
                xlcfg_value_free(&s.value);
                goto fail;
            }
        } else {
            describe(&l, l.p, what, sizeof(what));
            fail_at(&l, l.p, "unexpected %s; expected a setting such as name = \"vm1\"", what);
            goto fail;
        }
    }
    free(l.scratch);
    *out = c;
    return 0;
fail:
    free(l.scratch);
    xlcfg_free(&c);
    return -1;
}

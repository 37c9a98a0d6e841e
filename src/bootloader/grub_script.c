#include "bootloader/grub_script.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- memory: one chunk list per script, freed at once ---- */

struct gs_chunk {
    struct gs_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

static void *arena_alloc(struct gs_script *s, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct gs_chunk *c = s->mem;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = s->mem;
        c->used = 0;
        c->cap = cap;
        s->mem = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

void gs_free(struct gs_script *s)
{
    if (!s)
        return;
    while (s->mem) {
        struct gs_chunk *n = s->mem->next;
        free(s->mem);
        s->mem = n;
    }
    free(s->src);
    free((char *)s->fname);
    free(s);
}

/* ---- lexer ---- */

enum tok { T_WORD, T_SEP, T_LBRACE, T_RBRACE, T_EOF, T_ERR };

struct parser {
    struct gs_script *s;
    const char *src;
    size_t len, pos;
    unsigned line;
    bool have;                 /* a token is peeked */
    enum tok t;
    struct gs_word w;
    unsigned tline;
    unsigned depth;
    unsigned elifs;            /* of the 'if' being parsed: each is one level of recursion */
    char *err;
    size_t errlen;
    bool failed;
};

static enum tok perr(struct parser *p, unsigned line, const char *fmt, ...)
{
    if (!p->failed) {
        int n = snprintf(p->err, p->errlen, "%s:%u: ", p->s->fname, line);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < p->errlen)
            vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    p->failed = true;
    return T_ERR;
}

/* Skips to the closing quote of a quoted part starting at p->pos;
 * backslashes escape in double quotes only. */
static bool skip_quoted(struct parser *p, char q)
{
    unsigned opened = p->line;
    p->pos++;
    while (p->pos < p->len && p->src[p->pos] != q) {
        if (p->src[p->pos] == '\\' && q == '"' && p->pos + 1 < p->len)
            p->pos++;
        if (p->src[p->pos] == '\n')
            p->line++;
        p->pos++;
    }
    if (p->pos == p->len) {
        perr(p, opened, "unterminated %s quote", q == '"' ? "double" : "single");
        return false;
    }
    p->pos++;
    return true;
}

static enum tok lex(struct parser *p)
{
    const char *s = p->src;
    for (;;) {
        while (p->pos < p->len) {
            char c = s[p->pos];
            if (c == ' ' || c == '\t' || c == '\r') {
                p->pos++;
            } else if (c == '\\' && p->pos + 1 < p->len && s[p->pos + 1] == '\n') {
                p->pos += 2;
                p->line++;
            } else {
                break;
            }
        }
        p->tline = p->line;
        if (p->pos == p->len)
            return T_EOF;
        char c = s[p->pos];
        if (c == '#') {
            while (p->pos < p->len && s[p->pos] != '\n')
                p->pos++;
            continue;
        }
        if (c == '\n') {
            p->pos++;
            p->line++;
            return T_SEP;
        }
        if (c == ';') {
            p->pos++;
            return T_SEP;
        }
        size_t start = p->pos;
        while (p->pos < p->len) {
            c = s[p->pos];
            if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';')
                break;
            if (c == '\\') {
                if (p->pos + 1 < p->len && s[p->pos + 1] == '\n')
                    p->line++;
                p->pos += p->pos + 1 < p->len ? 2 : 1;
            } else if (c == '\'' || c == '"') {
                if (!skip_quoted(p, c))
                    return T_ERR;
            } else if (c == '$' && p->pos + 1 < p->len && s[p->pos + 1] == '{') {
                const char *end = memchr(s + p->pos, '}', p->len - p->pos);
                if (!end)
                    return perr(p, p->line, "'${' without its '}'");
                p->pos = (size_t)(end - s) + 1;
            } else {
                p->pos++;
            }
        }
        p->w.s = s + start;
        p->w.len = p->pos - start;
        if (p->w.len == 1 && s[start] == '{')
            return T_LBRACE;
        if (p->w.len == 1 && s[start] == '}')
            return T_RBRACE;
        return T_WORD;
    }
}

static enum tok peek(struct parser *p)
{
    if (!p->have) {
        p->t = p->failed ? T_ERR : lex(p);
        p->have = true;
    }
    return p->t;
}

static void take(struct parser *p)
{
    p->have = false;
}

static bool word_is(const struct gs_word *w, const char *kw)
{
    return w->len == strlen(kw) && !memcmp(w->s, kw, w->len);
}

static bool at_keyword(struct parser *p, const char *const *kws)
{
    if (peek(p) != T_WORD)
        return false;
    for (; kws && *kws; kws++)
        if (word_is(&p->w, *kws))
            return true;
    return false;
}

/* ---- parser ---- */

static struct gs_node *parse_list(struct parser *p, const char *const *stop);

static struct gs_node *new_node(struct parser *p, enum gs_kind kind, unsigned line)
{
    struct gs_node *n = arena_alloc(p->s, sizeof(*n));
    if (!n) {
        perr(p, line, "out of memory");
        return NULL;
    }
    n->kind = kind;
    n->file = p->s->fname;
    n->line = line;
    return n;
}

/* Words until a separator (or '{' when brace_ends), into n->words. */
static bool collect_words(struct parser *p, struct gs_node *n, bool brace_ends)
{
    struct gs_word tmp[64], *w = tmp;
    size_t cap = 64, cnt = 0;
    bool ok = false;
    for (;;) {
        enum tok t = peek(p);
        if (t == T_ERR)
            goto out;
        if (t != T_WORD)
            break;
        if (cnt == GS_MAX_WORDS) {
            perr(p, p->tline, "a command of more than %d words", GS_MAX_WORDS);
            goto out;
        }
        if (cnt == cap) {
            struct gs_word *nw = malloc(2 * cap * sizeof(*nw));
            if (!nw) {
                perr(p, p->tline, "out of memory");
                goto out;
            }
            memcpy(nw, w, cnt * sizeof(*w));
            if (w != tmp)
                free(w);
            w = nw;
            cap *= 2;
        }
        w[cnt++] = p->w;
        take(p);
    }
    if (peek(p) == T_LBRACE && !brace_ends) {
        perr(p, p->tline, "unexpected '{'");
        goto out;
    }
    n->words = arena_alloc(p->s, (cnt ? cnt : 1) * sizeof(*w));
    if (!n->words) {
        perr(p, n->line, "out of memory");
        goto out;
    }
    memcpy(n->words, w, cnt * sizeof(*w));
    n->nwords = (unsigned)cnt;
    ok = true;
out:
    if (w != tmp)
        free(w);
    return ok;
}

static bool expect_kw(struct parser *p, const char *kw, const char *what, unsigned line)
{
    if (at_keyword(p, (const char *const[]){kw, NULL})) {
        take(p);
        return true;
    }
    if (!p->failed)
        perr(p, peek(p) == T_EOF ? line : p->tline, "%s without its '%s'", what, kw);
    return false;
}

static bool expect_rbrace(struct parser *p, const char *what, unsigned line)
{
    if (peek(p) == T_RBRACE) {
        take(p);
        return true;
    }
    if (!p->failed)
        perr(p, line, "%s: '{' without its '}'", what);
    return false;
}

static struct gs_node *parse_if(struct parser *p, unsigned line)
{
    struct gs_node *n = new_node(p, GS_IF, line);
    if (!n)
        return NULL;
    n->cond = parse_list(p, (const char *const[]){"then", NULL});
    if (p->failed || !expect_kw(p, "then", "'if'", line))
        return NULL;
    n->body = parse_list(p, (const char *const[]){"elif", "else", "fi", NULL});
    if (p->failed)
        return NULL;
    if (at_keyword(p, (const char *const[]){"elif", NULL})) {
        unsigned l = p->tline;
        take(p);
        if (++p->elifs > GS_MAX_ELIF)
            return perr(p, l, "more than %d 'elif's in one 'if'", GS_MAX_ELIF), NULL;
        n->els = parse_if(p, l);   /* consumes the shared 'fi' */
        p->elifs--;
        return p->failed ? NULL : n;
    }
    if (at_keyword(p, (const char *const[]){"else", NULL})) {
        take(p);
        n->els = parse_list(p, (const char *const[]){"fi", NULL});
        if (p->failed)
            return NULL;
    }
    return expect_kw(p, "fi", "'if'", line) ? n : NULL;
}

static struct gs_node *parse_loop(struct parser *p, enum gs_kind kind, unsigned line)
{
    struct gs_node *n = new_node(p, kind, line);
    if (!n)
        return NULL;
    if (kind == GS_FOR) {
        /* for NAME in WORDS; do LIST done */
        if (!collect_words(p, n, false))
            return NULL;
        if (n->nwords < 2 || !word_is(&n->words[1], "in"))
            return perr(p, line, "'for' needs NAME in WORDS"), NULL;
        n->words[1] = n->words[0];   /* words = NAME, then the values */
        n->words++;
        n->nwords--;
    } else {
        n->cond = parse_list(p, (const char *const[]){"do", NULL});
        if (p->failed)
            return NULL;
    }
    while (peek(p) == T_SEP)
        take(p);
    if (!expect_kw(p, "do", kind == GS_FOR ? "'for'" : kind == GS_WHILE ? "'while'" : "'until'", line))
        return NULL;
    n->body = parse_list(p, (const char *const[]){"done", NULL});
    if (p->failed)
        return NULL;
    return expect_kw(p, "done", "'do'", line) ? n : NULL;
}

static struct gs_node *parse_block(struct parser *p, enum gs_kind kind, const char *what, unsigned line)
{
    struct gs_node *n = new_node(p, kind, line);
    if (!n || !collect_words(p, n, true))
        return NULL;
    if (kind == GS_FUNC) {
        if (n->nwords != 1)
            return perr(p, line, "'function' needs one name before '{'"), NULL;
        while (peek(p) == T_SEP)
            take(p);
    } else if (!n->nwords) {
        return perr(p, line, "%s without a title", what), NULL;
    }
    if (peek(p) != T_LBRACE)
        return p->failed ? NULL : (perr(p, line, "%s without '{' on its line", what), NULL);
    take(p);
    n->body = parse_list(p, NULL);
    if (p->failed || !expect_rbrace(p, what, line))
        return NULL;
    return n;
}

static struct gs_node *parse_command(struct parser *p)
{
    unsigned line = p->tline;
    static const char *const misplaced[] = {"then", "elif", "else", "fi", "do", "done", NULL};
    if (at_keyword(p, misplaced)) {
        char kw[8];
        snprintf(kw, sizeof(kw), "%.*s", (int)p->w.len, p->w.s);
        return perr(p, line, "unexpected '%s'", kw), NULL;
    }
    if (p->depth >= GS_MAX_DEPTH)
        return perr(p, line, "blocks nested more than %d deep", GS_MAX_DEPTH), NULL;
    struct gs_word w = p->w;
    struct gs_node *n;
    p->depth++;
    if (word_is(&w, "if")) {
        take(p);
        n = parse_if(p, line);
    } else if (word_is(&w, "for") || word_is(&w, "while") || word_is(&w, "until")) {
        take(p);
        n = parse_loop(p, w.s[0] == 'f' ? GS_FOR : w.s[0] == 'w' ? GS_WHILE : GS_UNTIL, line);
    } else if (word_is(&w, "function")) {
        take(p);
        n = parse_block(p, GS_FUNC, "'function'", line);
    } else if (word_is(&w, "menuentry")) {
        take(p);
        n = parse_block(p, GS_MENU, "'menuentry'", line);
    } else if (word_is(&w, "submenu")) {
        take(p);
        n = parse_block(p, GS_SUBMENU, "'submenu'", line);
    } else {
        n = new_node(p, GS_CMD, line);
        if (n && !collect_words(p, n, false))
            n = NULL;
    }
    p->depth--;
    return n;
}

static struct gs_node *parse_list(struct parser *p, const char *const *stop)
{
    struct gs_node *first = NULL, **tail = &first;
    for (;;) {
        enum tok t = peek(p);
        if (t == T_SEP) {
            take(p);
            continue;
        }
        if (t == T_EOF || t == T_RBRACE || t == T_ERR || at_keyword(p, stop))
            return first;
        if (t == T_LBRACE)
            return perr(p, p->tline, "unexpected '{'"), NULL;
        struct gs_node *n = parse_command(p);
        if (!n)
            return NULL;
        *tail = n;
        tail = &n->next;
    }
}

int gs_parse(const char *buf, size_t len, const char *fname, struct gs_script **out, char *err, size_t errlen)
{
    struct gs_script *s = calloc(1, sizeof(*s));
    if (!s || !(s->src = malloc(len + 1)) || !(s->fname = strdup(fname ? fname : "grub.cfg"))) {
        gs_free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(s->src, buf, len);
    s->src[len] = 0;
    struct parser p = {.s = s, .src = s->src, .len = len, .line = 1, .err = err, .errlen = errlen};
    if (memchr(buf, 0, len)) {
        unsigned line = 1;
        for (const char *c = buf; *c; c++)
            line += *c == '\n';
        perr(&p, line, "a NUL byte; expected text");
        gs_free(s);
        return -1;
    }
    s->first = parse_list(&p, NULL);
    if (!p.failed && peek(&p) == T_RBRACE)
        perr(&p, p.tline, "'}' without its '{'");
    if (p.failed) {
        gs_free(s);
        return -1;
    }
    *out = s;
    return 0;
}

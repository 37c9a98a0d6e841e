/* Runs a parsed grub.cfg as GRUB does: expands and runs its commands (the
 * built-in ones are in grub_cmds.c), keeps its functions, and builds its
 * menu.  Also: errors, GRUB's device names and paths. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"

int gerr(struct gctx *c, const char *fmt, ...)
{
    if (!c->fatal) {
        int n = c->line ? snprintf(c->err, c->errlen, "%s:%u: ", c->file ? c->file : "grub.cfg", c->line)
                        : snprintf(c->err, c->errlen, "%s: ", c->file ? c->file : "grub.cfg");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < c->errlen)
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    c->fatal = true;
    return -1;
}

void gwarn(struct gctx *c, const char *fmt, ...)
{
    if (c->warning[0])
        return;   /* the first one is the one worth reading */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->warning, sizeof(c->warning), fmt, ap);
    va_end(ap);
}

void grub_device_name(const struct bl_host *h, unsigned part, char *out, size_t outlen)
{
    if (!part || !h->scheme)
        snprintf(out, outlen, "hd0");
    else
        snprintf(out, outlen, "hd0,%s%u", h->scheme, part);
}

/* ---- devices and paths ---- */

static int why_fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int why_fail(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
    return -1;
}

/* GRUB device names for the boot disk: hd0, hd0,N, hd0,msdosN, hd0,gptN. */
int gparse_device(struct gctx *c, const char *dev, size_t len, unsigned *part, char *why, size_t whylen)
{
    if (len >= 2 && dev[0] == '(' && dev[len - 1] == ')')
        dev++, len -= 2;
    if (!len)
        return why_fail(why, whylen, "no device: $root is empty");
    int shown = len > 64 ? 64 : (int)len;
    if (len < 3 || memcmp(dev, "hd0", 3) || (len > 3 && dev[3] != ','))
        return why_fail(why, whylen, "device '%.*s' is not the boot disk; vireo reads hd0 (the disk it boots "
                        "from) and its partitions", shown, dev);
    unsigned p = 0;
    if (len > 3) {
        size_t i = 4;
        if (len - i > 5 && !memcmp(dev + i, "msdos", 5))
            i += 5;
        else if (len - i > 3 && !memcmp(dev + i, "gpt", 3))
            i += 3;
        size_t d = i;
        while (i < len && dev[i] >= '0' && dev[i] <= '9' && i - d < 4)
            p = p * 10 + (unsigned)(dev[i++] - '0');
        if (i == d || p == 0)
            return why_fail(why, whylen, "device '%.*s': expected a partition number such as hd0,gpt2", shown, dev);
        if (i < len)
            return why_fail(why, whylen, "device '%.*s': nested partitions (BSD disk labels) are not supported",
                            shown, dev);
    }
    if (!c->h->has_part(c->h->ctx, p))
        return why_fail(why, whylen, "(%.*s): no such partition, or no file system vireo reads there", shown, dev);
    *part = p;
    return 0;
}

int gresolve(struct gctx *c, const char *arg, unsigned *part, char *path, size_t pathlen, char *why,
             size_t whylen)
{
    const char *rest = arg, *dev;
    size_t devlen;
    if (arg[0] == '(') {
        const char *close = strchr(arg, ')');
        if (!close)
            return why_fail(why, whylen, "'%.64s': '(' without ')'", arg);
        dev = arg + 1;
        devlen = (size_t)(close - dev);
        rest = close + 1;
    } else {
        dev = gvars_get(c->vars, "root");
        if (!dev)
            dev = "";
        devlen = strlen(dev);
    }
    if (!rest[0])
        return why_fail(why, whylen, "'%.64s' names a device, not a file", arg);
    if (rest[0] != '/')
        return why_fail(why, whylen, "'%.64s' is not an absolute path", arg);
    if (strlen(rest) >= pathlen)
        return why_fail(why, whylen, "path '%.64s...' is longer than %zu bytes", arg, pathlen - 1);
    if (gparse_device(c, dev, devlen, part, why, whylen) < 0)
        return -1;
    strcpy(path, rest);
    return 0;
}

/* A file an entry loads: resolved and present, or a fatal error. */
int gneed_file(struct gctx *c, const char *cmd, const char *arg, struct bl_file_ref *ref)
{
    char why[256];
    if (gresolve(c, arg, &ref->part, ref->path, sizeof(ref->path), why, sizeof(why)) < 0)
        return gerr(c, "%s: %s", cmd, why);
    uint64_t size;
    bool dir;
    if (c->h->stat(c->h->ctx, ref->part, ref->path, &size, &dir) != 0) {
        char dev[32];
        grub_device_name(c->h, ref->part, dev, sizeof(dev));
        return gerr(c, "%s: (%s)%.900s does not exist", cmd, dev, ref->path);
    }
    if (dir)
        return gerr(c, "%s: %.900s is a directory", cmd, ref->path);
    return 0;
}

/* ---- scripts ---- */


static int keep_script(struct gctx *c, struct gs_script *s)
{
    struct gs_script **ns = realloc(c->scripts, (c->nscripts + 1) * sizeof(*ns));
    if (!ns) {
        gs_free(s);
        return gerr(c, "out of memory");
    }
    c->scripts = ns;
    c->scripts[c->nscripts++] = s;
    return 0;
}

int gparse_keep(struct gctx *c, const char *buf, size_t len, const char *name, struct gs_script **out)
{
    if (c->script_bytes + len > GRUB_MAX_SCRIPT_BYTES)
        return gerr(c, "more than %u bytes of scripts in all (grub.cfg and what it sources)", GRUB_MAX_SCRIPT_BYTES);
    c->script_bytes += len;
    char perr[512];
    if (gs_parse(buf, len, name, out, perr, sizeof(perr)) < 0) {
        /* The parser's message names the file and line already. */
        if (!c->fatal)
            snprintf(c->err, c->errlen, "%s", perr);
        c->fatal = true;
        return -1;
    }
    return keep_script(c, *out);
}

/* ---- the menu ---- */

static void item_free(struct gitem *it)
{
    free(it->title);
    free(it->id);
    for (unsigned i = 0; i < it->nargs; i++)
        free(it->args[i]);
    free(it->args);
}

void gmenu_free(struct gmenu *m)
{
    for (unsigned i = 0; i < m->n; i++)
        item_free(&m->items[i]);
    free(m->items);
    m->items = NULL;
    m->n = 0;
}

struct gitem *gmenu_add(struct gctx *c)
{
    struct gmenu *m = c->menu;
    if (m->n == GRUB_MAX_ITEMS) {
        gerr(c, "more than %d menu entries", GRUB_MAX_ITEMS);
        return NULL;
    }
    if (!(m->n % 32)) {
        struct gitem *ni = realloc(m->items, (m->n + 32) * sizeof(*ni));
        if (!ni) {
            gerr(c, "out of memory");
            return NULL;
        }
        m->items = ni;
    }
    struct gitem *it = &m->items[m->n++];
    memset(it, 0, sizeof(*it));
    return it;
}

/* menuentry/submenu TITLE [--class C] [--users U] [--unrestricted]
 * [--hotkey K] [--id ID] [ARG...] { ... } */
static void define_item(struct gctx *c, const struct gs_node *n)
{
    struct gfields f;
    if (gexpand_all(c, n->words, n->nwords, &f) < 0)
        return;
    char *title = NULL, *id = NULL;
    /* Options may come before or after the title (GRUB parses them as
     * getopt does); the first other word is the title, the rest are the
     * body's $1, $2, ... */
    char **args = calloc(f.n ? f.n : 1, sizeof(char *));
    unsigned nargs = 0;
    if (!args) {
        gerr(c, "out of memory");
        gfields_free(&f);
        return;
    }
    for (unsigned i = 0; i < f.n; i++) {
        const char *a = f.v[i];
        if (!strcmp(a, "--class") || !strcmp(a, "--users") || !strcmp(a, "--hotkey") || !strcmp(a, "--source")) {
            i++;
        } else if (!strcmp(a, "--id")) {
            if (i + 1 < f.n) {
                free(id);
                id = f.v[++i];
                f.v[i] = NULL;
            }
        } else if (!strncmp(a, "--id=", 5)) {
            free(id);
            id = strdup(a + 5);
        } else if (!strncmp(a, "--", 2) && a[2]) {
            /* --unrestricted, --class=x and the like: nothing to do with what boots */
        } else if (!title) {
            title = f.v[i];
            f.v[i] = NULL;
        } else {
            args[nargs++] = f.v[i];
            f.v[i] = NULL;
        }
    }
    struct gitem *it = title ? gmenu_add(c) : NULL;
    if (!it) {
        if (!title)
            gerr(c, "%s without a title", n->kind == GS_SUBMENU ? "submenu" : "menuentry");
        free(title);
        free(id);
        for (unsigned i = 0; i < nargs; i++)
            free(args[i]);
        free(args);
        gfields_free(&f);
        return;
    }
    it->title = title;
    it->id = id;
    it->submenu = n->kind == GS_SUBMENU;
    it->node = n;
    it->args = args;
    it->nargs = nargs;
    gfields_free(&f);
}

/* ---- running ---- */

static const struct gfunc *find_func(struct gctx *c, const char *name)
{
    for (unsigned i = 0; i < c->nfuncs; i++)
        if (!strcmp(c->funcs[i].name, name))
            return &c->funcs[i];
    return NULL;
}

static int call_func(struct gctx *c, const struct gfunc *f, char **argv, unsigned argc)
{
    if (c->calls >= GRUB_MAX_CALL_DEPTH)
        return gerr(c, "functions call each other more than %d deep", GRUB_MAX_CALL_DEPTH);
    char **sv = c->argv;
    unsigned sc = c->argc, sl = c->loops;
    c->argv = argv + 1;
    c->argc = argc - 1;
    c->calls++;
    c->loops = 0;
    c->status = 0;
    gexec_list(c, f->node->body);
    c->calls--;
    c->loops = sl;
    c->argv = sv;
    c->argc = sc;
    if (c->flow == FLOW_RETURN || c->flow == FLOW_BREAK || c->flow == FLOW_CONTINUE)
        c->flow = FLOW_NONE;
    return c->fatal ? -1 : c->status;
}

/* NAME=VALUE as a command of one word. */
static bool is_assignment(const struct gs_node *n)
{
    if (n->nwords != 1)
        return false;
    const char *eq = memchr(n->words[0].s, '=', n->words[0].len);
    return eq && gvar_name_ok(n->words[0].s, (size_t)(eq - n->words[0].s));
}

static void exec_cmd(struct gctx *c, const struct gs_node *n)
{
    struct gfields f;
    if (gexpand_all(c, n->words, n->nwords, &f) < 0)
        return;
    int st = 0;
    if (is_assignment(n)) {
        char *joined = f.n ? f.v[0] : NULL;
        char *eq = joined ? strchr(joined, '=') : NULL;
        if (eq) {
            *eq = 0;
            st = gvars_set(c, c->vars, joined, eq + 1);
        }
    } else if (f.n) {
        const struct gfunc *fn = find_func(c, f.v[0]);
        if (fn) {
            st = call_func(c, fn, f.v, f.n);
        } else {
            gcmd fn = gcmd_find(f.v[0]);
            /* Others (insmod, echo, load_video, terminal_output, ...) do nothing here. */
            st = fn ? fn(c, f.v, f.n) : 0;
        }
    }
    if (!c->fatal)
        c->status = st < 0 ? 1 : st;
    gfields_free(&f);
}

static void exec_loop(struct gctx *c, const struct gs_node *n)
{
    struct gfields vals = {0};
    if (n->kind == GS_FOR) {
        if (!gvar_name_ok(n->words[0].s, n->words[0].len)) {
            gerr(c, "'for' needs a variable name");
            return;
        }
        if (gexpand_all(c, n->words + 1, n->nwords - 1, &vals) < 0)
            return;
    }
    char var[160] = "";
    if (n->kind == GS_FOR)
        snprintf(var, sizeof(var), "%.*s", (int)n->words[0].len, n->words[0].s);
    c->loops++;
    for (unsigned i = 0;; i++) {
        if (n->kind == GS_FOR && i == vals.n)
            break;
        if (i == GRUB_MAX_LOOP) {
            gerr(c, "a loop runs more than %d times", GRUB_MAX_LOOP);
            break;
        }
        if (n->kind == GS_FOR) {
            if (gvars_set(c, c->vars, var, vals.v[i]) < 0)
                break;
        } else {
            gexec_list(c, n->cond);
            if (c->fatal || c->flow != FLOW_NONE)
                break;
            if ((c->status == 0) != (n->kind == GS_WHILE))
                break;
        }
        gexec_list(c, n->body);
        if (c->fatal)
            break;
        if (c->flow == FLOW_CONTINUE) {
            c->flow = FLOW_NONE;
            continue;
        }
        if (c->flow == FLOW_BREAK) {
            c->flow = FLOW_NONE;
            break;
        }
        if (c->flow != FLOW_NONE)
            break;
    }
    c->loops--;
    gfields_free(&vals);
}

static void exec_node(struct gctx *c, const struct gs_node *n)
{
    c->file = n->file;
    c->line = n->line;
    if (++c->steps > GRUB_MAX_STEPS) {
        gerr(c, "more than %d commands run (a loop?)", GRUB_MAX_STEPS);
        return;
    }
    switch (n->kind) {
    case GS_CMD:
        exec_cmd(c, n);
        break;
    case GS_IF:
        gexec_list(c, n->cond);
        if (c->fatal || c->flow != FLOW_NONE)
            return;
        if (c->status == 0)
            gexec_list(c, n->body);
        else if (n->els)
            gexec_list(c, n->els);
        else
            c->status = 0;
        break;
    case GS_FOR:
    case GS_WHILE:
    case GS_UNTIL:
        exec_loop(c, n);
        break;
    case GS_FUNC: {
        char name[160];
        snprintf(name, sizeof(name), "%.*s", (int)n->words[0].len, n->words[0].s);
        for (unsigned i = 0; i < c->nfuncs; i++) {
            if (!strcmp(c->funcs[i].name, name)) {
                c->funcs[i].node = n;
                return;
            }
        }
        if (c->nfuncs == GRUB_MAX_FUNCS) {
            gerr(c, "more than %d functions", GRUB_MAX_FUNCS);
            return;
        }
        if (!(c->funcs[c->nfuncs].name = strdup(name))) {
            gerr(c, "out of memory");
            return;
        }
        c->funcs[c->nfuncs++].node = n;
        break;
    }
    case GS_MENU:
    case GS_SUBMENU:
        define_item(c, n);
        break;
    }
}

void gexec_list(struct gctx *c, const struct gs_node *n)
{
    for (; n && !c->fatal && c->flow == FLOW_NONE; n = n->next)
        exec_node(c, n);
}


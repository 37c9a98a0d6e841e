/* Choosing what to boot from the menu grub.cfg built, as GRUB does with
 * `default` (or pygrub's --entry), running the chosen entry's commands,
 * and the two entry points (grub.cfg; BLS entries alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"


/* One component of a default/entry path: up to a single '>' (">>" is a
 * literal '>'), unescaped into out; *rest after it, or NULL. */
static void split_path(const char *s, char *out, size_t outlen, const char **rest)
{
    size_t o = 0;
    *rest = NULL;
    for (; *s; s++) {
        if (*s == '>') {
            if (s[1] != '>') {
                *rest = s + 1;
                break;
            }
            s++;
        }
        if (o + 1 < outlen)
            out[o++] = *s;
    }
    out[o] = 0;
}

static int find_item(const struct gmenu *m, const char *spec)
{
    if (!spec[0])
        return 0;
    char *end;
    if (spec[0] >= '0' && spec[0] <= '9') {
        unsigned long v = strtoul(spec, &end, 10);
        if (!*end)
            return v < m->n ? (int)v : -1;
    }
    for (unsigned i = 0; i < m->n; i++)
        if ((m->items[i].id && !strcmp(m->items[i].id, spec)) || !strcmp(m->items[i].title, spec))
            return (int)i;
    return -1;
}

static void list_items(const struct gmenu *m, char *out, size_t outlen)
{
    size_t o = 0;
    out[0] = 0;
    for (unsigned i = 0; i < m->n && i < 8 && o < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%s%u '%.60s'%s", i ? ", " : "", i, m->items[i].title,
                              m->items[i].submenu ? " (submenu)" : "");
    if (m->n > 8 && o < outlen)
        snprintf(out + o, outlen - o, ", ...");
}

static int boot_bls(struct gctx *c, const struct gitem *it, struct bl_entry *out)
{
    const struct bls_entry *e = it->bls;
    char dev[32], arg[BL_MAX_PATH + 40];
    grub_device_name(c->h, it->bls_part, dev, sizeof(dev));
    snprintf(c->namebuf, sizeof(c->namebuf), "%s.conf", e->id);
    c->file = c->namebuf;
    c->line = 0;
    snprintf(arg, sizeof(arg), "(%s)%s", dev, e->kernel);
    struct gboot *b = &c->boot;
    memset(b, 0, sizeof(*b));
    if (gneed_file(c, "linux", arg, &b->kernel) < 0)
        return -1;
    snprintf(b->kernel_arg, sizeof(b->kernel_arg), "%s", arg);
    for (unsigned i = 0; i < e->ninitrd; i++) {
        char *paths = gexpand_text(c, e->initrd[i]);
        if (!paths)
            return -1;
        for (char *save, *p = strtok_r(paths, " \t", &save); p; p = strtok_r(NULL, " \t", &save)) {
            if (b->ninitrd == BL_MAX_INITRDS) {
                free(paths);
                return gerr(c, "more than %d initrd files", BL_MAX_INITRDS);
            }
            snprintf(arg, sizeof(arg), "(%s)%s", dev, p);
            if (gneed_file(c, "initrd", arg, &b->initrd[b->ninitrd++]) < 0) {
                free(paths);
                return -1;
            }
        }
        free(paths);
    }
    if (e->options) {
        /* Fedora's options name grubenv variables ($kernelopts, $tuned_params). */
        char *o = gexpand_text(c, e->options);
        if (!o)
            return -1;
        if (strlen(o) > BL_MAX_CMDLINE) {
            free(o);
            return gerr(c, "options longer than %d bytes after expansion", BL_MAX_CMDLINE);
        }
        snprintf(b->args, sizeof(b->args), "%s", o);
        free(o);
    }
    b->have_linux = true;
    (void)out;
    return 0;
}

static int run_entry(struct gctx *c, const struct gitem *it, struct bl_entry *out)
{
    struct gvars scope, *outer = c->vars;
    if (gvars_copy(c, &scope, outer) < 0) {
        gvars_free(&scope);
        return -1;
    }
    c->vars = &scope;
    int r = gvars_set(c, &scope, "chosen", it->title);
    char **sv = c->argv;
    unsigned sc = c->argc;
    memset(&c->boot, 0, sizeof(c->boot));
    if (r == 0 && it->bls) {
        r = boot_bls(c, it, out);
    } else if (r == 0) {
        c->argv = it->args;
        c->argc = it->nargs;
        c->flow = FLOW_NONE;
        gexec_list(c, it->node->body);
        c->argv = sv;
        c->argc = sc;
        r = c->fatal ? -1 : 0;
    }
    c->vars = outer;
    gvars_free(&scope);
    if (r < 0)
        return -1;
    const struct gboot *b = &c->boot;
    if (b->unsupported && !b->have_linux)
        return gerr(c, "entry '%.100s' boots with '%s', which vireo cannot do: it boots Linux kernels directly",
                    it->title, b->unsupported);
    if (!b->have_linux)
        return gerr(c, "entry '%.100s' loads no kernel (it has no 'linux' command)", it->title);
    snprintf(out->title, sizeof(out->title), "%s", it->title);
    return 0;
}

static int choose(struct gctx *c, struct gmenu *m, const char *spec, bool strict, unsigned depth,
                  struct bl_entry *out);

enum { FOUND_NONE = 1 };

/* Runs a submenu's body, in a scope of its own, to make its entries, then
 * does what with_sub says in it: choose by spec, or look for a title or id
 * anywhere below (search). */
static int in_submenu(struct gctx *c, const struct gitem *it, const char *spec, bool strict, bool search,
                      unsigned depth, struct bl_entry *out)
{
    if (depth >= GRUB_MAX_SUBMENU_DEPTH)
        return gerr(c, "submenus nested more than %d deep", GRUB_MAX_SUBMENU_DEPTH);
    struct gvars scope, *outer = c->vars;
    struct gmenu sub = {0}, *outer_menu = c->menu;
    if (gvars_copy(c, &scope, outer) < 0) {
        gvars_free(&scope);
        return -1;
    }
    c->vars = &scope;
    c->menu = &sub;
    c->flow = FLOW_NONE;
    gexec_list(c, it->node->body);
    c->flow = FLOW_NONE;
    int r = -1;
    if (!c->fatal && !search) {
        r = choose(c, &sub, spec, strict, depth + 1, out);
    } else if (!c->fatal) {
        int i = find_item(&sub, spec);
        r = FOUND_NONE;
        if (i >= 0 && !sub.items[i].submenu)
            r = run_entry(c, &sub.items[i], out);
        for (unsigned j = 0; r == FOUND_NONE && j < sub.n; j++)
            if (sub.items[j].submenu)
                r = in_submenu(c, &sub.items[j], spec, strict, true, depth + 1, out);
    }
    c->vars = outer;
    c->menu = outer_menu;
    gvars_free(&scope);
    gmenu_free(&sub);
    return r;
}

/* Chooses in menu m by spec (GRUB's default syntax); strict: an entry the
 * user named must exist, while a default that does not falls back to the
 * first entry, as GRUB does.  A title or id the user gave that is not in
 * the menu itself is also looked for inside its submenus (pygrub showed
 * them as one list). */
static int choose(struct gctx *c, struct gmenu *m, const char *spec, bool strict, unsigned depth,
                  struct bl_entry *out)
{
    char comp[BL_MAX_TITLE * 4 + 1];
    const char *rest;
    split_path(spec ? spec : "", comp, sizeof(comp), &rest);
    if (!m->n)
        return gerr(c, "the menu has no entries");
    int i = find_item(m, comp);
    if (i < 0 && strict && !rest && !(comp[0] >= '0' && comp[0] <= '9')) {
        for (unsigned j = 0; j < m->n; j++) {
            if (!m->items[j].submenu)
                continue;
            int r = in_submenu(c, &m->items[j], comp, strict, true, depth, out);
            if (r != FOUND_NONE)
                return r;
        }
    }
    if (i < 0) {
        char list[600];
        list_items(m, list, sizeof(list));
        c->file = c->cfg_name;
        c->line = 0;
        if (strict)
            return gerr(c, "no entry '%.100s'; the menu has %s", comp, list);
        gwarn(c, "the default entry '%.100s' does not exist; booting entry 0 as GRUB would", comp);
        i = 0;
        rest = NULL;
    }
    const struct gitem *it = &m->items[i];
    if (!it->submenu) {
        if (rest && strict)
            return gerr(c, "'%.100s' is an entry, not a submenu", comp);
        return run_entry(c, it, out);
    }
    return in_submenu(c, it, rest, strict, false, depth, out);
}

static void ctx_free(struct gctx *c)
{
    gvars_free(c->vars);
    for (unsigned i = 0; i < c->nfuncs; i++)
        free(c->funcs[i].name);
    for (unsigned i = 0; i < c->nscripts; i++)
        gs_free(c->scripts[i]);
    free(c->scripts);
    for (unsigned i = 0; i < c->nbls_sets; i++)
        bls_free(c->bls[i], c->nbls[i]);
    free(c->bls);
    free(c->nbls);
}

static int finish(struct gctx *c, const struct gboot *b, struct bl_entry *out)
{
    out->kernel = b->kernel;
    out->ninitrd = b->ninitrd;
    memcpy(out->initrd, b->initrd, sizeof(out->initrd));
    /* GRUB's linux loader puts BOOT_IMAGE= first. */
    int n = snprintf(out->cmdline, sizeof(out->cmdline), "BOOT_IMAGE=%s%s%s", b->kernel_arg, b->args[0] ? " " : "",
                     b->args);
    if (n < 0 || (size_t)n >= sizeof(out->cmdline))
        return gerr(c, "the kernel command line is longer than %d bytes", BL_MAX_CMDLINE);
    snprintf(out->warning, sizeof(out->warning), "%s", c->warning);
    return 0;
}

static const char *const features[] = {
    "feature_chainloader_bpb", "feature_ntldr", "feature_platform_search_hint", "feature_default_font_path",
    "feature_all_video_module", "feature_menuentry_id", "feature_menuentry_options", "feature_200_final",
    "feature_nativedisk_cmd", "feature_timeout_style",
};

int grub_find_boot(const struct bl_host *h, const struct grub_start *at, const char *buf, size_t len,
                   const char *entry, struct bl_entry *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    static struct gctx ctx_mem;   /* large (function table); one boot at a time */
    struct gctx *c = &ctx_mem;
    struct gvars vars = {0};
    struct gmenu menu = {0};
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->vars = &vars;
    c->menu = &menu;
    c->err = err;
    c->errlen = errlen;
    err[0] = 0;
    char dev[32], prefix[BL_MAX_PATH + 40], name[BL_MAX_PATH + 80];
    grub_device_name(h, at->part, dev, sizeof(dev));
    snprintf(prefix, sizeof(prefix), "(%s)%s", dev, at->dir);
    snprintf(name, sizeof(name), "%s/%s", prefix, at->file);
    c->file = name;
    snprintf(out->source, sizeof(out->source), "%.180s", name);
    /* What GRUB's own start-up sets before it reads grub.cfg. */
    int r = gvars_set(c, &vars, "root", dev) | gvars_set(c, &vars, "prefix", prefix) |
            gvars_set(c, &vars, "config_directory", prefix) | gvars_set(c, &vars, "grub_platform", "pc") |
            gvars_set(c, &vars, "grub_cpu", "i386") | gvars_set(c, &vars, "cmdpath", prefix);
    for (size_t i = 0; i < sizeof(features) / sizeof(features[0]) && !r; i++)
        r = gvars_set(c, &vars, features[i], "y");
    struct gs_script *s;
    if (!r && gparse_keep(c, buf, len, name, &s) == 0) {
        gexec_list(c, s->first);
        c->flow = FLOW_NONE;
        if (!c->fatal) {
            if (!menu.n && c->boot.have_linux) {
                /* A grub.cfg without a menu that loads a kernel itself. */
                struct gboot b = c->boot;
                snprintf(out->title, sizeof(out->title), "(no menu entry)");
                r = finish(c, &b, out);
            } else if (!menu.n) {
                c->line = 0;
                r = gerr(c, "defines no menu entry");
            } else {
                const char *spec = entry ? entry : gvars_get(c->vars, "default");
                c->file = name;   /* what goes wrong now is about the menu as a whole */
                c->line = 0;
                c->cfg_name = name;
                r = choose(c, &menu, spec, entry != NULL, 0, out);
                if (r == 0)
                    r = finish(c, &c->boot, out);
            }
        }
    }
    if (c->fatal)
        r = -1;
    gmenu_free(&menu);
    ctx_free(c);
    return r < 0 ? -1 : 0;
}

int grub_find_bls_boot(const struct bl_host *h, unsigned part, const char *dir, const char *entry,
                       struct bl_entry *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    static struct gctx ctx_mem;
    struct gctx *c = &ctx_mem;
    struct gvars vars = {0};
    struct gmenu menu = {0};
    memset(c, 0, sizeof(*c));
    c->h = h;
    c->vars = &vars;
    c->menu = &menu;
    c->err = err;
    c->errlen = errlen;
    char dev[32];
    grub_device_name(h, part, dev, sizeof(dev));
    snprintf(out->source, sizeof(out->source), "BLS entries (%s)%s", dev, dir);
    c->file = c->cfg_name = out->source;
    int r = gload_bls(c, part, dir);
    if (r == 1)
        r = gerr(c, "no Linux entry");
    if (r == 0 && !menu.n)
        r = gerr(c, "no Linux entry");
    if (r == 0)
        r = choose(c, &menu, entry ? entry : "0", entry != NULL, 0, out);
    if (r == 0)
        r = finish(c, &c->boot, out);
    if (c->fatal)
        r = -1;
    gmenu_free(&menu);
    ctx_free(c);
    return r < 0 ? -1 : 0;
}
/* GRUB's built-in commands that matter for what boots: set/unset, test,
 * source/configfile, load_env, search, linux/initrd, blscfg, the loop and
 * function controls, and the loaders vireo cannot run (chainloader,
 * multiboot, ...), which make an entry unbootable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bootloader/grub_impl.h"


static int c_nop(struct gctx *c, char **argv, unsigned argc)
{
    (void)c, (void)argv, (void)argc;
    return 0;
}

static int c_false(struct gctx *c, char **argv, unsigned argc)
{
    (void)c, (void)argv, (void)argc;
    return 1;
}

static int c_set(struct gctx *c, char **argv, unsigned argc)
{
    if (argc < 2)
        return 0;
    char *eq = strchr(argv[1], '=');
    if (!eq)
        return 0;   /* `set NAME` prints it */
    if (!gvar_name_ok(argv[1], (size_t)(eq - argv[1])))
        return 1;
    *eq = 0;
    return gvars_set(c, c->vars, argv[1], eq + 1) < 0 ? -1 : 0;
}

static int c_unset(struct gctx *c, char **argv, unsigned argc)
{
    for (unsigned i = 1; i < argc; i++)
        gvars_unset(c->vars, argv[i]);
    return 0;
}

static int c_test(struct gctx *c, char **argv, unsigned argc)
{
    if (!strcmp(argv[0], "[")) {
        if (argc < 2 || strcmp(argv[argc - 1], "]"))
            return 1;   /* GRUB: "] expected" */
        argc--;
    }
    return gtest(c, argv + 1, argc - 1);
}

static int c_flow(struct gctx *c, char **argv, unsigned argc)
{
    const char *w = argv[0];
    if (!strcmp(w, "exit")) {
        c->flow = FLOW_EXIT;
    } else if (!strcmp(w, "return")) {
        if (c->calls)
            c->flow = FLOW_RETURN;
        return argc > 1 ? atoi(argv[1]) & 0xff : c->status;
    } else if (c->loops) {
        c->flow = !strcmp(w, "break") ? FLOW_BREAK : FLOW_CONTINUE;
    }
    return 0;
}

static int run_file(struct gctx *c, const char *arg, bool configfile)
{
    unsigned part;
    char path[BL_MAX_PATH], why[256];
    if (gresolve(c, arg, &part, path, sizeof(path), why, sizeof(why)) < 0) {
        gwarn(c, "%s:%u: %s", c->file, c->line, why);
        return 1;
    }
    if (c->sourcing >= GRUB_MAX_SOURCE_DEPTH)
        return gerr(c, "source/configfile nested more than %d deep (a file that sources itself?)",
                    GRUB_MAX_SOURCE_DEPTH);
    char *buf, err[256];
    size_t len;
    int r = c->h->read_file(c->h->ctx, part, path, GRUB_MAX_CFG, &buf, &len, err, sizeof(err));
    if (r == 1)
        return 1;   /* GRUB: file not found, and the script goes on */
    if (r < 0)
        return gerr(c, "%s", err);
    char dev[32], name[BL_MAX_PATH + 40];
    grub_device_name(c->h, part, dev, sizeof(dev));
    snprintf(name, sizeof(name), "(%s)%s", dev, path);
    struct gs_script *s;
    r = gparse_keep(c, buf, len, name, &s);
    free(buf);
    if (r < 0)
        return -1;
    if (configfile)   /* a new menu, made by the new file only */
        gmenu_free(c->menu);
    const char *file = c->file;
    unsigned line = c->line;
    c->sourcing++;
    gexec_list(c, s->first);
    c->sourcing--;
    c->file = file;
    c->line = line;
    if (c->flow == FLOW_EXIT && !configfile)
        c->flow = FLOW_NONE;
    if (configfile)
        c->flow = FLOW_EXIT;   /* GRUB shows the new menu; the old script never goes on */
    return c->fatal ? -1 : c->status;
}

static int c_source(struct gctx *c, char **argv, unsigned argc)
{
    if (argc < 2)
        return 1;
    return run_file(c, argv[1], !strcmp(argv[0], "configfile"));
}

static int c_load_env(struct gctx *c, char **argv, unsigned argc)
{
    const char *file = NULL;
    char **only = calloc(argc ? argc : 1, sizeof(char *));
    unsigned nonly = 0;
    if (!only)
        return gerr(c, "out of memory");
    for (unsigned i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) && i + 1 < argc)
            file = argv[++i];
        else if (!strncmp(argv[i], "--file=", 7))
            file = argv[i] + 7;
        else if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--skip-sig"))
            continue;
        else
            only[nonly++] = argv[i];
    }
    char deflt[BL_MAX_PATH];
    if (!file) {
        const char *prefix = gvars_get(c->vars, "prefix");
        if (!prefix || strlen(prefix) + 10 > sizeof(deflt)) {
            free(only);
            return 1;
        }
        snprintf(deflt, sizeof(deflt), "%s/grubenv", prefix);
        file = deflt;
    }
    unsigned part;
    char path[BL_MAX_PATH], why[256], *buf;
    size_t len;
    int r = 1;
    if (gresolve(c, file, &part, path, sizeof(path), why, sizeof(why)) == 0) {
        r = c->h->read_file(c->h->ctx, part, path, GRUB_MAX_ENVBLK, &buf, &len, why, sizeof(why));
        if (r < 0) {
            gwarn(c, "load_env: %s", why);
            r = 1;
        } else if (r == 0) {
            r = genv_load(c, buf, len, only, nonly);
            free(buf);
        }
    }
    free(only);
    return r;
}

static int do_search(struct gctx *c, enum bl_find by, const char *key, const char *var)
{
    unsigned part;
    if (c->h->find(c->h->ctx, by, key, &part) != 0)
        return 1;   /* GRUB: no such device; the variable keeps its value */
    if (var) {
        char dev[32];
        grub_device_name(c->h, part, dev, sizeof(dev));
        if (gvars_set(c, c->vars, var, dev) < 0)
            return -1;
    }
    return 0;
}

static int c_search(struct gctx *c, char **argv, unsigned argc)
{
    enum bl_find by = BL_FIND_FILE;
    const char *var = NULL, *key = NULL;
    for (unsigned i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--file") || !strcmp(a, "-f"))
            by = BL_FIND_FILE;
        else if (!strcmp(a, "--label") || !strcmp(a, "-l"))
            by = BL_FIND_LABEL;
        else if (!strcmp(a, "--fs-uuid") || !strcmp(a, "-u"))
            by = BL_FIND_UUID;
        else if (!strcmp(a, "--set") || !strcmp(a, "-s"))
            var = "root";
        else if (!strncmp(a, "--set=", 6))
            var = a + 6;
        else if ((!strcmp(a, "--hint") || !strcmp(a, "-h")) && i + 1 < argc)
            i++;
        else if (a[0] == '-' && a[1] == '-')
            continue;   /* --no-floppy, --hint-bios=..., --efidisk-only */
        else if (!strcmp(a, "-n"))
            continue;
        else if (!key)
            key = a;
    }
    if (!key)
        return 1;
    if (var && !gvar_name_ok(var, strlen(var)))
        return 1;
    return do_search(c, by, key, var);
}

static int c_search_one(struct gctx *c, char **argv, unsigned argc)
{
    if (argc < 2)
        return 1;
    const char *w = argv[0] + 7;   /* after "search." */
    enum bl_find by = !strcmp(w, "fs_uuid") ? BL_FIND_UUID : !strcmp(w, "fs_label") ? BL_FIND_LABEL : BL_FIND_FILE;
    const char *var = argc > 2 ? argv[2] : NULL;
    if (var && !gvar_name_ok(var, strlen(var)))
        return 1;
    return do_search(c, by, argv[1], var);
}

static int c_linux(struct gctx *c, char **argv, unsigned argc)
{
    if (argc < 2)
        return gerr(c, "%s: no kernel file given", argv[0]);
    struct gboot *b = &c->boot;
    memset(b, 0, sizeof(*b));   /* GRUB's linux unloads the previous kernel and initrd */
    if (gneed_file(c, argv[0], argv[1], &b->kernel) < 0)
        return -1;
    snprintf(b->kernel_arg, sizeof(b->kernel_arg), "%s", argv[1]);
    size_t n = 0;
    for (unsigned i = 2; i < argc; i++) {
        size_t l = strlen(argv[i]);
        if (n + l + 1 > BL_MAX_CMDLINE)
            return gerr(c, "%s: the command line would be longer than %d bytes", argv[0], BL_MAX_CMDLINE);
        if (n)
            b->args[n++] = ' ';
        memcpy(b->args + n, argv[i], l);
        n += l;
    }
    b->args[n] = 0;
    b->have_linux = true;
    return 0;
}

static int c_initrd(struct gctx *c, char **argv, unsigned argc)
{
    struct gboot *b = &c->boot;
    if (!b->have_linux)
        return gerr(c, "%s before linux: GRUB needs the kernel loaded first", argv[0]);
    if (argc < 2)
        return gerr(c, "%s: no file given", argv[0]);
    if (argc - 1 > BL_MAX_INITRDS)
        return gerr(c, "%s: more than %d files", argv[0], BL_MAX_INITRDS);
    b->ninitrd = 0;
    for (unsigned i = 1; i < argc; i++)
        if (gneed_file(c, argv[0], argv[i], &b->initrd[b->ninitrd++]) < 0)
            return -1;
    return 0;
}

static int c_unsupported(struct gctx *c, char **argv, unsigned argc)
{
    (void)argc;
    static const char *const loaders[] = {"chainloader", "multiboot", "multiboot2", "kfreebsd", "knetbsd",
                                          "kopenbsd", "appleloader", "ntldr", "xnu_kernel", "xnu_kernel64",
                                          "freedos", "plan9", "truecrypt", "legacy_configfile", "efi", NULL};
    for (const char *const *l = loaders; *l; l++)
        if (!strcmp(*l, argv[0]))
            c->boot.unsupported = *l;
    return 0;
}

static void add_bls_items(struct gctx *c, struct bls_entry *e, unsigned n, unsigned part)
{
    for (unsigned i = 0; i < n && !c->fatal; i++) {
        if (!e[i].kernel)
            continue;   /* as GRUB's blscfg: only Linux entries make menu entries */
        struct gitem *it = gmenu_add(c);
        if (!it)
            return;
        it->title = strdup(e[i].title ? e[i].title : e[i].kernel);
        it->id = strdup(e[i].id);
        it->bls = &e[i];
        it->bls_part = part;
        if (!it->title || !it->id)
            gerr(c, "out of memory");
    }
}

/* Reads BLS entries from dir on partition part into the current menu.
 * 0 done, 1 nothing there, -1 fatal. */
int gload_bls(struct gctx *c, unsigned part, const char *dir)
{
    struct bls_entry *e;
    unsigned n;
    char err[512];
    int r = bls_load(c->h, part, dir, &e, &n, err, sizeof(err));
    if (r < 0)
        return gerr(c, "blscfg: %s", err);
    if (r)
        return 1;
    struct bls_entry **sets = realloc(c->bls, (c->nbls_sets + 1) * sizeof(*sets));
    unsigned *counts = sets ? realloc(c->nbls, (c->nbls_sets + 1) * sizeof(*counts)) : NULL;
    if (sets)
        c->bls = sets;
    if (counts)
        c->nbls = counts;
    if (!sets || !counts) {
        bls_free(e, n);
        return gerr(c, "out of memory");
    }
    c->bls[c->nbls_sets] = e;
    c->nbls[c->nbls_sets++] = n;
    add_bls_items(c, e, n, part);
    return c->fatal ? -1 : 0;
}

/* Fedora's blscfg: the entries in $blsdir (default /loader/entries) of
 * the $boot device (else $root), or under /boot when that device is the
 * root file system. */
static int c_blscfg(struct gctx *c, char **argv, unsigned argc)
{
    (void)argv, (void)argc;
    const char *dev = gvars_get(c->vars, "boot");
    if (!dev || !dev[0])
        dev = gvars_get(c->vars, "root");
    unsigned part;
    char why[256];
    if (!dev || gparse_device(c, dev, strlen(dev), &part, why, sizeof(why)) < 0) {
        gwarn(c, "%s:%u: blscfg: %s", c->file, c->line, dev ? why : "neither $boot nor $root is set");
        return 1;
    }
    const char *blsdir = gvars_get(c->vars, "blsdir");
    const char *dirs[] = {blsdir && blsdir[0] == '/' ? blsdir : "/loader/entries", "/boot/loader/entries"};
    for (unsigned i = 0; i < 2; i++) {
        char d[BL_MAX_PATH];
        snprintf(d, sizeof(d), "%s", dirs[i]);
        size_t l = strlen(d);
        while (l > 1 && d[l - 1] == '/')
            d[--l] = 0;
        int r = gload_bls(c, part, d);
        if (r <= 0)
            return r < 0 ? -1 : 0;
    }
    return 1;
}

static const struct {
    const char *name;
    gcmd fn;
} commands[] = {
    {"set", c_set}, {"unset", c_unset}, {"[", c_test}, {"test", c_test}, {"true", c_nop}, {"false", c_false},
    {"source", c_source}, {".", c_source}, {"configfile", c_source}, {"load_env", c_load_env},
    {"search", c_search}, {"search.fs_uuid", c_search_one}, {"search.fs_label", c_search_one},
    {"search.file", c_search_one}, {"linux", c_linux}, {"linux16", c_linux}, {"linuxefi", c_linux},
    {"initrd", c_initrd}, {"initrd16", c_initrd}, {"initrdefi", c_initrd}, {"blscfg", c_blscfg},
    {"return", c_flow}, {"break", c_flow}, {"continue", c_flow}, {"exit", c_flow},
    {"chainloader", c_unsupported}, {"multiboot", c_unsupported}, {"multiboot2", c_unsupported},
    {"kfreebsd", c_unsupported}, {"knetbsd", c_unsupported}, {"kopenbsd", c_unsupported},
    {"appleloader", c_unsupported}, {"ntldr", c_unsupported}, {"xnu_kernel", c_unsupported},
    {"xnu_kernel64", c_unsupported}, {"freedos", c_unsupported}, {"plan9", c_unsupported},
    {"truecrypt", c_unsupported}, {"legacy_configfile", c_unsupported},
};

gcmd gcmd_find(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return commands[i].fn;
    return NULL;
}

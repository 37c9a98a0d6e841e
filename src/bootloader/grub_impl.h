/* Shared by grub_eval.c (running scripts, building the menu),
 * grub_cmds.c (the built-in commands), grub_menu.c (choosing and running
 * an entry), grub_vars.c (variables and word expansion), grub_test.c (the
 * `[` command) and grubenv.c (GRUB's environment block). */
#ifndef VIREO_BOOTLOADER_GRUB_IMPL_H
#define VIREO_BOOTLOADER_GRUB_IMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "bootloader/bls.h"
#include "bootloader/grub.h"
#include "bootloader/grub_script.h"

struct gvar {
    char *name, *value;
};

struct gvars {
    struct gvar *v;
    unsigned n;
};

struct gitem {
    char *title;
    char *id;                  /* --id, or a BLS entry's file name; NULL: none */
    bool submenu;
    const struct gs_node *node;     /* the menuentry/submenu node (its body runs when chosen) */
    char **args;               /* extra arguments: the body's $1, $2, ... */
    unsigned nargs;
    const struct bls_entry *bls;    /* made by blscfg */
    unsigned bls_part;         /* the partition the BLS entry's paths are in */
};

struct gmenu {
    struct gitem *items;
    unsigned n;
};

/* What linux/initrd (or a loader vireo cannot run) set up. */
struct gboot {
    bool have_linux;
    const char *unsupported;   /* the loader command, e.g. "chainloader" */
    char kernel_arg[BL_MAX_PATH + 48];   /* as written: "(hd0,gpt2)/vmlinuz-..." */
    struct bl_file_ref kernel;
    unsigned ninitrd;
    struct bl_file_ref initrd[BL_MAX_INITRDS];
    char args[BL_MAX_CMDLINE + 1];
};

enum gflow { FLOW_NONE, FLOW_BREAK, FLOW_CONTINUE, FLOW_RETURN, FLOW_EXIT };

struct gfunc {
    char *name;
    const struct gs_node *node;
};

struct gctx {
    const struct bl_host *h;
    struct gvars *vars;        /* the current scope */
    char **argv;               /* $1... of the current function or entry */
    unsigned argc;
    struct gfunc funcs[GRUB_MAX_FUNCS];
    unsigned nfuncs;
    struct gmenu *menu;        /* the menu that menuentry adds to */
    struct gs_script **scripts;     /* kept: functions and entries point into them */
    unsigned nscripts;
    size_t script_bytes;
    struct bls_entry **bls;    /* sets made by blscfg, freed at the end */
    unsigned *nbls, nbls_sets;
    unsigned steps, calls, sourcing, loops;
    int status;                /* $? */
    enum gflow flow;
    struct gboot boot;
    const char *cfg_name;      /* the configuration as a whole, for messages about its menu */
    const char *file;          /* where the command being run is, for messages */
    unsigned line;
    char namebuf[BL_MAX_PATH + 8];  /* a BLS entry's file name, while it is the one being run */
    bool fatal;
    char *err;
    size_t errlen;
    char warning[BL_MAX_WARNING];
};

/* A fatal error at the current position ("FILE:LINE: what"); -1. */
int gerr(struct gctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gwarn(struct gctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- grub_vars.c ---- */
const char *gvars_get(const struct gvars *s, const char *name);
int gvars_set(struct gctx *c, struct gvars *s, const char *name, const char *value);
void gvars_unset(struct gvars *s, const char *name);
int gvars_copy(struct gctx *c, struct gvars *dst, const struct gvars *src);
void gvars_free(struct gvars *s);
bool gvar_name_ok(const char *s, size_t len);

struct gfields {
    char **v;
    unsigned n;
};
/* A word as GRUB expands it: quotes removed, $vars substituted, unquoted
 * substitutions split at blanks (so a word may give none or several). */
int gexpand(struct gctx *c, const struct gs_word *w, struct gfields *out);
/* Every word of a command, in order. */
int gexpand_all(struct gctx *c, const struct gs_word *w, unsigned n, struct gfields *out);
/* One string with $vars substituted (BLS options), quotes kept as text. */
char *gexpand_text(struct gctx *c, const char *s);
void gfields_free(struct gfields *f);

/* ---- grub_eval.c ---- */
/* A path as GRUB's file commands take it: "(hd0,gpt2)/x" or "/x" on
 * $root.  0, or -1 with the reason (not fatal: a command fails). */
int gresolve(struct gctx *c, const char *arg, unsigned *part, char *path, size_t pathlen, char *why,
             size_t whylen);
/* A GRUB device name of the boot disk ("hd0,gpt2", "(hd0,1)") to its
 * partition number; -1 with the reason. */
int gparse_device(struct gctx *c, const char *dev, size_t len, unsigned *part, char *why, size_t whylen);
/* A file an entry loads: resolved and present, or a fatal error. */
int gneed_file(struct gctx *c, const char *cmd, const char *arg, struct bl_file_ref *ref);
/* Parses a script and keeps it for the whole run (functions and menu
 * entries point into it); -1 fatal. */
int gparse_keep(struct gctx *c, const char *buf, size_t len, const char *name, struct gs_script **out);
void gexec_list(struct gctx *c, const struct gs_node *n);
struct gitem *gmenu_add(struct gctx *c);
void gmenu_free(struct gmenu *m);

/* ---- grub_cmds.c ---- */
typedef int (*gcmd)(struct gctx *c, char **argv, unsigned argc);
/* A built-in command; NULL for those that change nothing here. */
gcmd gcmd_find(const char *name);
/* BLS entries of dir on partition part into the current menu: 0, 1
 * (none there), -1 fatal. */
int gload_bls(struct gctx *c, unsigned part, const char *dir);

/* ---- grub_test.c ---- */
/* `[ ... ]` and `test ...`: GRUB's status, 0 true. */
int gtest(struct gctx *c, char **argv, unsigned argc);

/* ---- grubenv.c ---- */
/* Sets the variables of an environment block (only those in only[],
 * when nonly > 0).  -1 on a fatal error. */
int genv_load(struct gctx *c, const char *buf, size_t len, char **only, unsigned nonly);

#endif

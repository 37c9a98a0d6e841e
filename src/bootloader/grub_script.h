/* GRUB 2's script language (grub.cfg), parsed into a tree: commands of
 * words, if/elif/else/fi, for/while/until loops, functions, menuentry and
 * submenu blocks.  Words keep their raw text (quotes, escapes and $vars)
 * for grub_eval.c to expand when it runs them, as GRUB does.
 *
 * The input is hostile: its size is bounded by the caller, nesting here
 * (GS_MAX_DEPTH), and every error names FILE:LINE. */
#ifndef VIREO_BOOTLOADER_GRUB_SCRIPT_H
#define VIREO_BOOTLOADER_GRUB_SCRIPT_H

#include <stddef.h>

#define GS_MAX_DEPTH  32       /* nested blocks */
#define GS_MAX_WORDS  1024     /* words in one command */
#define GS_MAX_ELIF   256      /* 'elif's in one 'if' */

enum gs_kind {
    GS_CMD,        /* words[0] is the command */
    GS_IF,         /* cond, body, els (another GS_IF for elif, or a list) */
    GS_FOR,        /* words[0] the variable, words[1..] the values; body */
    GS_WHILE,      /* cond, body */
    GS_UNTIL,
    GS_FUNC,       /* words[0] the name; body */
    GS_MENU,       /* menuentry: words = its arguments; body */
    GS_SUBMENU,
};

struct gs_word {
    const char *s;             /* raw, into the script's copy of the source */
    size_t len;
};

struct gs_node {
    enum gs_kind kind;
    const char *file;          /* the script's name, for messages */
    unsigned line;
    struct gs_node *next;      /* the next command of the same list */
    struct gs_word *words;
    unsigned nwords;
    struct gs_node *cond, *body, *els;
};

struct gs_script {
    char *src;                 /* owned copy of the text */
    const char *fname;         /* for messages; owned */
    struct gs_node *first;
    struct gs_chunk *mem;      /* every node and word array */
};

/* 0 with *out (free with gs_free), or -1 with "FNAME:LINE: what" in err. */
int gs_parse(const char *buf, size_t len, const char *fname, struct gs_script **out, char *err, size_t errlen);
void gs_free(struct gs_script *s);

#endif

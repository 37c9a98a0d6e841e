/* The xl.cfg *syntax* (Xen's xl.cfg(5), libxlu's cfg grammar): settings
 * `KEY = VALUE` or `KEY += VALUE`, separated by newlines or ';', `#`
 * comments, values that are "double" or 'single' quoted strings (xl's
 * escapes), integers (decimal or 0x hex) or [lists] of values (trailing
 * comma allowed, newlines and comments allowed inside).  What the keys mean
 * is vm_config.c's business; this file only says where things are.
 *
 * The input is hostile: everything is bounded (sizes below), nesting is
 * handled without recursion, and every error names SOURCE:LINE:COLUMN. */
#ifndef VIREO_TOOLSTACK_XLCFG_LEX_H
#define VIREO_TOOLSTACK_XLCFG_LEX_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XLCFG_MAX_INPUT    (1u << 20)  /* bytes in one file */
#define XLCFG_MAX_STRING   4095        /* bytes in one string, after escapes (PATH_MAX - 1) */
#define XLCFG_MAX_KEY      64
#define XLCFG_MAX_NUMBER   32          /* characters in a number token */
#define XLCFG_MAX_DEPTH    8           /* [[...]] nesting (xl allows nesting: vnuma, vsnd) */
#define XLCFG_MAX_ITEMS    256         /* items in one list */
#define XLCFG_MAX_SETTINGS 512

/* Where something is.  line 0 means "a one-line source" (a command-line
 * override), printed as SRC:COL. Columns are 1-based bytes (a tab is one). */
struct xlcfg_loc {
    const char *src;
    int line;
    int col;
};

enum xlcfg_type { XLCFG_STRING, XLCFG_NUMBER, XLCFG_LIST };

struct xlcfg_value {
    enum xlcfg_type type;
    struct xlcfg_loc loc;        /* the opening quote, first digit or '[' */
    /* STRING: the text after escapes; NUMBER: the token as written (xl
     * keeps numbers as text too, so "512" and 512 mean the same).  Never
     * contains a NUL byte, and str[len] is 0. */
    char *str;
    size_t len;
    /* STRING written without escapes: byte i of str is at column
     * loc.col + 1 + i, so errors can point inside it. */
    bool exact;
    struct xlcfg_value *items;   /* LIST */
    size_t nitems;
};

enum xlcfg_op { XLCFG_SET, XLCFG_APPEND };   /* `=`, `+=` */

struct xlcfg_setting {
    char *key;
    struct xlcfg_loc loc;        /* of the key */
    enum xlcfg_op op;
    struct xlcfg_value value;
};

struct xlcfg {
    char *src;                   /* owned; every loc.src points here */
    struct xlcfg_setting *v;
    size_t n;
};

/* XLCFG_ONE_LINE: the input is one command-line setting (`vireo create
 * FILE KEY=VALUE`): a newline in it is an error and locations have no line. */
#define XLCFG_ONE_LINE 1u

/* Parses buf (not NUL-terminated; NUL bytes are errors).  0 on success,
 * -1 with "SRC:LINE:COL: what; expected what" in err (*out then holds
 * nothing). */
int xlcfg_parse(struct xlcfg *out, const char *buf, size_t len, const char *src,
                unsigned flags, char *err, size_t errlen);
void xlcfg_free(struct xlcfg *c);
void xlcfg_value_free(struct xlcfg_value *v);

/* The location of byte off of a string or number value: exact when the
 * string had no escapes, else the value's start.  XLCFG_WHOLE: the value
 * as a whole, i.e. its start (a string's opening quote). */
#define XLCFG_WHOLE ((size_t)-1)
struct xlcfg_loc xlcfg_loc_at(const struct xlcfg_value *v, size_t off);

/* "SRC:LINE:COL: " + fmt into err; returns -1 so callers can return it. */
int xlcfg_error(char *err, size_t errlen, const struct xlcfg_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int xlcfg_verror(char *err, size_t errlen, const struct xlcfg_loc *loc, const char *fmt, va_list ap);

/* Copies s[0..len) into dst for quoting in a message: non-printable bytes
 * become \xNN and long text is cut with "...", so a hostile value cannot
 * flood or garble the terminal. */
void xlcfg_show(char *dst, size_t dstlen, const char *s, size_t len);

/* Integers as xl.cfg writes them: decimal or 0x hex.  Leading zeros are
 * refused: xl reads 010 as octal 8, which nobody means. */
enum xlcfg_num { XLCFG_NUM_OK, XLCFG_NUM_BAD, XLCFG_NUM_LEADING_ZERO, XLCFG_NUM_NEGATIVE,
                 XLCFG_NUM_TOO_BIG };
enum xlcfg_num xlcfg_parse_u64(const char *s, size_t len, uint64_t *out);


#endif

/* struct vm_config from xl.cfg settings: merging the file with command-line
 * overrides (as xl does: `=` replaces, `+=` concatenates strings or
 * lists), then one handler per key, then the checks that need several keys.
 *
 * The parsed documents are kept in the config (vm_config_src) and the
 * whole config is rebuilt from them on every override, so an override of
 * vcpus re-checks cpus, root/extra/cmdline combine the same way whatever
 * their source, and a failed override leaves the config as it was. */
#include "toolstack/vm_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/vm_config_impl.h"
#include "toolstack/xl_keys.h"

#define OVERRIDE_SOURCE "command line"

struct vm_config_src {
    struct xlcfg *docs;    /* [0] the file, then one per override */
    size_t ndocs;
};

/* A message about an override must say which one: a column alone is
 * useless among several KEY=VALUE arguments.  (xlcfg_parse keeps its own
 * copy of the name.) */
static const char *override_name(char *buf, size_t len, const char *setting)
{
    char shown[200];
    xlcfg_show(shown, sizeof(shown), setting, strlen(setting));
    snprintf(buf, len, "command-line setting '%s'", shown);
    return buf;
}

/* ---- messages ---- */

int vmc_err(struct vm_build *b, const struct xlcfg_loc *loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(b->err, b->errlen, loc, fmt, ap);
    va_end(ap);
    return -1;
}

int vmc_err_at(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *fmt, ...)
{
    struct xlcfg_loc loc = xlcfg_loc_at(v, off);
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(b->err, b->errlen, &loc, fmt, ap);
    va_end(ap);
    return -1;
}

void vmc_warn(struct vm_build *b, const struct xlcfg_loc *loc, const char *fmt, ...)
{
    if (b->c->nwarnings == VM_MAX_WARNINGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    xlcfg_verror(b->c->warnings[b->c->nwarnings++], VM_WARNING_LEN, loc, fmt, ap);
    va_end(ap);
}

int vmc_uint(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
             const char *what, uint64_t min, uint64_t max, const char *expected, uint64_t *out)
{
    char shown[VMC_SHOW_MAX];
    VMC_SHOW(shown, s, len);
    uint64_t n = 0;
    switch (xlcfg_parse_u64(s, len, &n)) {
    case XLCFG_NUM_OK:
        if (n >= min && n <= max) {
            *out = n;
            return 0;
        }
        /* fall through */
    case XLCFG_NUM_TOO_BIG:
        return vmc_err_at(b, v, off, "%s %s is out of range; expected %s", what, shown, expected);
    case XLCFG_NUM_NEGATIVE:
        return vmc_err_at(b, v, off, "%s '%s' is negative; expected %s", what, shown, expected);
    case XLCFG_NUM_LEADING_ZERO:
        return vmc_err_at(b, v, off, "%s '%s' has a leading zero, which xl reads as octal; expected %s", what,
                          shown, expected);
    default:
        return vmc_err_at(b, v, off, "%s '%s' is not a number; expected %s", what, shown, expected);
    }
}

/* ---- merging: the file, then each override, into one entry per key ---- */

struct entry {
    const char *key;
    struct xlcfg_loc loc;       /* the key, in its latest setting */
    enum xlcfg_op op;           /* XLCFG_APPEND once += took part */
    struct xlcfg_value v;       /* borrowed from a document unless own_* */
    bool own_str, own_items;    /* made by +=: str is ours / items is our (shallow) array */
    size_t doc;
};

struct merged {
    struct entry *e;
    size_t n;
};

static void entry_release(struct entry *e)
{
    if (e->own_str)
        free(e->v.str);
    if (e->own_items)
        free(e->v.items);
    e->own_str = e->own_items = false;
}

static void merged_free(struct merged *m)
{
    for (size_t i = 0; i < m->n; i++)
        entry_release(&m->e[i]);
    free(m->e);
    m->e = NULL;
    m->n = 0;
}

/* `KEY += VALUE`: xl concatenates strings (numbers are text to xl) and lists. */
static int concat(struct vm_build *b, struct entry *e, const struct xlcfg_setting *s)
{
    const struct xlcfg_value *add = &s->value;
    bool e_list = e->v.type == XLCFG_LIST, add_list = add->type == XLCFG_LIST;
    if (e_list != add_list)
        return vmc_err(b, &add->loc, "cannot add a %s to '%s', which is a %s; expected a %s",
                       add_list ? "[list]" : "string", e->key, e_list ? "[list]" : "string",
                       e_list ? "[list]" : "string");
    if (e_list) {
        size_t n = e->v.nitems + add->nitems;
        struct xlcfg_value *items = n ? malloc(n * sizeof(*items)) : NULL;
        if (n && !items)
            return vmc_err(b, &add->loc, "out of memory");
        if (e->v.nitems)
            memcpy(items, e->v.items, e->v.nitems * sizeof(*items));
        if (add->nitems)
            memcpy(items + e->v.nitems, add->items, add->nitems * sizeof(*items));
        if (e->own_items)
            free(e->v.items);
        e->v.items = items;
        e->v.nitems = n;
        e->own_items = true;
    } else {
        size_t n = e->v.len + add->len;
        if (n > XLCFG_MAX_STRING)
            return vmc_err(b, &add->loc, "'%s' would be longer than %d bytes with this added; expected a shorter value",
                           e->key, XLCFG_MAX_STRING);
        char *str = malloc(n + 1);
        if (!str)
            return vmc_err(b, &add->loc, "out of memory");
        memcpy(str, e->v.str, e->v.len);
        memcpy(str + e->v.len, add->str, add->len);
        str[n] = 0;
        if (e->own_str)
            free(e->v.str);
        e->v.str = str;
        e->v.len = n;
        e->v.type = XLCFG_STRING;
        e->v.exact = false;   /* offsets no longer map to one place in one file */
        e->own_str = true;
    }
    e->op = XLCFG_APPEND;
    e->loc = s->loc;
    return 0;
}

static const char *const key_names[] = {
    "name", "type", "memory", "maxmem", "vcpus", "cpus", "kernel", "ramdisk", "cmdline", "root", "extra",
    "bootloader", "bootloader_args", "disk", "vif", "on_poweroff", "on_reboot", "on_crash", "serial",
    "iothread_cpus", "user", "seccomp", "hugepages",
};
#define KEY_LIST "name, type, memory, maxmem, vcpus, cpus, kernel, ramdisk, cmdline, root, extra, bootloader, " \
                 "bootloader_args, disk, vif, on_poweroff, on_reboot, on_crash, serial, iothread_cpus, user, seccomp, " \
                 "hugepages"

static int check_key(struct vm_build *b, const struct xlcfg_setting *s)
{
    for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
        if (!strcmp(s->key, key_names[i]))
            return 0;
    }
    char shown[VMC_SHOW_MAX];
    VMC_SHOW(shown, s->key, strlen(s->key));
    if (xl_key_unsupported(s->key))
        return vmc_err(b, &s->loc, "'%s' is valid for xl but not supported by vireo", shown);
    const char *hint = xl_suggest(s->key, key_names, sizeof(key_names) / sizeof(key_names[0]), true);
    if (hint)
        return vmc_err(b, &s->loc, "unknown key '%s'; did you mean '%s'?", shown, hint);
    return vmc_err(b, &s->loc, "unknown key '%s'; expected one of " KEY_LIST, shown);
}

static int merge(struct vm_build *b, const struct vm_config_src *src, struct merged *m)
{
    size_t total = 0, n = 0;
    for (size_t d = 0; d < src->ndocs; d++)
        total += src->docs[d].n;
    m->e = calloc(total ? total : 1, sizeof(*m->e));
    m->n = 0;
    if (!m->e)
        return vmc_err(b, &(struct xlcfg_loc){b->main_src, 0, 0}, "out of memory");
    for (size_t d = 0; d < src->ndocs; d++) {
        for (size_t i = 0; i < src->docs[d].n; i++) {
            const struct xlcfg_setting *s = &src->docs[d].v[i];
            if (check_key(b, s) < 0)
                return -1;
            struct entry *e = NULL;
            for (size_t j = 0; j < n && !e; j++) {
                if (!strcmp(m->e[j].key, s->key))
                    e = &m->e[j];
            }
            if (!e) {
                e = &m->e[n++];
                m->n = n;
                *e = (struct entry){.key = s->key, .loc = s->loc, .op = s->op, .v = s->value, .doc = d};
                continue;
            }
            if (s->op == XLCFG_APPEND) {
                if (concat(b, e, s) < 0)
                    return -1;
                e->doc = d;
                continue;
            }
            /* xl keeps the last of two settings silently, which loses the
             * first disk list of a file that has two: refuse within one
             * document; an override replaces on purpose. */
            if (e->doc == d) {
                if (e->loc.line > 0)
                    return vmc_err(b, &s->loc, "'%s' is already set on line %d; expected each key once "
                                               "(use += to add to it)", s->key, e->loc.line);
                return vmc_err(b, &s->loc, "'%s' is already set at column %d; expected each key once "
                                           "(use += to add to it)", s->key, e->loc.col);
            }
            entry_release(e);
            *e = (struct entry){.key = s->key, .loc = s->loc, .op = s->op, .v = s->value, .doc = d};
        }
    }
    return 0;
}

/* ---- one handler per key ---- */

struct text_keys {
    const struct xlcfg_value *v;
    struct xlcfg_loc loc;
};

struct build_state {
    struct text_keys cmdline, root, extra;
    struct xlcfg_loc maxmem_loc;   /* checked against memory once both are known */
};

static int want_text(struct vm_build *b, const struct entry *e, const char *form)
{
    if (e->v.type == XLCFG_LIST)
        return vmc_err(b, &e->v.loc, "'%s' must be a single value, not a [list]; expected %s", e->key, form);
    return 0;
}

static bool has_control(const char *s, size_t len, size_t *at)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            *at = i;
            return true;
        }
    }
    return false;
}

bool vmc_next_field(const char *s, size_t len, size_t *pos, size_t *start, size_t *end)
{
    size_t p = *pos;
    if (p > len)
        return false;
    size_t e = p;
    while (e < len && s[e] != ',')
        e++;
    size_t a = p, z = e;
    while (a < z && (s[a] == ' ' || s[a] == '\t'))
        a++;
    while (z > a && (s[z - 1] == ' ' || s[z - 1] == '\t'))
        z--;
    *start = a;
    *end = z;
    *pos = e + 1;
    return true;
}

int vmc_path(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
             const char *what, const char *expected)
{
    size_t at;
    if (!len)
        return vmc_err_at(b, v, off, "%s is empty; expected %s", what, expected);
    if (has_control(s, len, &at))
        return vmc_err_at(b, v, (off == XLCFG_WHOLE ? 0 : off) + at, "%s has a control character (byte 0x%02x); "
                          "expected %s", what, (unsigned char)s[at], expected);
    return 0;
}

static int set_string(struct vm_build *b, char **dst, const struct xlcfg_value *v)
{
    char *s = strndup(v->str, v->len);
    if (!s)
        return vmc_err(b, &v->loc, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
}

static int k_name(struct vm_build *b, const struct entry *e)
{
    const struct xlcfg_value *v = &e->v;
    if (want_text(b, e, "name = \"NAME\"") < 0)
        return -1;
    if (!v->len)
        return vmc_err_at(b, v, XLCFG_WHOLE, "name is empty; expected 1 to %d letters, digits, '_', '.' or '-'", VM_NAME_MAX);
    if (v->len > VM_NAME_MAX)
        return vmc_err_at(b, v, XLCFG_WHOLE, "name is %zu characters long; expected at most %d", v->len, VM_NAME_MAX);
    for (size_t i = 0; i < v->len; i++) {
        unsigned char c = (unsigned char)v->str[i];
        if (name_char(c))
            continue;
        if (c >= 0x20 && c < 0x7f)
            return vmc_err_at(b, v, i, "invalid character '%c' in name; expected letters, digits, '_', '.' or '-'", c);
        return vmc_err_at(b, v, i, "invalid character (byte 0x%02x) in name; expected letters, digits, '_', '.' "
                                   "or '-'", c);
    }
    /* A name becomes file names and command-line arguments: "-x" reads
     * as an option and ".x" hides. */
    if (v->str[0] == '.' || v->str[0] == '-')
        return vmc_err_at(b, v, 0, "name starts with '%c'; expected a letter, digit or '_' first", v->str[0]);
    memcpy(b->c->name, v->str, v->len);
    b->c->name[v->len] = 0;
    return 0;
}

static int number(struct vm_build *b, const struct entry *e, uint64_t min, uint64_t max, const char *form,
                  const char *expected, uint64_t *out)
{
    if (want_text(b, e, form) < 0)
        return -1;
    if (e->op == XLCFG_APPEND)
        return vmc_err(b, &e->loc, "'+=' cannot add to a number; expected %s", form);
    return vmc_uint(b, &e->v, XLCFG_WHOLE, e->v.str, e->v.len, e->key, min, max, expected, out);
}

_Static_assert(VM_MIN_MEMORY_MIB == 4 && VM_MAX_MEMORY_MIB == 1048576 && VM_MAX_VCPUS == 64,
               "the messages of memory = and vcpus = say the limits");

static int k_memory(struct vm_build *b, const struct entry *e)
{
    return number(b, e, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, "memory = MiB", "MiB from 4 to 1048576 (1 TiB)",
                  &b->c->memory_mib);
}

/* xl's maxmem: the most the guest may be given (vireo mem-set), at least memory. */
static int k_maxmem(struct vm_build *b, struct build_state *st, const struct entry *e)
{
    st->maxmem_loc = e->loc;
    return number(b, e, VM_MIN_MEMORY_MIB, VM_MAX_MEMORY_MIB, "maxmem = MiB", "MiB from 4 to 1048576 (1 TiB)",
                  &b->c->maxmem_mib);
}

static int k_vcpus(struct vm_build *b, const struct entry *e)
{
    uint64_t n;
    if (number(b, e, 1, VM_MAX_VCPUS, "vcpus = N", "1 to 64", &n) < 0)
        return -1;
    b->c->vcpus = (unsigned)n;
    return 0;
}

static int k_cpus(struct vm_build *b, const struct entry *e)
{
    b->cpus = &e->v;
    b->cpus_loc = e->loc;
    return 0;
}

static int k_file(struct vm_build *b, const struct entry *e, char **dst)
{
    char form[64];
    snprintf(form, sizeof(form), "%s = \"PATH\"", e->key);
    if (want_text(b, e, form) < 0 || vmc_path(b, &e->v, XLCFG_WHOLE, e->v.str, e->v.len, e->key, "a path") < 0)
        return -1;
    return set_string(b, dst, &e->v);
}

static int k_text(struct vm_build *b, const struct entry *e, struct text_keys *t)
{
    char form[64];
    size_t at;
    snprintf(form, sizeof(form), "%s = \"STRING\"", e->key);
    if (want_text(b, e, form) < 0)
        return -1;
    if (has_control(e->v.str, e->v.len, &at))
        return vmc_err_at(b, &e->v, at, "%s has a control character (byte 0x%02x); expected plain text", e->key,
                          (unsigned char)e->v.str[at]);
    t->v = &e->v;
    t->loc = e->loc;
    return 0;
}

/* user = "NAME" or "UID:GID": whom the VM process runs as once set up;
 * whether it exists is the host's business, checked at start. */
static int k_user(struct vm_build *b, const struct entry *e)
{
    if (want_text(b, e, "user = \"NAME\"") < 0)
        return -1;
    /* A bare number would read as a user name no one has. */
    if (e->v.type == XLCFG_NUMBER)
        return vmc_err_at(b, &e->v, XLCFG_WHOLE, "user %.*s is a number; expected a user name or \"UID:GID\" (a "
                          "string)", (int)e->v.len, e->v.str);
    if (vmc_path(b, &e->v, XLCFG_WHOLE, e->v.str, e->v.len, "user", "a user name or UID:GID") < 0)
        return -1;
    return set_string(b, &b->c->user, &e->v);
}

/* seccomp = 0 turns the filters off, for debugging (as Firecracker's
 * --no-seccomp); 1, the default, keeps them. */
static int k_seccomp(struct vm_build *b, const struct entry *e)
{
    uint64_t on;
    if (number(b, e, 0, 1, "seccomp = 0|1", "0 (off, for debugging) or 1 (on)", &on) < 0)
        return -1;
    b->c->seccomp_off = !on;
    return 0;
}

/* hugepages = 1 backs the guest's RAM with the host's 2 MiB huge pages
 * (vireo run's --memory SIZE,hugepages=on). */
static int k_hugepages(struct vm_build *b, const struct entry *e)
{
    uint64_t on;
    if (number(b, e, 0, 1, "hugepages = 0|1", "0 (off) or 1 (2 MiB huge pages)", &on) < 0)
        return -1;
    b->c->hugepages = on;
    return 0;
}

const char *vm_action_name(enum vm_action a)
{
    switch (a) {
    case VM_ACTION_DESTROY: return "destroy";
    case VM_ACTION_RESTART: return "restart";
    case VM_ACTION_PRESERVE: return "preserve";
    }
    return "?";
}

static int k_action(struct vm_build *b, const struct entry *e, enum vm_action *a)
{
    static const char *const xl_actions[] = {"rename-restart", "coredump-destroy", "coredump-restart",
                                             "soft-reset"};
    char form[64], shown[VMC_SHOW_MAX];
    snprintf(form, sizeof(form), "%s = \"destroy|restart|preserve\"", e->key);
    if (want_text(b, e, form) < 0)
        return -1;
    for (enum vm_action i = VM_ACTION_DESTROY; i <= VM_ACTION_PRESERVE; i++) {
        if (!strcmp(e->v.str, vm_action_name(i))) {
            *a = i;
            return 0;
        }
    }
    VMC_SHOW(shown, e->v.str, e->v.len);
    for (size_t i = 0; i < sizeof(xl_actions) / sizeof(xl_actions[0]); i++) {
        if (!strcmp(e->v.str, xl_actions[i]))
            return vmc_err_at(b, &e->v, XLCFG_WHOLE, "%s '%s' is valid for xl but not supported by vireo; "
                                           "expected destroy, restart or preserve", e->key, shown);
    }
    return vmc_err_at(b, &e->v, XLCFG_WHOLE, "%s '%s' is not an action; expected destroy, restart or preserve", e->key, shown);
}

/* xl passes `serial` to QEMU's -serial; vireo has one UART (COM1) and
 * offers the three uses that make sense without a display. */
static int k_serial(struct vm_build *b, const struct entry *e)
{
    const struct xlcfg_value *v = &e->v;
    if (v->type == XLCFG_LIST) {
        if (v->nitems != 1)
            return vmc_err(b, &v->loc, "serial has %zu devices; expected one (vireo has one serial port, COM1)",
                           v->nitems);
        v = &v->items[0];
        if (v->type == XLCFG_LIST)
            return vmc_err(b, &v->loc, "serial device must be a string, not a [list]; expected \"pty\"");
    }
    struct vm_config *c = b->c;
    char shown[VMC_SHOW_MAX];
    if (!strcmp(v->str, "pty") && v->len == 3) {
        c->serial = VM_SERIAL_PTY;
    } else if ((!strcmp(v->str, "null") && v->len == 4) || (!strcmp(v->str, "none") && v->len == 4)) {
        c->serial = VM_SERIAL_NULL;
    } else if (v->len >= 5 && !strncmp(v->str, "file:", 5)) {
        if (vmc_path(b, v, 5, v->str + 5, v->len - 5, "serial file", "file:PATH") < 0)
            return -1;
        c->serial = VM_SERIAL_FILE;
        free(c->serial_path);
        c->serial_path = strndup(v->str + 5, v->len - 5);
        if (!c->serial_path)
            return vmc_err(b, &v->loc, "out of memory");
    } else {
        return vmc_err_at(b, v, XLCFG_WHOLE, "serial '%s' is not supported by vireo; expected pty, null or file:PATH",
                          VMC_SHOW(shown, v->str, v->len));
    }
    return 0;
}

static int want_list(struct vm_build *b, const struct entry *e, const char *form)
{
    if (e->v.type != XLCFG_LIST)
        return vmc_err(b, &e->v.loc, "'%s' must be a [list]; expected %s", e->key, form);
    return 0;
}

static int apply(struct vm_build *b, struct build_state *st, const struct entry *e)
{
    struct vm_config *c = b->c;
    const char *k = e->key;
    if (!strcmp(k, "name"))
        return k_name(b, e);
    if (!strcmp(k, "memory"))
        return k_memory(b, e);
    if (!strcmp(k, "maxmem"))
        return k_maxmem(b, st, e);
    if (!strcmp(k, "vcpus"))
        return k_vcpus(b, e);
    if (!strcmp(k, "cpus"))
        return k_cpus(b, e);
    if (!strcmp(k, "iothread_cpus")) {
        b->iothread_cpus = &e->v;
        b->iothread_cpus_loc = e->loc;
        return 0;
    }
    if (!strcmp(k, "type"))
        return vmc_type(b, &e->v);
    if (!strcmp(k, "bootloader"))
        return vmc_bootloader(b, &e->v);
    if (!strcmp(k, "bootloader_args")) {
        b->bootloader_args = &e->v;
        b->bootloader_args_loc = e->loc;
        return 0;
    }
    if (!strcmp(k, "kernel"))
        return k_file(b, e, &c->kernel);
    if (!strcmp(k, "ramdisk"))
        return k_file(b, e, &c->ramdisk);
    if (!strcmp(k, "cmdline"))
        return k_text(b, e, &st->cmdline);
    if (!strcmp(k, "root"))
        return k_text(b, e, &st->root);
    if (!strcmp(k, "extra"))
        return k_text(b, e, &st->extra);
    if (!strcmp(k, "disk"))
        return want_list(b, e, "disk = ['SPEC', ...]") < 0 ? -1 : vmc_disks(b, &e->v);
    if (!strcmp(k, "vif"))
        return want_list(b, e, "vif = ['SPEC', ...]") < 0 ? -1 : vmc_vifs(b, &e->v);
    if (!strcmp(k, "on_poweroff"))
        return k_action(b, e, &c->on_poweroff);
    if (!strcmp(k, "on_reboot"))
        return k_action(b, e, &c->on_reboot);
    if (!strcmp(k, "on_crash"))
        return k_action(b, e, &c->on_crash);
    if (!strcmp(k, "serial"))
        return k_serial(b, e);
    if (!strcmp(k, "user"))
        return k_user(b, e);
    if (!strcmp(k, "seccomp"))
        return k_seccomp(b, e);
    if (!strcmp(k, "hugepages"))
        return k_hugepages(b, e);
    return vmc_err(b, &e->loc, "unknown key '%s'", k);   /* check_key let it through: a bug */
}

/* ---- what needs several keys ---- */

static char *text_dup(const struct xlcfg_value *v)
{
    return strndup(v->str, v->len);
}

/* xl: cmdline wins (root and extra are ignored, with a warning); else
 * "root=ROOT EXTRA", "root=ROOT" or "EXTRA". */
static int make_cmdline(struct vm_build *b, struct build_state *st)
{
    struct vm_config *c = b->c;
    char *s = NULL;
    if (st->cmdline.v) {
        s = text_dup(st->cmdline.v);
        if (st->root.v || st->extra.v)
            vmc_warn(b, st->root.v ? &st->root.loc : &st->extra.loc,
                     "'root' and 'extra' are ignored because 'cmdline' is set (as xl does)");
    } else if (st->root.v) {
        size_t n = 5 + st->root.v->len + (st->extra.v ? 1 + st->extra.v->len : 0);
        s = malloc(n + 1);
        if (s)
            snprintf(s, n + 1, "root=%s%s%s", st->root.v->str, st->extra.v ? " " : "",
                     st->extra.v ? st->extra.v->str : "");
    } else if (st->extra.v) {
        s = text_dup(st->extra.v);
    } else {
        /* With a boot loader, the disk's entry has its own command line. */
        s = strdup(c->boot.pygrub ? "" : VM_DEFAULT_CMDLINE);
    }
    if (!s)
        return vmc_err(b, &(struct xlcfg_loc){b->main_src, 0, 0}, "out of memory");
    c->cmdline = s;
    if (vmc_xen_root(b, &c->cmdline) < 0)
        return -1;
    s = c->cmdline;
    /* PV configs name Xen's disks; vireo's are virtio-blk, /dev/vdX in the guest. */
    const char *dev = strstr(s, "/dev/xvd");
    if (!dev)
        dev = strstr(s, "/dev/hd");
    if (!dev)
        dev = strstr(s, "/dev/sd");
    if (dev) {
        size_t n = strcspn(dev, " \t");
        char shown[VMC_SHOW_MAX];
        const struct text_keys *from = &st->cmdline;
        if (!st->cmdline.v)
            from = st->root.v && strstr(st->root.v->str, "/dev/") ? &st->root : &st->extra;
        vmc_warn(b, &from->loc, "the kernel command line names %s, but vireo's disks are virtio-blk: "
                                "the guest calls them /dev/vda, /dev/vdb, ...", VMC_SHOW(shown, dev, n));
    }
    return 0;
}

static void free_fields(struct vm_config *c)
{
    free(c->kernel);
    free(c->ramdisk);
    free(c->boot.entry);
    free(c->boot.kernel);
    free(c->boot.ramdisk);
    free(c->cmdline);
    free(c->serial_path);
    free(c->user);
    for (unsigned i = 0; i < c->ndisks; i++)
        free(c->disks[i].target);
}

static int build(const struct vm_config_src *src, struct vm_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->memory_mib = VM_DEFAULT_MEMORY_MIB;
    c->vcpus = 1;
    c->on_poweroff = VM_ACTION_DESTROY;
    c->on_reboot = VM_ACTION_RESTART;
    c->on_crash = VM_ACTION_DESTROY;
    c->serial = VM_SERIAL_PTY;
    struct vm_build b = {.c = c, .err = err, .errlen = errlen, .main_src = src->docs[0].src};
    struct build_state st = {0};
    struct merged m = {0};
    struct xlcfg_loc file = {b.main_src, 0, 0};
    if (merge(&b, src, &m) < 0)
        goto fail;
    for (size_t i = 0; i < m.n; i++) {
        if (apply(&b, &st, &m.e[i]) < 0)
            goto fail;
    }
    if (!c->name[0]) {
        vmc_err(&b, &file, "no name; expected a line name = \"NAME\"");
        goto fail;
    }
    if (c->maxmem_mib && c->maxmem_mib < c->memory_mib) {
        vmc_err(&b, &st.maxmem_loc, "maxmem = %llu is less than memory = %llu; expected at least memory (the guest "
                "starts with memory and may be given up to maxmem)", (unsigned long long)c->maxmem_mib,
                (unsigned long long)c->memory_mib);
        goto fail;
    }
    if (!c->kernel && !c->boot.pygrub) {
        vmc_err(&b, &file, "no kernel; expected a line kernel = \"PATH\" (vireo boots Linux directly) or "
                "bootloader = \"pygrub\" (the kernel on the first disk)");
        goto fail;
    }
    if (vmc_cpus(&b) < 0 || make_cmdline(&b, &st) < 0 || vmc_boot_finish(&b) < 0)
        goto fail;
    merged_free(&m);
    return 0;
fail:
    merged_free(&m);
    free_fields(c);
    memset(c, 0, sizeof(*c));
    return -1;
}

static void src_free(struct vm_config_src *src)
{
    if (!src)
        return;
    for (size_t i = 0; i < src->ndocs; i++)
        xlcfg_free(&src->docs[i]);
    free(src->docs);
    free(src);
}

int vm_config_load(const char *buf, size_t len, const char *fname, const char *const *overrides, size_t n,
                   struct vm_config *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!fname)
        fname = "config";
    struct vm_config_src *src = calloc(1, sizeof(*src));
    if (src)
        src->docs = calloc(n + 1, sizeof(*src->docs));
    if (!src || !src->docs) {
        free(src);
        return xlcfg_error(err, errlen, &(struct xlcfg_loc){fname, 0, 0}, "out of memory");
    }
    if (xlcfg_parse(&src->docs[0], buf ? buf : "", buf ? len : 0, fname, 0, err, errlen) < 0)
        goto fail;
    src->ndocs = 1;
    for (size_t i = 0; i < n; i++) {
        const char *o = overrides[i] ? overrides[i] : "";
        char name[256];
        if (xlcfg_parse(&src->docs[src->ndocs], o, strlen(o), override_name(name, sizeof(name), o), XLCFG_ONE_LINE,
                        err, errlen) < 0)
            goto fail;
        src->ndocs++;
    }
    if (build(src, out, err, errlen) < 0)
        goto fail;
    out->src = src;
    return 0;
fail:
    src_free(src);
    return -1;
}

int vm_config_parse(const char *buf, size_t len, const char *fname, struct vm_config *out, char *err,
                    size_t errlen)
{
    return vm_config_load(buf, len, fname, NULL, 0, out, err, errlen);
}

int vm_config_override(struct vm_config *c, const char *setting, char *err, size_t errlen)
{
    static const char source[] = OVERRIDE_SOURCE;
    if (!c->src)
        return xlcfg_error(err, errlen, &(struct xlcfg_loc){source, 0, 0}, "no configuration to override");
    if (!setting)
        setting = "";
    struct vm_config_src *src = c->src;
    struct xlcfg *docs = realloc(src->docs, (src->ndocs + 1) * sizeof(*docs));
    if (!docs)
        return xlcfg_error(err, errlen, &(struct xlcfg_loc){source, 0, 0}, "out of memory");
    src->docs = docs;
    char name[256];
    if (xlcfg_parse(&docs[src->ndocs], setting, strlen(setting), override_name(name, sizeof(name), setting),
                    XLCFG_ONE_LINE, err, errlen) < 0)
        return -1;
    src->ndocs++;
    struct vm_config *tmp = malloc(sizeof(*tmp));
    if (!tmp || build(src, tmp, err, errlen) < 0) {
        if (!tmp)
            xlcfg_error(err, errlen, &(struct xlcfg_loc){source, 0, 0}, "out of memory");
        free(tmp);
        xlcfg_free(&src->docs[--src->ndocs]);
        return -1;
    }
    free_fields(c);
    *c = *tmp;
    c->src = src;
    free(tmp);
    return 0;
}

int vm_config_settings(const struct vm_config *c, vm_config_setting_fn *fn, void *ctx, char *err, size_t errlen)
{
    if (!c->src)
        return xlcfg_error(err, errlen, &(struct xlcfg_loc){"config", 0, 0}, "no configuration");
    struct vm_config scratch;
    memset(&scratch, 0, sizeof(scratch));
    struct vm_build b = {.c = &scratch, .err = err, .errlen = errlen, .main_src = c->src->docs[0].src};
    struct merged m = {0};
    int r = merge(&b, c->src, &m);
    for (size_t i = 0; !r && i < m.n; i++)
        r = fn(ctx, m.e[i].key, &m.e[i].v, err, errlen);
    merged_free(&m);
    return r;
}

const char *vm_config_file(const struct vm_config *c)
{
    return c->src && c->src->ndocs ? c->src->docs[0].src : NULL;
}

void vm_config_free(struct vm_config *c)
{
    if (!c)
        return;
    free_fields(c);
    src_free(c->src);
    memset(c, 0, sizeof(*c));
}

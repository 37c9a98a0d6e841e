/* How the guest boots, as Xen users write it: type = "pvh" (or "pv"),
 * bootloader = "pygrub" with bootloader_args (pygrub's --entry, --kernel,
 * --ramdisk, --args), and root= naming Xen's disks (/dev/xvda1), which the
 * guest calls /dev/vda1 here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/vm_config_impl.h"

static bool span_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(s, word, len);
}

static int want_string(struct vm_build *b, const struct xlcfg_value *v, const char *key, const char *form)
{
    if (v->type == XLCFG_LIST)
        return vmc_err(b, &v->loc, "'%s' must be a single value, not a [list]; expected %s", key, form);
    return 0;
}

int vmc_type(struct vm_build *b, const struct xlcfg_value *v)
{
    char shown[VMC_SHOW_MAX];
    if (want_string(b, v, "type", "type = \"pvh\"") < 0)
        return -1;
    /* Both mean a Linux kernel started directly, which is how vireo boots. */
    if (span_is(v->str, v->len, "pvh") || span_is(v->str, v->len, "pv"))
        return 0;
    if (span_is(v->str, v->len, "hvm"))
        return vmc_err_at(b, v, XLCFG_WHOLE, "type 'hvm' is a PC with firmware (BIOS or UEFI) and emulated disks, "
                          "which vireo does not have: it starts a Linux kernel directly; expected type = \"pvh\" with "
                          "kernel = \"PATH\" or bootloader = \"pygrub\"");
    return vmc_err_at(b, v, XLCFG_WHOLE, "type '%s' is not a guest type; expected pvh, pv or hvm",
                      VMC_SHOW(shown, v->str, v->len));
}

int vmc_bootloader(struct vm_build *b, const struct xlcfg_value *v)
{
    char shown[VMC_SHOW_MAX];
    if (want_string(b, v, "bootloader", "bootloader = \"pygrub\"") < 0)
        return -1;
    if (!v->len)
        return vmc_err_at(b, v, XLCFG_WHOLE, "bootloader is empty; expected \"pygrub\"");
    /* "pygrub", "/usr/bin/pygrub", "/usr/lib/xen/bin/pygrub", "/usr/lib/xen-4.17/bin/pygrub". */
    const char *base = memrchr(v->str, '/', v->len);
    base = base ? base + 1 : v->str;
    if (span_is(base, (size_t)(v->str + v->len - base), "pygrub")) {
        b->c->boot.pygrub = true;
        b->bootloader_loc = v->loc;
        return 0;
    }
    return vmc_err_at(b, v, XLCFG_WHOLE, "bootloader '%s' is not supported by vireo, which reads the guest's disk "
                      "itself as pygrub does; expected bootloader = \"pygrub\"", VMC_SHOW(shown, v->str, v->len));
}

/* One of pygrub's options; *i moves past a separate value. */
static int pygrub_option(struct vm_build *b, const struct xlcfg_value *v, char **args, size_t n, size_t *i,
                         char **cmdline)
{
    static const char *const with_value[] = {"--entry", "--kernel", "--ramdisk", "--args"};
    struct vm_bootloader *bl = &b->c->boot;
    char shown[VMC_SHOW_MAX];
    const char *a = args[*i];
    if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
        return 0;   /* pygrub's non-interactive mode: the only one vireo has */
    for (size_t k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
        size_t l = strlen(with_value[k]);
        if (strncmp(a, with_value[k], l) || (a[l] && a[l] != '='))
            continue;
        const char *val;
        if (a[l] == '=') {
            val = a + l + 1;
        } else if (*i + 1 < n) {
            val = args[++*i];
        } else {
            return vmc_err(b, &v->loc, "bootloader_args: %s needs a value", with_value[k]);
        }
        char **dst = k == 0 ? &bl->entry : k == 1 ? &bl->kernel : k == 2 ? &bl->ramdisk : cmdline;
        if (k < 3 && !val[0])
            return vmc_err(b, &v->loc, "bootloader_args: %s is empty", with_value[k]);
        if ((k == 1 || k == 2) && val[0] != '/')
            return vmc_err(b, &v->loc, "bootloader_args: %s '%s' is not a path in the guest; expected an absolute "
                           "path such as /vmlinuz", with_value[k], VMC_SHOW(shown, val, strlen(val)));
        char *s = strdup(val);
        if (!s)
            return vmc_err(b, &v->loc, "out of memory");
        free(*dst);
        *dst = s;   /* the last one wins, as pygrub's getopt has it */
        return 0;
    }
    return vmc_err(b, &v->loc, "bootloader_args: pygrub option '%s' is not supported by vireo; expected --entry=N|TITLE, "
                   "--kernel=PATH, --ramdisk=PATH or --args=STRING", VMC_SHOW(shown, a, strlen(a)));
}

/* The arguments, from a list or (deprecated in xl) a string split at
 * blanks, whose copy *text then holds them (free both). */
static int split_args(struct vm_build *b, const struct xlcfg_value *v, char ***out, size_t *n, char **text)
{
    size_t cap = v->type == XLCFG_LIST ? v->nitems : v->len / 2 + 1;
    char **args = calloc(cap ? cap : 1, sizeof(char *));
    size_t cnt = 0;
    *text = NULL;
    if (!args)
        return vmc_err(b, &v->loc, "out of memory");
    if (v->type == XLCFG_LIST) {
        for (size_t i = 0; i < v->nitems; i++) {
            if (v->items[i].type == XLCFG_LIST) {
                free(args);
                return vmc_err(b, &v->items[i].loc, "bootloader_args entries must be strings, not [lists]; "
                               "expected '--entry=1'");
            }
            args[cnt++] = v->items[i].str;
        }
    } else {
        vmc_warn(b, &v->loc, "bootloader_args as a string is deprecated in xl; expected a list such as "
                 "['--entry=1', '--args=quiet']");
        if (!(*text = strndup(v->str, v->len))) {
            free(args);
            return vmc_err(b, &v->loc, "out of memory");
        }
        char *save;
        for (char *t = strtok_r(*text, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
            args[cnt++] = t;
    }
    *out = args;
    *n = cnt;
    return 0;
}

int vmc_boot_finish(struct vm_build *b)
{
    struct vm_config *c = b->c;
    struct vm_bootloader *bl = &c->boot;
    if (!bl->pygrub) {
        if (b->bootloader_args)
            return vmc_err(b, &b->bootloader_args_loc, "bootloader_args without a bootloader; expected bootloader = "
                           "\"pygrub\" as well");
        return 0;
    }
    /* libxl hands kernel and ramdisk to the boot loader as --kernel and
     * --ramdisk, before bootloader_args (whose own ones then win). */
    bl->kernel = c->kernel;
    bl->ramdisk = c->ramdisk;
    c->kernel = c->ramdisk = NULL;
    if (bl->kernel && bl->kernel[0] != '/')
        return vmc_err(b, &b->bootloader_loc, "with a bootloader, kernel '%s' is a path in the guest; expected an "
                       "absolute one such as /vmlinuz", bl->kernel);
    if (b->bootloader_args) {
        char **args = NULL, *text = NULL;
        size_t n = 0;
        if (split_args(b, b->bootloader_args, &args, &n, &text) < 0)
            return -1;
        char *cmdline = NULL;
        int r = 0;
        for (size_t i = 0; i < n && !r; i++)
            r = pygrub_option(b, b->bootloader_args, args, n, &i, &cmdline);
        free(args);
        free(text);
        if (r < 0) {
            free(cmdline);
            return -1;
        }
        if (cmdline) {
            /* As with libxl, whose own --args (root, extra) comes first. */
            free(c->cmdline);
            c->cmdline = cmdline;
            if (vmc_xen_root(b, &c->cmdline) < 0)
                return -1;
        }
    }
    if (bl->ramdisk && !bl->kernel)
        return vmc_err(b, &b->bootloader_loc, "a ramdisk for pygrub (ramdisk = or --ramdisk) needs its kernel (kernel "
                       "= or --kernel): without one the disk's boot entry names the initrd");
    if (!c->ndisks)
        return vmc_err(b, &b->bootloader_loc, "bootloader = \"pygrub\" reads the kernel from the VM's first disk, and "
                       "it has none; expected a disk = ['...'] line");
    return 0;
}

/* A Xen disk name after "/dev/" at s: xvd|sd|hd, letters, digits, ending
 * the token.  Its disk number and the length of each part. */
static bool xen_name(const char *s, unsigned *index, size_t *prefix, size_t *letters, size_t *digits)
{
    size_t p = !strncmp(s, "xvd", 3) ? 3 : (!strncmp(s, "sd", 2) || !strncmp(s, "hd", 2)) ? 2 : 0;
    size_t l = 0, d = 0;
    if (!p)
        return false;
    while (s[p + l] >= 'a' && s[p + l] <= 'z' && l < 3)
        l++;
    while (s[p + l + d] >= '0' && s[p + l + d] <= '9' && d < 4)
        d++;
    char end = s[p + l + d];
    if (!l || (end && end != ' ' && end != '\t'))
        return false;
    *index = vmc_disk_letters(s + p, l);
    *prefix = p;
    *letters = l;
    *digits = d;
    return true;
}

int vmc_xen_root(struct vm_build *b, char **cmdline)
{
    const struct vm_config *c = b->c;
    char *s = *cmdline;
    for (size_t i = 0; s[i];) {
        if ((i && s[i - 1] != ' ' && s[i - 1] != '\t') || strncmp(s + i, "root=/dev/", 10)) {
            i++;
            continue;
        }
        const char *name = s + i + 10;
        unsigned index, pos;
        size_t pre, let, dig;
        for (pos = 0; pos < c->ndisks && xen_name(name, &index, &pre, &let, &dig); pos++)
            if (c->disks[pos].index == index)
                break;
        if (pos == c->ndisks || !xen_name(name, &index, &pre, &let, &dig)) {
            i += 10;
            continue;   /* not one of the VM's disks: make_cmdline's warning names it */
        }
        /* The guest sees the disks as virtio-blk, vda, vdb, ... in vdev order. */
        char vd[8];
        snprintf(vd, sizeof(vd), "vd%c", 'a' + pos);
        size_t head = (size_t)(name - s), old = pre + let, rest = strlen(name + old);
        char *ns = malloc(head + 3 + rest + 1);
        if (!ns)
            return vmc_err(b, &(struct xlcfg_loc){b->main_src, 0, 0}, "out of memory");
        memcpy(ns, s, head);
        memcpy(ns + head, vd, 3);
        memcpy(ns + head + 3, name + old, rest + 1);
        free(s);
        s = ns;
        i = head + 3;
    }
    *cmdline = s;
    return 0;
}

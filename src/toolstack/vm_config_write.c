#include "toolstack/vm_config_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


struct writer {
    FILE *f;
    const struct vm_config *c;
    const struct vm_config_edit *e;
};

/* What xlcfg_lex.c unescapes: quotes, backslashes and control bytes are
 * escaped; everything else (UTF-8 too) is written as is. */
static void quote(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void value(FILE *f, const struct xlcfg_value *v)
{
    if (v->type == XLCFG_NUMBER) {
        fwrite(v->str, 1, v->len, f);
    } else if (v->type == XLCFG_STRING) {
        quote(f, v->str, v->len);
    } else {
        fputc('[', f);
        for (size_t i = 0; i < v->nitems; i++) {
            fputs(i ? ", " : " ", f);
            value(f, &v->items[i]);
        }
        fputs(v->nitems ? " ]" : "]", f);
    }
}

static bool same_loc(const struct xlcfg_loc *a, const struct xlcfg_loc *b)
{
    return a->src == b->src && a->line == b->line && a->col == b->col;
}

static void disk_spec(FILE *f, const struct vm_disk *d, const char *target, const char *format)
{
    /* target= last: it takes the rest of the spec, commas included. */
    char spec[8192];
    int n = snprintf(spec, sizeof(spec), "vdev=%s, access=%s, format=%s, target=%s", d->vdev,
                     d->readonly ? "ro" : "rw", format ? format : "raw", target);
    quote(f, spec, n < (int)sizeof(spec) ? (size_t)n : sizeof(spec) - 1);
}

static void vif_spec(FILE *f, const struct vm_vif *v)
{
    char spec[256];
    int n = snprintf(spec, sizeof(spec), "bridge=%s", v->bridge);
    if (v->mtu)
        n += snprintf(spec + n, sizeof(spec) - (size_t)n, ", mtu=%u", v->mtu);
    if (v->vhost != VM_VHOST_AUTO)
        n += snprintf(spec + n, sizeof(spec) - (size_t)n, ", vhost=%s", v->vhost == VM_VHOST_ON ? "on" : "off");
    quote(f, spec, (size_t)n);
}

static void list_of(FILE *f, const struct xlcfg_value *v, bool disks, const struct writer *w)
{
    fputc('[', f);
    for (size_t i = 0; i < v->nitems; i++) {
        const struct xlcfg_value *it = &v->items[i];
        fputs(i ? ",\n       " : " ", f);
        bool done = false;
        if (disks) {
            for (unsigned k = 0; k < w->c->ndisks && !done; k++) {
                if (same_loc(&w->c->disks[k].loc, &it->loc) && w->e && w->e->disk_target[k]) {
                    disk_spec(f, &w->c->disks[k], w->e->disk_target[k], w->e->disk_format[k]);
                    done = true;
                }
            }
        } else if (w->e && w->e->new_identity) {
            for (unsigned k = 0; k < w->c->nvifs && !done; k++) {
                if (same_loc(&w->c->vifs[k].loc, &it->loc)) {
                    vif_spec(f, &w->c->vifs[k]);
                    done = true;
                }
            }
        }
        if (!done)
            value(f, it);
    }
    fputs(v->nitems ? " ]" : "]", f);
}

static int setting(void *ctx, const char *key, const struct xlcfg_value *v, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    struct writer *w = ctx;
    FILE *f = w->f;
    fprintf(f, "%s = ", key);
    if (!strcmp(key, "name") && w->e && w->e->name)
        quote(f, w->e->name, strlen(w->e->name));
    else if ((!strcmp(key, "disk") || !strcmp(key, "vif")) && v->type == XLCFG_LIST)
        list_of(f, v, key[0] == 'd', w);
    else
        value(f, v);
    fputc('\n', f);
    return 0;
}

char *vm_config_write(const struct vm_config *c, const struct vm_config_edit *e, char *err, size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct writer w = {f, c, e};
    int r = vm_config_settings(c, setting, &w, err, errlen);
    if (fclose(f) != 0 && !r) {
        snprintf(err, errlen, "out of memory");
        r = -1;
    }
    if (r < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

#include "bootloader/bls.h"
#include "util/err.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void bls_entry_free(struct bls_entry *e)
{
    free(e->id);
    free(e->title);
    free(e->version);
    free(e->kernel);
    free(e->options);
    free(e->efi);
    for (unsigned i = 0; i < e->ninitrd; i++)
        free(e->initrd[i]);
    memset(e, 0, sizeof(*e));
}

void bls_free(struct bls_entry *e, unsigned n)
{
    for (unsigned i = 0; e && i < n; i++)
        bls_entry_free(&e[i]);
    free(e);
}

static bool key_is(const char *k, size_t klen, const char *name)
{
    return strlen(name) == klen && !memcmp(k, name, klen);
}

/* A key given once (title, version, linux, efi): the last one wins, as
 * in GRUB's blscfg. */
static int set_once(char **dst, const char *v, size_t vlen, size_t max, const char *id, unsigned line,
                    const char *key, char *err, size_t errlen)
{
    if (vlen > max)
        return err_fail(err, errlen, "%s.conf:%u: '%s' is %zu bytes; at most %zu", id, line, key, vlen, max);
    char *s = strndup(v, vlen);
    if (!s)
        return err_fail(err, errlen, "out of memory");
    free(*dst);
    *dst = s;
    return 0;
}

int bls_parse(const char *buf, size_t len, const char *id, struct bls_entry *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof(*e));
    if (!(e->id = strdup(id)))
        return err_fail(err, errlen, "out of memory");
    unsigned line = 0;
    size_t pos = 0;
    while (pos < len) {
        line++;
        const char *l = buf + pos;
        const char *nl = memchr(l, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - l) : len - pos;
        pos += ll + (nl ? 1 : 0);
        while (ll && (l[ll - 1] == '\r' || l[ll - 1] == ' ' || l[ll - 1] == '\t'))
            ll--;
        while (ll && (*l == ' ' || *l == '\t'))
            l++, ll--;
        if (!ll || *l == '#')
            continue;
        for (size_t i = 0; i < ll; i++) {
            unsigned char c = (unsigned char)l[i];
            if ((c < 0x20 && c != '\t') || c == 0x7f) {
                bls_entry_free(e);
                return err_fail(err, errlen, "%s.conf:%u: control character (byte 0x%02x); expected text", id, line, c);
            }
        }
        size_t kl = 0;
        while (kl < ll && l[kl] != ' ' && l[kl] != '\t')
            kl++;
        const char *v = l + kl;
        size_t vl = ll - kl;
        while (vl && (*v == ' ' || *v == '\t'))
            v++, vl--;
        int r = 0;
        if (key_is(l, kl, "title"))
            r = set_once(&e->title, v, vl, BL_MAX_TITLE, id, line, "title", err, errlen);
        else if (key_is(l, kl, "version"))
            r = set_once(&e->version, v, vl, BL_MAX_TITLE, id, line, "version", err, errlen);
        else if (key_is(l, kl, "linux"))
            r = set_once(&e->kernel, v, vl, BL_MAX_PATH - 1, id, line, "linux", err, errlen);
        else if (key_is(l, kl, "efi"))
            r = set_once(&e->efi, v, vl, BL_MAX_PATH - 1, id, line, "efi", err, errlen);
        else if (key_is(l, kl, "initrd")) {
            if (e->ninitrd == BL_MAX_INITRDS)
                r = err_fail(err, errlen, "%s.conf:%u: more than %d initrd lines", id, line, BL_MAX_INITRDS);
            else
                r = set_once(&e->initrd[e->ninitrd++], v, vl, BL_MAX_PATH - 1, id, line, "initrd", err, errlen);
        } else if (key_is(l, kl, "options")) {
            size_t have = e->options ? strlen(e->options) : 0, n = have + (have ? 1 : 0) + vl;
            if (n > BL_MAX_CMDLINE) {
                r = err_fail(err, errlen, "%s.conf:%u: options longer than %d bytes", id, line, BL_MAX_CMDLINE);
            } else {
                char *s = realloc(e->options, n + 1);
                if (!s) {
                    r = err_fail(err, errlen, "out of memory");
                } else {
                    if (have)
                        s[have++] = ' ';
                    memcpy(s + have, v, vl);
                    s[n] = 0;
                    e->options = s;
                }
            }
        }
        /* Other keys (machine-id, sort-key, devicetree, architecture,
         * grub_users, grub_class, grub_arg, grub_hotkey) change nothing
         * about which kernel boots. */
        if (r < 0) {
            bls_entry_free(e);
            return -1;
        }
    }
    return 0;
}

/* rpm's rpmvercmp(): alternating runs of digits and letters, compared
 * numerically and lexically; a numeric run is newer than a letter one;
 * '~' sorts before everything, even the end of the string. */
int bls_vercmp(const char *a, const char *b)
{
    if (!strcmp(a, b))
        return 0;
    const char *one = a, *two = b;
    while (*one || *two) {
        while (*one && !isalnum((unsigned char)*one) && *one != '~')
            one++;
        while (*two && !isalnum((unsigned char)*two) && *two != '~')
            two++;
        if (*one == '~' || *two == '~') {
            if (*one != '~')
                return 1;
            if (*two != '~')
                return -1;
            one++, two++;
            continue;
        }
        if (!*one || !*two)
            break;
        const char *s1 = one, *s2 = two;
        bool num = isdigit((unsigned char)*s1);
        if (num) {
            while (isdigit((unsigned char)*s1))
                s1++;
            while (isdigit((unsigned char)*s2))
                s2++;
        } else {
            while (isalpha((unsigned char)*s1))
                s1++;
            while (isalpha((unsigned char)*s2))
                s2++;
        }
        if (s2 == two)   /* the other run is of the other kind */
            return num ? 1 : -1;
        if (num) {
            while (*one == '0' && one < s1 - 1)
                one++;
            while (*two == '0' && two < s2 - 1)
                two++;
            if (s1 - one != s2 - two)
                return s1 - one > s2 - two ? 1 : -1;
        }
        size_t l1 = (size_t)(s1 - one), l2 = (size_t)(s2 - two);
        int rc = memcmp(one, two, l1 < l2 ? l1 : l2);
        if (rc)
            return rc < 0 ? -1 : 1;
        if (l1 != l2)
            return l1 < l2 ? -1 : 1;
        one = s1;
        two = s2;
    }
    if (!*one && !*two)
        return 0;
    return *one ? 1 : -1;
}

static int entry_cmp(const void *pa, const void *pb)
{
    const struct bls_entry *a = pa, *b = pb;
    if (a->version && !b->version)
        return -1;
    if (!a->version && b->version)
        return 1;
    int r = a->version ? bls_vercmp(a->version, b->version) : 0;
    if (!r)
        r = bls_vercmp(a->id, b->id);
    return -r;
}

void bls_sort(struct bls_entry *e, unsigned n)
{
    qsort(e, n, sizeof(*e), entry_cmp);
}

static bool ends_with_conf(const char *s, size_t *stem)
{
    size_t n = strlen(s);
    if (n <= 5 || strcmp(s + n - 5, ".conf") || s[0] == '.')
        return false;
    *stem = n - 5;
    return true;
}

int bls_load(const struct bl_host *h, unsigned part, const char *dir, struct bls_entry **out, unsigned *n,
             char *err, size_t errlen)
{
    char **names = NULL;
    unsigned nnames = 0;
    /* The directory may hold other files too; more names than entries
     * could ever be used is still an error, not a silent cut. */
    int r = h->list(h->ctx, part, dir, 4 * BLS_MAX_ENTRIES, &names, &nnames, err, errlen);
    if (r)
        return r;
    struct bls_entry *e = calloc(BLS_MAX_ENTRIES, sizeof(*e));
    unsigned cnt = 0;
    if (!e) {
        r = err_fail(err, errlen, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < nnames; i++) {
        size_t stem;
        if (!ends_with_conf(names[i], &stem))
            continue;
        if (cnt == BLS_MAX_ENTRIES) {
            r = err_fail(err, errlen, "%s holds more than %d entries", dir, BLS_MAX_ENTRIES);
            goto out;
        }
        char path[BL_MAX_PATH], id[BL_MAX_PATH];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
            r = err_fail(err, errlen, "%s/%s: path too long", dir, names[i]);
            goto out;
        }
        snprintf(id, sizeof(id), "%.*s", (int)stem, names[i]);
        char *buf;
        size_t len;
        int fr = h->read_file(h->ctx, part, path, BLS_MAX_FILE, &buf, &len, err, errlen);
        if (fr == 1)
            continue;   /* a dangling link or a directory named *.conf */
        if (fr < 0) {
            r = -1;
            goto out;
        }
        r = bls_parse(buf, len, id, &e[cnt], err, errlen);
        free(buf);
        if (r < 0)
            goto out;
        cnt++;
    }
    if (!cnt) {
        r = 1;
        goto out;
    }
    bls_sort(e, cnt);
    *out = e;
    *n = cnt;
    e = NULL;
    r = 0;
out:
    bls_free(e, cnt);
    for (unsigned i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    return r;
}

/* disk = ['SPEC', ...], per xl-disk-configuration(5) and libxlu's
 * libxlu_disk_l.l, which this follows token by token:
 *
 *   - whitespace before a parameter is skipped;
 *   - "target=..." takes the whole rest of the spec (so it may hold ',');
 *   - KEY=VALUE (to the next ','): format, vdev, access, devtype, and
 *     vireo's own backing=on|off; the other xl keys are refused by name;
 *   - flags: discard, no-discard, cdrom (refused), and xl's no-ops;
 *   - deprecated prefixes at the start of a parameter: phy:, file:, tap:,
 *     tap2:, aio:, ioemu:, tapdisk: are dropped, raw: and qcow2: set the
 *     format ("tap:aio:/x" is /x, "tap:qcow2:/x" a qcow2 /x); after one, the
 *     format field is skipped, which
 *     is what makes the legacy 'phy:/dev/x,xvda,w' work; a phy: target
 *     without a leading '/' is under /dev, as xl's block script has it;
 *   - anything else is positional: target, format, vdev, access, in order
 *     ("hdc:cdrom" as a vdev is the legacy devtype suffix).
 *
 * vireo serves raw images, block devices and qcow2 images as virtio-blk
 * disks; vdevs (xvda, hda, sda, d0) only order the disks and must name
 * distinct disks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/vm_config_impl.h"
#include "toolstack/xl_keys.h"

struct field {
    bool given;
    size_t off, len;    /* in the spec */
};

struct dspec {
    struct vm_build *b;
    const struct xlcfg_value *v;
    const char *s;
    size_t len;
    bool had_prefix;
    bool phy;               /* the phy: prefix: a relative target is under /dev */
    struct field target, format, vdev, access;
    enum bdev_format fmt;
    bool readonly, discard, no_backing, backing_given;
    bool target_key;        /* the target came from target=, which takes the rest */
};

#define SHOWN(d, f, buf) VMC_SHOW(buf, (d)->s + (f).off, (f).len)

static bool lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool span_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(s, word, len);
}

static int set_format(struct dspec *d, size_t off, size_t len)
{
    char shown[VMC_SHOW_MAX], was[VMC_SHOW_MAX];
    const char *f = d->s + off;
    VMC_SHOW(shown, f, len);
    enum bdev_format fmt;
    if (!len || span_is(f, len, "raw"))
        fmt = BDEV_FORMAT_RAW;
    else if (span_is(f, len, "qcow2"))
        fmt = BDEV_FORMAT_QCOW2;
    else if (span_is(f, len, "qcow") || span_is(f, len, "vhd") || span_is(f, len, "qed"))
        return vmc_err_at(d->b, d->v, off, "format '%s' is not supported here (raw or qcow2)", shown);
    else if (span_is(f, len, "empty"))
        return vmc_err_at(d->b, d->v, off, "format 'empty' (an empty CD-ROM drive) is not supported here "
                                           "(raw or qcow2)");
    else
        return vmc_err_at(d->b, d->v, off, "'%s' is not a disk format; expected raw or qcow2 (the fields are "
                                           "target,format,vdev,access; the legacy target,vdev,access form "
                                           "needs a prefix such as phy: or file:)", shown);
    /* Two that disagree ("qcow2:/x" and format=raw) are a mistake. */
    if (d->format.given && d->format.len && len && fmt != d->fmt)
        return vmc_err_at(d->b, d->v, off, "disk format is given twice ('%s' and '%s'); expected it once",
                          SHOWN(d, d->format, was), shown);
    if (len || !d->format.given) {
        d->format = (struct field){true, off, len};
        d->fmt = fmt;
    }
    return 0;
}

/* vireo's own: whether a qcow2 image may name a backing file. */
static int set_backing(struct dspec *d, size_t off, size_t len)
{
    char shown[VMC_SHOW_MAX];
    const char *v = d->s + off;
    if (d->backing_given)
        return vmc_err_at(d->b, d->v, off, "disk option backing is given twice; expected it once");
    if (span_is(v, len, "on"))
        d->no_backing = false;
    else if (span_is(v, len, "off"))
        d->no_backing = true;
    else
        return vmc_err_at(d->b, d->v, off, "backing=%s: expected on or off", VMC_SHOW(shown, v, len));
    d->backing_given = true;
    return 0;
}

static int set_access(struct dspec *d, size_t off, size_t len)
{
    char shown[VMC_SHOW_MAX];
    const char *a = d->s + off;
    if (d->access.given)
        return vmc_err_at(d->b, d->v, off, "disk access is given twice; expected it once");
    if (span_is(a, len, "r") || span_is(a, len, "ro"))
        d->readonly = true;
    else if (!len || span_is(a, len, "rw") || span_is(a, len, "w"))
        d->readonly = false;
    else
        return vmc_err_at(d->b, d->v, off, "unknown disk access '%s'; expected r, ro, rw or w",
                          VMC_SHOW(shown, a, len));
    d->access = (struct field){true, off, len};
    return 0;
}

static int set_devtype(struct dspec *d, size_t off, size_t len)
{
    char shown[VMC_SHOW_MAX];
    const char *t = d->s + off;
    if (span_is(t, len, "disk"))
        return 0;
    if (span_is(t, len, "cdrom"))
        return vmc_err_at(d->b, d->v, off, "devtype 'cdrom' is not supported here (vireo has no CD-ROM "
                                           "device); expected disk");
    return vmc_err_at(d->b, d->v, off, "unknown disk devtype '%s'; expected disk", VMC_SHOW(shown, t, len));
}

static int set_string_field(struct dspec *d, struct field *f, const char *what, size_t off, size_t len)
{
    char a[VMC_SHOW_MAX], b[VMC_SHOW_MAX];
    /* xl: an empty value counts as not given; a second non-empty one is an error. */
    if (f->given && f->len && len)
        return vmc_err_at(d->b, d->v, off, "disk %s is given twice ('%s' and '%s'); expected it once", what,
                          SHOWN(d, *f, a), VMC_SHOW(b, d->s + off, len));
    if (len || !f->given)
        *f = (struct field){true, off, len};
    return 0;
}

/* A vdev, or the legacy "vdev:devtype". */
static int set_vdev(struct dspec *d, size_t off, size_t len)
{
    const char *colon = memchr(d->s + off, ':', len);
    if (colon) {
        size_t vl = (size_t)(colon - (d->s + off));
        if (set_devtype(d, off + vl + 1, len - vl - 1) < 0)
            return -1;
        len = vl;
    }
    return set_string_field(d, &d->vdev, "vdev", off, len);
}

static int positional(struct dspec *d, size_t off, size_t len)
{
    char shown[VMC_SHOW_MAX];
    if (memchr(d->s + off, '=', len))
        return vmc_err_at(d->b, d->v, off, "'%s' in a disk spec has '=' but is not an option; a target with "
                                           "'=' must come last, as target=PATH", VMC_SHOW(shown, d->s + off, len));
    if (!d->target.given)
        return set_string_field(d, &d->target, "target", off, len);
    if (!d->had_prefix && !d->format.given) {
        /* xend's empty cdrom: ",hdc:cdrom,r" */
        if (!d->target.len && memchr(d->s + off, ':', len)) {
            d->format = (struct field){true, off, 0};
            return set_vdev(d, off, len);
        }
        return set_format(d, off, len);
    }
    if (!d->vdev.given)
        return set_vdev(d, off, len);
    if (!d->access.given)
        return set_access(d, off, len);
    return vmc_err_at(d->b, d->v, off, "too many fields in disk spec at '%s'; expected at most "
                                       "target,format,vdev,access", VMC_SHOW(shown, d->s + off, len));
}

static int key_value(struct dspec *d, size_t off, size_t klen, size_t voff, size_t vlen)
{
    static const char *const xl_only[] = {"backend", "backendtype", "script", "specification", "colo-host",
                                          "colo-port", "colo-export", "active-disk", "hidden-disk",
                                          "grant_usage"};
    static const char *const known[] = {"format", "vdev", "access", "devtype", "target", "backing"};
    char shown[VMC_SHOW_MAX];
    const char *k = d->s + off;
    VMC_SHOW(shown, k, klen);
    if (span_is(k, klen, "format"))
        return set_format(d, voff, vlen);
    if (span_is(k, klen, "backing"))
        return set_backing(d, voff, vlen);
    if (span_is(k, klen, "vdev"))
        return set_string_field(d, &d->vdev, "vdev", voff, vlen);
    if (span_is(k, klen, "access"))
        return set_access(d, voff, vlen);
    if (span_is(k, klen, "devtype"))
        return set_devtype(d, voff, vlen);
    for (size_t i = 0; i < sizeof(xl_only) / sizeof(xl_only[0]); i++) {
        if (span_is(k, klen, xl_only[i]))
            return vmc_err_at(d->b, d->v, off, "disk option '%s' is valid for xl but not supported by vireo", shown);
    }
    char word[XLCFG_MAX_KEY + 1] = "";
    if (klen <= XLCFG_MAX_KEY) {
        memcpy(word, k, klen);
        word[klen] = 0;
    }
    const char *hint = word[0] ? xl_suggest(word, known, sizeof(known) / sizeof(known[0]), false) : NULL;
    if (hint)
        return vmc_err_at(d->b, d->v, off, "unknown disk option '%s'; did you mean '%s'?", shown, hint);
    return vmc_err_at(d->b, d->v, off, "unknown disk option '%s'; expected format=, vdev=, access=, devtype=, "
                                       "backing=, target=, discard or no-discard", shown);
}

/* A whole parameter with no '=': a flag, or 0 meaning "not a flag". */
static int flag(struct dspec *d, size_t off, size_t len, bool *done)
{
    const char *t = d->s + off;
    *done = true;
    if (span_is(t, len, "discard")) {
        d->discard = true;
    } else if (span_is(t, len, "no-discard")) {
        d->discard = false;
    } else if (span_is(t, len, "cdrom")) {
        return set_devtype(d, off, len);
    } else if (span_is(t, len, "direct-io-safe") || span_is(t, len, "trusted") || span_is(t, len, "no-colo")) {
        /* Hints for Xen's back-ends that change nothing here (trusted and
         * no-colo are xl's defaults). */
    } else if (span_is(t, len, "untrusted") || span_is(t, len, "colo")) {
        char shown[VMC_SHOW_MAX];
        return vmc_err_at(d->b, d->v, off, "disk option '%s' is valid for xl but not supported by vireo",
                          VMC_SHOW(shown, t, len));
    } else {
        *done = false;
    }
    return 0;
}

/* "word:" at off, as libxlu's prefix rules: known ones are consumed
 * (1), unknown ones followed by a non-[a-z0-9] are errors, others are not
 * prefixes (0: "xvda:cdrom"). */
static int prefix(struct dspec *d, size_t off, size_t *used)
{
    static const char *const ignored[] = {"phy", "file", "tap", "tap2", "aio", "ioemu", "tapdisk"};
    static const char *const scripts[] = {"iscsi", "nbd", "enbd", "drbd"};
    const char *t = d->s + off;
    size_t rest = d->len - off, n = 0;
    char shown[VMC_SHOW_MAX];
    if (!rest || t[0] < 'a' || t[0] > 'z')
        return 0;
    while (n < rest && lower_alnum(t[n]))
        n++;
    if (n == rest || t[n] != ':')
        return 0;
    *used = n + 1;
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        if (span_is(t, n, ignored[i])) {
            d->had_prefix = true;
            d->phy |= i == 0;
            return 1;
        }
    }
    if (span_is(t, n, "raw") || span_is(t, n, "qcow") || span_is(t, n, "qcow2") || span_is(t, n, "vhd") ||
        span_is(t, n, "qed")) {
        d->had_prefix = true;
        return set_format(d, off, n) < 0 ? -1 : 1;
    }
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        if (span_is(t, n, scripts[i]))
            return vmc_err_at(d->b, d->v, off, "disk prefix '%s:' (a block script) is valid for xl but not "
                                               "supported by vireo", scripts[i]);
    }
    if (n + 1 == rest || !lower_alnum(t[n + 1]))
        return vmc_err_at(d->b, d->v, off, "unknown disk prefix '%s:'; expected phy:, file:, tap:, tap2:, aio:, "
                                           "ioemu:, tapdisk:, raw: or qcow2:", VMC_SHOW(shown, t, n));
    return 0;
}

static bool key_name(const char *s, size_t len, size_t *klen)
{
    size_t n = 0;
    if (!len || s[0] < 'a' || s[0] > 'z')
        return false;
    while (n < len && (lower_alnum(s[n]) || s[n] == '-' || s[n] == '_'))
        n++;
    *klen = n;
    return n < len && s[n] == '=';
}

static int parse_spec(struct dspec *d)
{
    size_t p = 0;
    while (p < d->len) {
        while (p < d->len && (d->s[p] == ' ' || d->s[p] == '\t' || d->s[p] == '\n'))
            p++;
        if (p == d->len)
            break;
        const char *t = d->s + p;
        size_t rest = d->len - p;
        if (rest >= 7 && !memcmp(t, "target=", 7)) {
            size_t vl = rest - 7;
            if (vl && t[7 + vl - 1] == ',')
                vl--;
            d->target_key = true;
            return set_string_field(d, &d->target, "target", p + 7, vl);
        }
        const char *comma = memchr(t, ',', rest);
        size_t tl = comma ? (size_t)(comma - t) : rest;
        size_t next = p + tl + (comma ? 1 : 0);
        size_t klen, used;
        if (key_name(t, tl, &klen)) {
            if (key_value(d, p, klen, p + klen + 1, tl - klen - 1) < 0)
                return -1;
            p = next;
            continue;
        }
        bool done;
        if (flag(d, p, tl, &done) < 0)
            return -1;
        if (done) {
            p = next;
            continue;
        }
        int r = prefix(d, p, &used);
        if (r < 0)
            return -1;
        if (r > 0) {
            p += used;
            continue;
        }
        if (positional(d, p, tl) < 0)
            return -1;
        p = next;
    }
    return 0;
}

unsigned vmc_disk_letters(const char *s, size_t n)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)   /* bijective base 26: a..z, aa.. */
        v = v * 26 + (unsigned)(s[i] - 'a') + 1;
    return v - 1;
}

/* The disk number of a whole-disk vdev (xen-vbd-interface(7)). */
static int vdev_index(struct dspec *d, unsigned *index)
{
    const char *s = d->s + d->vdev.off;
    size_t len = d->vdev.len, n = 0, letters;
    char shown[VMC_SHOW_MAX];
    VMC_SHOW(shown, s, len);
    const char *bad = "invalid vdev '%s'; expected xvdX, hdX, sdX or dN, e.g. xvda";
    if (len >= sizeof(((struct vm_disk *)0)->vdev))
        return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
    while (n < len && s[n] >= '0' && s[n] <= '9')
        n++;
    if (n == len)
        return vmc_err_at(d->b, d->v, d->vdev.off, "numeric vdev '%s' is not supported here; expected a name "
                                                   "such as xvda", shown);
    size_t head = len >= 3 && !memcmp(s, "xvd", 3) ? 3 : len >= 2 && (!memcmp(s, "hd", 2) || !memcmp(s, "sd", 2)) ? 2 : 0;
    if (head) {
        for (letters = 0; head + letters < len && s[head + letters] >= 'a' && s[head + letters] <= 'z'; letters++)
            ;
        if (!letters || (head == 2 && letters > 1) || letters > 3)
            return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
        unsigned v = vmc_disk_letters(s + head, letters);
        if (head + letters < len) {
            for (size_t i = head + letters; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                    return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
            }
            return vmc_err_at(d->b, d->v, d->vdev.off, "vdev '%s' is a partition; expected a whole disk such as "
                                                       "%.*s", shown, (int)(head + letters), s);
        }
        if (s[0] == 'h' && v > 3)
            return vmc_err_at(d->b, d->v, d->vdev.off, "vdev '%s' is out of range; expected hda to hdd", shown);
        if (s[0] == 's' && v > 15)
            return vmc_err_at(d->b, d->v, d->vdev.off, "vdev '%s' is out of range; expected sda to sdp", shown);
        *index = v;
        return 0;
    }
    if (s[0] == 'd' && len > 1 && s[1] >= '0' && s[1] <= '9') {
        size_t i = 1;
        unsigned v = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9' && v < (1u << 20))
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (v >= (1u << 20) || (s[1] == '0' && i > 2))
            return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
        if (i < len) {
            if (s[i] != 'p' || i + 1 == len)
                return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
            for (size_t j = i + 1; j < len; j++) {
                if (s[j] < '0' || s[j] > '9')
                    return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
            }
            if (!(len == i + 2 && s[i + 1] == '0'))
                return vmc_err_at(d->b, d->v, d->vdev.off, "vdev '%s' is a partition; expected a whole disk such "
                                                           "as %.*s", shown, (int)i, s);
        }
        *index = v;
        return 0;
    }
    return vmc_err_at(d->b, d->v, d->vdev.off, bad, shown);
}

static int disk_parse(struct vm_build *b, const struct xlcfg_value *v, struct vm_disk *out, size_t *vdev_off)
{
    if (v->type == XLCFG_LIST)
        return vmc_err(b, &v->loc, "disk entries must be strings, not [lists]; expected 'SPEC'");
    struct dspec d = {.b = b, .v = v, .s = v->str, .len = v->len, .discard = true};
    if (parse_spec(&d) < 0)
        return -1;
    /* xl's own message here is a bare "no vdev"; the cause is nearly always
     * a target= written before the other parameters, which it swallowed. */
    if ((!d.vdev.given || !d.vdev.len) && d.target_key && memchr(d.s + d.target.off, ',', d.target.len)) {
        char shown[VMC_SHOW_MAX];
        return vmc_err_at(b, v, d.target.off - 7, "target= takes the rest of the disk spec, commas included "
                                                  "(here '%s'), so no vdev is left; target= must come last, "
                                                  "as xl requires", SHOWN(&d, d.target, shown));
    }
    if (!d.vdev.given || !d.vdev.len)
        return vmc_err_at(b, v, XLCFG_WHOLE, "no vdev in disk spec; expected target,format,vdev,access such as "
                                   "'/dev/vg/guest,raw,xvda,rw'");
    if (!d.target.given || !d.target.len)
        return vmc_err_at(b, v, XLCFG_WHOLE, "no target in disk spec; expected the path of an image or block device");
    if (vmc_path(b, v, d.target.off, d.s + d.target.off, d.target.len, "disk target", "a plain path") < 0)
        return -1;
    unsigned index = 0;
    if (vdev_index(&d, &index) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    /* xl's block hotplug script puts a phy: target without a leading '/'
     * under /dev ('phy:vg_xen/vm-1' is /dev/vg_xen/vm-1). */
    bool under_dev = d.phy && d.s[d.target.off] != '/';
    if (under_dev && asprintf(&out->target, "/dev/%.*s", (int)d.target.len, d.s + d.target.off) < 0)
        out->target = NULL;
    else if (!under_dev)
        out->target = strndup(d.s + d.target.off, d.target.len);
    if (!out->target)
        return vmc_err(b, &v->loc, "out of memory");
    memcpy(out->vdev, d.s + d.vdev.off, d.vdev.len);
    out->vdev[d.vdev.len] = 0;
    out->index = index;
    out->readonly = d.readonly;
    out->discard = d.discard;
    out->format = d.fmt;
    out->no_backing = d.no_backing;
    out->loc = v->loc;
    *vdev_off = d.vdev.off;
    return 0;
}

int vmc_disks(struct vm_build *b, const struct xlcfg_value *list)
{
    struct vm_config *c = b->c;
    for (size_t i = 0; i < list->nitems; i++) {
        const struct xlcfg_value *v = &list->items[i];
        if (c->ndisks == VM_MAX_DISKS)
            return vmc_err(b, &v->loc, "more than %d disks; expected at most %d", VM_MAX_DISKS, VM_MAX_DISKS);
        struct vm_disk disk;
        size_t vdev_off = 0;
        if (disk_parse(b, v, &disk, &vdev_off) < 0)
            return -1;
        for (unsigned j = 0; j < c->ndisks; j++) {
            if (c->disks[j].index == disk.index) {
                char shown[VMC_SHOW_MAX];
                free(disk.target);
                return vmc_err_at(b, v, vdev_off, "vdev '%s' is already used by disk %u ('%s'); expected a different vdev",
                                  VMC_SHOW(shown, disk.vdev, strlen(disk.vdev)), j + 1, c->disks[j].vdev);
            }
        }
        c->disks[c->ndisks++] = disk;
    }
    /* The guest names virtio disks in PCI order: put xvda first. */
    for (unsigned i = 1; i < c->ndisks; i++) {
        struct vm_disk t = c->disks[i];
        unsigned j = i;
        for (; j > 0 && c->disks[j - 1].index > t.index; j--)
            c->disks[j] = c->disks[j - 1];
        c->disks[j] = t;
    }
    return 0;
}

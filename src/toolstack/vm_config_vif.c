/* vif = ['SPEC', ...], per xl-network-configuration(5): each SPEC is
 * comma-separated KEY=VALUE items (blanks around items are dropped and
 * empty items skipped, as xl's strtok loop does; '' is a vif with every
 * default).  vireo will give the guest virtio-net devices on a host bridge,
 * so it takes mac, bridge, vifname, model (virtio only) and mtu, and a key
 * of its own, vhost=on|off (the kernel's vhost-net as the data plane;
 * unset: on where /dev/vhost-net is usable); xl's other keys (script, ip,
 * rate, type, ...) are refused by name. */
#include <stdio.h>
#include <string.h>

#include "util/hex.h"
#include "toolstack/vm_config_impl.h"
#include "toolstack/xl_keys.h"

struct vspec {
    struct vm_build *b;
    const struct xlcfg_value *v;
    const char *s;
    size_t mac_off, vifname_off;
    unsigned given;      /* bit per key in keys[] */
};

static const char *const keys[] = {"mac", "bridge", "vifname", "model", "mtu", "vhost"};
enum { K_MAC, K_BRIDGE, K_VIFNAME, K_MODEL, K_MTU, K_VHOST };

static const char *const xl_only[] = {"type", "script", "ip", "backend", "rate", "devid", "gatewaydev", "netdev",
                                      "forwarddev", "accel", "specification", "trusted", "untrusted"};

static bool span_is(const char *s, size_t len, const char *word)
{
    return strlen(word) == len && !memcmp(s, word, len);
}

static int parse_mac(struct vspec *d, size_t off, const char *s, size_t len, uint8_t mac[6])
{
    char shown[VMC_SHOW_MAX];
    VMC_SHOW(shown, s, len);
    bool ok = len == 17;
    for (size_t i = 0; ok && i < 6; i++) {
        int h = hex_digit((unsigned char)s[i * 3]), l = hex_digit((unsigned char)s[i * 3 + 1]);
        ok = h >= 0 && l >= 0 && (i == 5 || s[i * 3 + 2] == ':');
        mac[i] = (uint8_t)(h * 16 + l);
    }
    if (!ok)
        return vmc_err_at(d->b, d->v, off, "invalid MAC '%s'; expected six hex pairs such as 00:16:3e:12:34:56",
                          shown);
    if (mac[0] & 1)
        return vmc_err_at(d->b, d->v, off, "MAC %s is a multicast address; expected a unicast address "
                                           "(first byte even)", shown);
    if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
        return vmc_err_at(d->b, d->v, off, "MAC %s is all zeros; expected a real address", shown);
    return 0;
}

/* Linux's dev_valid_name(), kept to printable ASCII. */
static int ifname(struct vspec *d, size_t off, const char *s, size_t len, const char *what, char *out)
{
    char shown[VMC_SHOW_MAX];
    bool ok = len && len <= VM_IFNAME_MAX && !span_is(s, len, ".") && !span_is(s, len, "..");
    for (size_t i = 0; ok && i < len; i++)
        ok = s[i] > 0x20 && s[i] < 0x7f && s[i] != '/' && s[i] != ':';
    if (!ok)
        return vmc_err_at(d->b, d->v, off, "invalid %s '%s'; expected 1 to %d characters without '/', ':' or "
                                           "spaces", what, VMC_SHOW(shown, s, len), VM_IFNAME_MAX);
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

static int item(struct vspec *d, size_t off, size_t len, struct vm_vif *vif)
{
    char shown[VMC_SHOW_MAX];
    const char *t = d->s + off;
    const char *eq = memchr(t, '=', len);
    if (!eq)
        return vmc_err_at(d->b, d->v, off, "'%s' in a vif spec is not KEY=VALUE; expected e.g. bridge=br0",
                          VMC_SHOW(shown, t, len));
    size_t kl = (size_t)(eq - t);
    while (kl && (t[kl - 1] == ' ' || t[kl - 1] == '\t'))
        kl--;
    size_t vo = off + (size_t)(eq - t) + 1, vl = len - (size_t)(eq - t) - 1;
    while (vl && (d->s[vo] == ' ' || d->s[vo] == '\t')) {
        vo++;
        vl--;
    }
    const char *val = d->s + vo;
    VMC_SHOW(shown, t, kl);
    int k = -1;
    for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
        if (span_is(t, kl, keys[i]))
            k = i;
    }
    if (k < 0) {
        for (size_t i = 0; i < sizeof(xl_only) / sizeof(xl_only[0]); i++) {
            if (span_is(t, kl, xl_only[i]))
                return vmc_err_at(d->b, d->v, off, "vif option '%s' is valid for xl but not supported by vireo",
                                  shown);
        }
        if (kl >= 5 && !memcmp(t, "colo_", 5))
            return vmc_err_at(d->b, d->v, off, "vif option '%s' is valid for xl but not supported by vireo", shown);
        char word[XLCFG_MAX_KEY + 1] = "";
        if (kl <= XLCFG_MAX_KEY) {
            memcpy(word, t, kl);
            word[kl] = 0;
        }
        const char *hint = word[0] ? xl_suggest(word, keys, sizeof(keys) / sizeof(keys[0]), false) : NULL;
        if (hint)
            return vmc_err_at(d->b, d->v, off, "unknown vif option '%s'; did you mean '%s'?", shown, hint);
        return vmc_err_at(d->b, d->v, off, "unknown vif option '%s'; expected mac, bridge, vifname, model, mtu or vhost",
                          shown);
    }
    if (d->given & (1u << k))
        return vmc_err_at(d->b, d->v, off, "vif option '%s' is given twice; expected it once", keys[k]);
    d->given |= 1u << k;
    if (!vl)
        return vmc_err_at(d->b, d->v, off, "vif option '%s' is empty; expected a value", keys[k]);
    uint64_t n;
    switch (k) {
    case K_MAC:
        d->mac_off = vo;
        vif->has_mac = true;
        return parse_mac(d, vo, val, vl, vif->mac);
    case K_BRIDGE:
        return ifname(d, vo, val, vl, "bridge name", vif->bridge);
    case K_VIFNAME:
        d->vifname_off = vo;
        return ifname(d, vo, val, vl, "vifname", vif->vifname);
    case K_MODEL:
        if (span_is(val, vl, "virtio") || span_is(val, vl, "virtio-net"))
            return 0;
        return vmc_err_at(d->b, d->v, vo, "vif model '%s' is not supported here (virtio-net only); expected virtio",
                          VMC_SHOW(shown, val, vl));
    case K_VHOST:
        if (span_is(val, vl, "on") || span_is(val, vl, "off")) {
            vif->vhost = span_is(val, vl, "on") ? VM_VHOST_ON : VM_VHOST_OFF;
            return 0;
        }
        return vmc_err_at(d->b, d->v, vo, "vif vhost '%s' is not on or off; expected vhost=on (the kernel's "
                          "vhost-net) or vhost=off (frames through the VMM)", VMC_SHOW(shown, val, vl));
    default:
        if (vmc_uint(d->b, d->v, vo, val, vl, "vif mtu", 68, 65535, "68 to 65535", &n) < 0)
            return -1;
        vif->mtu = (unsigned)n;
        return 0;
    }
}

int vmc_vifs(struct vm_build *b, const struct xlcfg_value *list)
{
    struct vm_config *c = b->c;
    for (size_t i = 0; i < list->nitems; i++) {
        const struct xlcfg_value *v = &list->items[i];
        if (v->type == XLCFG_LIST)
            return vmc_err(b, &v->loc, "vif entries must be strings, not [lists]; expected 'SPEC'");
        if (c->nvifs == VM_MAX_NETS)
            return vmc_err(b, &v->loc, "more than %d vifs; expected at most %d", VM_MAX_NETS, VM_MAX_NETS);
        struct vm_vif vif = {.loc = v->loc};
        snprintf(vif.bridge, sizeof(vif.bridge), "%s", VM_DEFAULT_BRIDGE);
        struct vspec d = {.b = b, .v = v, .s = v->str};
        size_t p = 0, s, z;
        while (vmc_next_field(v->str, v->len, &p, &s, &z))
            if (z > s && item(&d, s, z - s, &vif) < 0)
                return -1;
        for (unsigned j = 0; j < c->nvifs; j++) {
            const struct vm_vif *o = &c->vifs[j];
            if (vif.has_mac && o->has_mac && !memcmp(vif.mac, o->mac, 6))
                return vmc_err_at(b, v, d.mac_off, "MAC %02x:%02x:%02x:%02x:%02x:%02x is already used by vif %u; "
                                                   "expected a unique MAC", vif.mac[0], vif.mac[1], vif.mac[2],
                                  vif.mac[3], vif.mac[4], vif.mac[5], j + 1);
            if (vif.vifname[0] && !strcmp(vif.vifname, o->vifname))
                return vmc_err_at(b, v, d.vifname_off, "vifname '%s' is already used by vif %u; expected a unique name",
                                  vif.vifname, j + 1);
        }
        c->vifs[c->nvifs++] = vif;
    }
    return 0;
}

#include "net/netlink.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct nl {
    struct mnl_socket *sk;
    unsigned seq, portid;
};

/* "cannot <fmt...>: <why>", the why from errno, naming the fix for EPERM. */
static void __attribute__((format(printf, 3, 4))) err_errno(char *err, size_t errlen, const char *fmt, ...)
{
    int e = errno;
    int n = snprintf(err, errlen, "cannot ");
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < errlen)
        n += vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < errlen)
        snprintf(err + n, errlen - (size_t)n, ": %s",
                 e == EPERM || e == EACCES ? "needs CAP_NET_ADMIN: run as root" : strerror(e));
}

static int name_ok(const char *ifname, char *err, size_t errlen)
{
    if (!*ifname || strlen(ifname) >= IFNAMSIZ) {
        snprintf(err, errlen, "interface name '%s' is %s (1 to %d characters)", ifname,
                 *ifname ? "too long" : "empty", IFNAMSIZ - 1);
        return -1;
    }
    return 0;
}

static int nl_open(struct nl *nl, char *err, size_t errlen)
{
    nl->sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl->sk || mnl_socket_bind(nl->sk, 0, MNL_SOCKET_AUTOPID) < 0) {
        snprintf(err, errlen, "cannot open an rtnetlink socket: %s", strerror(errno));
        if (nl->sk)
            mnl_socket_close(nl->sk);
        return -1;
    }
    nl->portid = mnl_socket_get_portid(nl->sk);
    nl->seq = (unsigned)time(NULL);
    return 0;
}

/* Always asks for the ACK: a GET's reply is then followed by one, so the
 * loop ends the same way for every request, and a change's error (errno,
 * set by mnl_cb_run from the kernel's NLMSG_ERROR) is never missed. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++nl->seq;
    if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
        return -1;
    /* A link's description is a few KB (a bridge's the largest); the
     * kernel truncates a datagram that does not fit, so leave room. */
    uint64_t buf[32768 / sizeof(uint64_t)];
    for (;;) {
        ssize_t n = mnl_socket_recvfrom(nl->sk, buf, sizeof(buf));
        if (n < 0)
            return -1;
        int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, cb, data);
        if (r <= MNL_CB_STOP)
            return r < 0 ? -1 : 0;
    }
}

struct attrs {
    const struct nlattr **tb;
    unsigned max;
};

static int collect(const struct nlattr *a, void *data)
{
    struct attrs *at = data;
    if (mnl_attr_get_type(a) <= at->max)
        at->tb[mnl_attr_get_type(a)] = a;
    return MNL_CB_OK;
}

static uint8_t get_u8(const struct nlattr *a)
{
    return a && mnl_attr_validate(a, MNL_TYPE_U8) == 0 ? mnl_attr_get_u8(a) : 0;
}

static uint32_t get_u32(const struct nlattr *a)
{
    return a && mnl_attr_validate(a, MNL_TYPE_U32) == 0 ? mnl_attr_get_u32(a) : 0;
}

static void parse_linkinfo(const struct nlattr *info, struct nl_link *l)
{
    const struct nlattr *tb[IFLA_INFO_MAX + 1] = {0};
    mnl_attr_parse_nested(info, collect, &(struct attrs){tb, IFLA_INFO_MAX});
    if (tb[IFLA_INFO_KIND] && mnl_attr_validate(tb[IFLA_INFO_KIND], MNL_TYPE_STRING) == 0)
        snprintf(l->kind, sizeof(l->kind), "%s", mnl_attr_get_str(tb[IFLA_INFO_KIND]));
    if (strcmp(l->kind, "tun") || !tb[IFLA_INFO_DATA])
        return;
    const struct nlattr *tun[IFLA_TUN_MAX + 1] = {0};
    mnl_attr_parse_nested(tb[IFLA_INFO_DATA], collect, &(struct attrs){tun, IFLA_TUN_MAX});
    l->tun_type = get_u8(tun[IFLA_TUN_TYPE]);
    l->tun_multi_queue = get_u8(tun[IFLA_TUN_MULTI_QUEUE]);
    l->tun_persist = get_u8(tun[IFLA_TUN_PERSIST]);
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
    struct nl_link *l = data;
    if (nlh->nlmsg_type != RTM_NEWLINK)
        return MNL_CB_OK;
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
    const struct nlattr *tb[IFLA_MAX + 1] = {0};
    mnl_attr_parse(nlh, sizeof(*ifi), collect, &(struct attrs){tb, IFLA_MAX});
    l->index = ifi->ifi_index;
    l->type = ifi->ifi_type;
    l->flags = ifi->ifi_flags;
    l->mtu = get_u32(tb[IFLA_MTU]);
    l->master = (int)get_u32(tb[IFLA_MASTER]);
    if (tb[IFLA_LINKINFO])
        parse_linkinfo(tb[IFLA_LINKINFO], l);
    return MNL_CB_OK;
}

/* Requests are small: a header, an ifinfomsg and two or three attributes. */
#define REQ_WORDS 128

static int link_get(struct nl *nl, const char *ifname, struct nl_link *l, char *err, size_t errlen)
{
    uint64_t buf[REQ_WORDS];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_GETLINK;
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    memset(l, 0, sizeof(*l));
    if (nl_talk(nl, nlh, link_cb, l) < 0) {
        if (errno == ENODEV)
            return 0;
        err_errno(err, errlen, "look up interface %s", ifname);
        return -1;
    }
    return l->index > 0;
}

int nl_link_get(const char *ifname, struct nl_link *l, char *err, size_t errlen)
{
    struct nl nl;
    if (name_ok(ifname, err, errlen) < 0 || nl_open(&nl, err, errlen) < 0)
        return -1;
    int r = link_get(&nl, ifname, l, err, errlen);
    mnl_socket_close(nl.sk);
    return r;
}

const char *nl_link_describe(const struct nl_link *l)
{
    if (!strcmp(l->kind, "tun"))
        return l->tun_type == IFF_TUN ? "TUN device" : "TAP device";
    if (l->kind[0])
        return l->kind;
    if (l->type == ARPHRD_LOOPBACK)
        return "loopback device";
    return l->type == ARPHRD_ETHER ? "plain Ethernet device" : "network device";
}

static int bridge_get(struct nl *nl, const char *bridge, struct nl_link *l, char *err, size_t errlen)
{
    int r = link_get(nl, bridge, l, err, errlen);
    if (r == 0)
        snprintf(err, errlen, "no bridge %s (create it: ip link add %s type bridge)", bridge, bridge);
    else if (r > 0 && strcmp(l->kind, "bridge"))
        snprintf(err, errlen, "%s is not a bridge (it is a %s)", bridge, nl_link_describe(l));
    return r > 0 && !strcmp(l->kind, "bridge") ? 0 : -1;
}

int nl_bridge_check(const char *bridge, char *err, size_t errlen)
{
    struct nl nl;
    struct nl_link l;
    if (name_ok(bridge, err, errlen) < 0 || nl_open(&nl, err, errlen) < 0)
        return -1;
    int r = bridge_get(&nl, bridge, &l, err, errlen);
    mnl_socket_close(nl.sk);
    return r;
}

/* One RTM_SETLINK: either an u32 attribute (attr != 0) or IFF_UP. */
static int link_set(struct nl *nl, int index, const char *ifname, unsigned short attr, uint32_t val)
{
    uint64_t buf[REQ_WORDS];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_SETLINK;
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    if (!index)
        mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
    if (attr) {
        mnl_attr_put_u32(nlh, attr, val);
    } else {
        ifi->ifi_change = IFF_UP;
        ifi->ifi_flags = IFF_UP;
    }
    return nl_talk(nl, nlh, NULL, NULL);
}

int nl_attach_to_bridge(const char *ifname, const char *bridge, char *err, size_t errlen)
{
    struct nl nl;
    if (name_ok(ifname, err, errlen) < 0 || name_ok(bridge, err, errlen) < 0 || nl_open(&nl, err, errlen) < 0)
        return -1;
    struct nl_link br, port;
    int r = -1;
    if (bridge_get(&nl, bridge, &br, err, errlen) < 0)
        goto out;
    int found = link_get(&nl, ifname, &port, err, errlen);
    if (found <= 0) {
        if (found == 0)
            snprintf(err, errlen, "no interface %s", ifname);
        goto out;
    }
    /* The MTU first: a bridge whose MTU nobody set follows its smallest
     * port, so a 1500-byte TAP joining a 9000-byte bridge would shrink the
     * whole bridge, and frames the guest sends above the TAP's MTU would
     * be dropped anyway. */
    if (port.mtu != br.mtu && link_set(&nl, port.index, ifname, IFLA_MTU, br.mtu) < 0) {
        err_errno(err, errlen, "set the MTU of %s to %s's, %u", ifname, bridge, br.mtu);
        goto out;
    }
    if (link_set(&nl, port.index, ifname, IFLA_MASTER, (uint32_t)br.index) < 0) {
        err_errno(err, errlen, "enslave %s to bridge %s", ifname, bridge);
        goto out;
    }
    if (link_set(&nl, port.index, ifname, 0, 0) < 0) {
        err_errno(err, errlen, "bring up %s", ifname);
        goto out;
    }
    r = 0;
out:
    mnl_socket_close(nl.sk);
    return r;
}

int nl_link_up(const char *ifname, char *err, size_t errlen)
{
    struct nl nl;
    if (name_ok(ifname, err, errlen) < 0 || nl_open(&nl, err, errlen) < 0)
        return -1;
    int r = link_set(&nl, 0, ifname, 0, 0);
    if (r < 0 && errno == ENODEV)
        snprintf(err, errlen, "no interface %s", ifname);
    else if (r < 0)
        err_errno(err, errlen, "bring up %s", ifname);
    mnl_socket_close(nl.sk);
    return r;
}

/* The few rtnetlink requests the TAP backend needs: look a link up, check
 * a bridge, enslave a TAP to it and bring links up.  Each call opens its
 * own NETLINK_ROUTE socket: they run a handful of times per VM start. */
#ifndef VIREO_NET_NETLINK_H
#define VIREO_NET_NETLINK_H

#include <stdbool.h>
#include <stddef.h>

struct nl_link {
    int index;
    unsigned type;          /* ARPHRD_* */
    unsigned flags;         /* IFF_* */
    unsigned mtu;
    int master;             /* ifindex of its bridge (or bond...), 0 if none */
    char kind[16];          /* IFLA_INFO_KIND: "bridge", "tun", "veth"...; "" for lo, physical NICs */
    int tun_type;           /* kind "tun": IFF_TUN or IFF_TAP */
    bool tun_multi_queue;
    bool tun_persist;
};

/* 1 with *l filled if ifname exists, 0 if not, -1 with a message in err. */
int nl_link_get(const char *ifname, struct nl_link *l, char *err, size_t errlen);
/* What l is, for messages: "bridge", "TAP device", "loopback device"... */
const char *nl_link_describe(const struct nl_link *l);

/* 0 if `bridge` exists and is a Linux bridge, else -1 with
 * "no bridge BR (create it: ip link add BR type bridge)" or
 * "BR is not a bridge (it is a KIND)". */
int nl_bridge_check(const char *bridge, char *err, size_t errlen);
/* Gives ifname the bridge's MTU, enslaves it to the bridge and sets it up:
 * one acknowledged request each, so a failure names the step. */
int nl_attach_to_bridge(const char *ifname, const char *bridge, char *err, size_t errlen);
int nl_link_up(const char *ifname, char *err, size_t errlen);

#endif

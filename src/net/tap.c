#include "net/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "net/netlink.h"

#define TUN_PATH "/dev/net/tun"
#define NEED_CAP "needs CAP_NET_ADMIN: run as root"

static void tap_init(struct tap *t)
{
    memset(t, 0, sizeof(*t));
    for (unsigned q = 0; q < TAP_MAX_QUEUES; q++)
        t->fds[q] = -1;
}

static int queues_ok(unsigned nqueues, char *err, size_t errlen)
{
    if (nqueues >= 1 && nqueues <= TAP_MAX_QUEUES)
        return 0;
    snprintf(err, errlen, "queues=%u: a NIC has 1 to %d queues", nqueues, TAP_MAX_QUEUES);
    return -1;
}

/* The kernel's own rules (dev_valid_name), checked here so the message
 * says what is wrong; '%' too, which the kernel would expand. */
static int name_ok(const char *name, char *err, size_t errlen)
{
    if (strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "interface name '%s' is too long (at most %d characters)", name, IFNAMSIZ - 1);
        return -1;
    }
    if (!*name || strpbrk(name, "/:% \t\n") || !strcmp(name, ".") || !strcmp(name, "..")) {
        snprintf(err, errlen, "interface name '%s' is invalid (empty, '.', '..', or with '/', ':', '%%' "
                 "or a space)", name);
        return -1;
    }
    return 0;
}

static int tun_open(char *err, size_t errlen)
{
    int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
        snprintf(err, errlen, "%s is missing: the tun driver is not loaded (modprobe tun)", TUN_PATH);
    else if (errno == EACCES || errno == EPERM)
        snprintf(err, errlen, "cannot open %s: %s", TUN_PATH, NEED_CAP);
    else
        snprintf(err, errlen, "cannot open %s: %s", TUN_PATH, strerror(errno));
    return -1;
}

static void setiff_error(const struct tap *t, const char *name, unsigned q, unsigned nqueues, bool create,
                         char *err, size_t errlen)
{
    int e = errno;
    struct nl_link l;
    char ignored[8];
    /* The kernel's "vireo%d" template is no name to show anyone. */
    if (strchr(name, '%'))
        name = "(a new vireoN)";
    if (e == EPERM || e == EACCES)
        snprintf(err, errlen, "cannot %s TAP %s: %s", create ? "create" : "attach to", name, NEED_CAP);
    else if (q == 0 && create && e == EBUSY && nl_link_get(name, &l, ignored, sizeof(ignored)) > 0)
        snprintf(err, errlen, "interface %s is already in use (it is a %s): choose another ifname%s%s",
                 name, nl_link_describe(&l), l.tun_type == IFF_TAP ? ", or --net tap=" : "",
                 l.tun_type == IFF_TAP ? name : "");
    else if (q == 0 && !create && e == EBUSY)
        snprintf(err, errlen, "TAP %s is in use: another process has its only queue open", name);
    else if (q > 0 || (nqueues > 1 && (e == EINVAL || e == EBUSY || e == E2BIG)))
        snprintf(err, errlen, "the host cannot give %u queues on TAP %s: queue %u: %s", nqueues, t->ifname[0] ?
                 t->ifname : name, q, strerror(e));
    else
        snprintf(err, errlen, "cannot %s TAP %s: %s", create ? "create" : "attach to", name, strerror(e));
}

/* Queue 0 creates the TAP (or attaches to it); the others attach to it by
 * the name queue 0 got, which the kernel chose if name has a "%d". */
static int open_queues(struct tap *t, const char *name, unsigned nqueues, short flags, bool create,
                       char *err, size_t errlen)
{
    for (unsigned q = 0; q < nqueues; q++) {
        int fd = tun_open(err, errlen);
        if (fd < 0)
            return -1;
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_name, IFNAMSIZ, "%s", q ? t->ifname : name);
        /* IFF_TUN_EXCL makes "does it exist?" and "create it" one step:
         * without it TUNSETIFF would silently join another VM's TAP. */
        ifr.ifr_flags = (short)(flags | (create && q == 0 ? IFF_TUN_EXCL : 0));
        if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
            setiff_error(t, name, q, nqueues, create, err, errlen);
            close(fd);
            return -1;
        }
        t->fds[q] = fd;
        t->nqueues = q + 1;
        if (q == 0) {
            snprintf(t->ifname, sizeof(t->ifname), "%.*s", IFNAMSIZ - 1, ifr.ifr_name);
            t->created = create;
            t->multi_queue = flags & IFF_MULTI_QUEUE;
        }
    }
    return 0;
}

/* The header size belongs to the device, not to a queue: once is enough. */
static int set_hdr_len(struct tap *t, char *err, size_t errlen)
{
    int len = TAP_VNET_HDR_LEN;
    if (ioctl(t->fds[0], TUNSETVNETHDRSZ, &len) == 0)
        return 0;
    snprintf(err, errlen, "cannot set the virtio-net header size of TAP %s: %s", t->ifname, strerror(errno));
    return -1;
}

int tap_create(struct tap *t, const char *ifname, unsigned nqueues, char *err, size_t errlen)
{
    tap_init(t);
    bool named = ifname && *ifname;
    if (queues_ok(nqueues, err, errlen) < 0 || (named && name_ok(ifname, err, errlen) < 0))
        return -1;
    short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (nqueues > 1 ? IFF_MULTI_QUEUE : 0);
    if (open_queues(t, named ? ifname : "vireo%d", nqueues, flags, true, err, errlen) < 0 ||
        set_hdr_len(t, err, errlen) < 0) {
        tap_close(t);
        return -1;
    }
    return 0;
}

int tap_attach(struct tap *t, const char *ifname, unsigned nqueues, char *err, size_t errlen)
{
    tap_init(t);
    if (queues_ok(nqueues, err, errlen) < 0 || name_ok(ifname ? ifname : "", err, errlen) < 0)
        return -1;
    /* TUNSETIFF cannot say "attach only": it would create a missing TAP,
     * and its EINVAL does not say what is wrong.  Ask rtnetlink first. */
    struct nl_link l;
    int found = nl_link_get(ifname, &l, err, errlen);
    if (found < 0)
        return -1;
    if (!found) {
        snprintf(err, errlen, "no TAP %s (create it: ip tuntap add dev %s mode tap%s; "
                 "or use --net bridge=BR and vireo makes one)", ifname, ifname, nqueues > 1 ? " multi_queue" : "");
        return -1;
    }
    if (strcmp(l.kind, "tun")) {
        snprintf(err, errlen, "%s is not a TAP (it is a %s)", ifname, nl_link_describe(&l));
        return -1;
    }
    if (l.tun_type != IFF_TAP) {
        snprintf(err, errlen, "%s is not a TAP (it is a TUN device: IP packets, no Ethernet frames; "
                 "create a TAP: ip tuntap add dev NAME mode tap)", ifname);
        return -1;
    }
    if (nqueues > 1 && !l.tun_multi_queue) {
        snprintf(err, errlen, "the host cannot give %u queues on TAP %s: it is single-queue "
                 "(recreate it: ip tuntap add dev %s mode tap multi_queue)", nqueues, ifname, ifname);
        return -1;
    }
    /* The kernel wants IFF_MULTI_QUEUE exactly as the TAP was made, even
     * for one queue. */
    short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (l.tun_multi_queue ? IFF_MULTI_QUEUE : 0);
    if (open_queues(t, ifname, nqueues, flags, false, err, errlen) < 0)
        goto fail;
    /* Deleted and re-created under our feet (or created by our own
     * TUNSETIFF because it had just gone): not the TAP that was checked. */
    if ((int)if_nametoindex(t->ifname) != l.index) {
        snprintf(err, errlen, "TAP %s was deleted while vireo attached to it", ifname);
        goto fail;
    }
    if (set_hdr_len(t, err, errlen) < 0)
        goto fail;
    /* Only the first opener's flags count: a multi-queue TAP another
     * process holds without IFF_VNET_HDR would hand us headerless frames. */
    struct ifreq ifr = {0};
    if (ioctl(t->fds[0], TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_VNET_HDR)) {
        snprintf(err, errlen, "TAP %s is open in another process without virtio-net headers", ifname);
        goto fail;
    }
    return 0;
fail:
    tap_close(t);
    return -1;
}

/* Offloads are the device's: setting them on one queue sets them for all;
 * but a detached queue's fd no longer reaches the device (EBADFD). */
int tap_set_offload(struct tap *t, unsigned tun_flags)
{
    for (unsigned q = 0; q < t->nqueues; q++)
        if (!t->detached[q])
            return ioctl(t->fds[q], TUNSETOFFLOAD, (unsigned long)tun_flags);
    errno = t->nqueues ? EBADFD : EBADF;
    return -1;
}

int tap_enable_queue(struct tap *t, unsigned q, bool on)
{
    if (q >= t->nqueues) {
        errno = EINVAL;
        return -1;
    }
    /* The kernel answers EINVAL to a queue already in the state asked. */
    if (!t->multi_queue || t->detached[q] == !on)
        return 0;
    struct ifreq ifr = {.ifr_flags = on ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE};
    if (ioctl(t->fds[q], TUNSETQUEUE, &ifr) < 0)
        return -1;
    t->detached[q] = !on;
    return 0;
}

int tap_reset(struct tap *t)
{
    for (unsigned q = 0; q < t->nqueues; q++)
        if (tap_enable_queue(t, q, true) < 0)
            return -1;
    return t->nqueues ? tap_set_offload(t, 0) : 0;
}

/* Only fds below nqueues: a zeroed struct tap must not close fd 0. */
void tap_close(struct tap *t)
{
    for (unsigned q = 0; q < TAP_MAX_QUEUES; q++) {
        if (q < t->nqueues && t->fds[q] >= 0)
            close(t->fds[q]);
        t->fds[q] = -1;
        t->detached[q] = false;
    }
    t->nqueues = 0;
    t->created = false;
    t->multi_queue = false;
}

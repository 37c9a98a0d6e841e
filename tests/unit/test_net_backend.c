/* The TAP + bridge backend against the real kernel, inside a network
 * namespace of its own (so it needs root, and never touches the host's
 * links), plus the MAC helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/mac.h"
#include "net/netlink.h"
#include "net/tap.h"

/* ---- helpers: set-up the code under test must not be trusted with ---- */

static bool link_exists(const char *name)
{
    return if_nametoindex(name) != 0;
}

static unsigned long sys_ulong(const char *ifname, const char *attr)
{
    char path[128], buf[64] = "";
    snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    return strtoul(buf, NULL, 0);
}

/* Raw RTM_NEWLINK, not our netlink.c: the bridge is the fixture. */
static void add_bridge(const char *name, unsigned mtu)
{
    struct mnl_socket *sk = mnl_socket_open(NETLINK_ROUTE);
    assert_non_null(sk);
    assert_int_equal(mnl_socket_bind(sk, 0, MNL_SOCKET_AUTOPID), 0);
    uint64_t buf[1024];
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    nlh->nlmsg_seq = 1;
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    if (mtu)
        mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
    struct nlattr *info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, info);
    assert_true(mnl_socket_sendto(sk, nlh, nlh->nlmsg_len) > 0);
    ssize_t n = mnl_socket_recvfrom(sk, buf, sizeof(buf));
    assert_true(n > 0);
    if (mnl_cb_run(buf, (size_t)n, 1, mnl_socket_get_portid(sk), NULL, NULL) < 0)
        fail_msg("creating bridge %s: %s", name, strerror(errno));
    mnl_socket_close(sk);
}

/* A TUN or TAP made as `ip tuntap add` makes them: persistent, no fd. */
static void add_persistent_tun(const char *name, short flags)
{
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr = {.ifr_flags = flags};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
    close(fd);
    assert_true(link_exists(name));
}

#define assert_err_has(err, text)                                          \
    do {                                                                   \
        if (!strstr((err), (text)))                                        \
            fail_msg("error \"%s\" lacks \"%s\"", (err), (text));          \
    } while (0)

/* ---- tap_create ---- */

static void create_one_queue(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    if (tap_create(&t, "vt1q", 1, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_string_equal(t.ifname, "vt1q");
    assert_true(t.created);
    assert_int_equal(t.nqueues, 1);
    assert_true(t.fds[0] >= 0);
    assert_int_equal(t.fds[1], -1);
    unsigned long fl = sys_ulong("vt1q", "tun_flags");
    assert_int_equal(fl & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
    assert_false(fl & IFF_MULTI_QUEUE);
    assert_false(fl & IFF_PERSIST);
    assert_true(fcntl(t.fds[0], F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(t.fds[0], F_GETFD) & FD_CLOEXEC);
    int len = 0;
    assert_int_equal(ioctl(t.fds[0], TUNGETVNETHDRSZ, &len), 0);
    assert_int_equal(len, TAP_VNET_HDR_LEN);
    tap_close(&t);
    assert_false(link_exists("vt1q"));
    tap_close(&t);
}

static void create_four_queues(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    if (tap_create(&t, "vt4q", 4, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(t.nqueues, 4);
    unsigned long fl = sys_ulong("vt4q", "tun_flags");
    assert_int_equal(fl & (IFF_MULTI_QUEUE | IFF_VNET_HDR), IFF_MULTI_QUEUE | IFF_VNET_HDR);
    for (unsigned i = 0; i < 4; i++) {
        assert_true(t.fds[i] >= 0);
        for (unsigned j = 0; j < i; j++)
            assert_int_not_equal(t.fds[i], t.fds[j]);
        struct ifreq ifr = {0};
        assert_int_equal(ioctl(t.fds[i], TUNGETIFF, &ifr), 0);
        assert_string_equal(ifr.ifr_name, "vt4q");
    }
    assert_int_equal(t.fds[4], -1);
    assert_int_equal(access("/sys/class/net/vt4q/queues/tx-3", F_OK), 0);
    assert_int_not_equal(access("/sys/class/net/vt4q/queues/tx-4", F_OK), 0);
    tap_close(&t);
    assert_false(link_exists("vt4q"));
}

static void create_kernel_picks_name(void **state)
{
    (void)state;
    struct tap a, b;
    char err[256] = "";
    assert_int_equal(tap_create(&a, "", 1, err, sizeof(err)), 0);
    assert_int_equal(tap_create(&b, NULL, 2, err, sizeof(err)), 0);
    assert_memory_equal(a.ifname, "vireo", 5);
    assert_memory_equal(b.ifname, "vireo", 5);
    assert_string_not_equal(a.ifname, b.ifname);
    assert_true(link_exists(a.ifname));
    assert_true(sys_ulong(b.ifname, "tun_flags") & IFF_MULTI_QUEUE);
    char name[16];
    snprintf(name, sizeof(name), "%s", a.ifname);
    tap_close(&a);
    tap_close(&b);
    assert_false(link_exists(name));
}

static void gone_after_kill_9(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct tap t;
        char err[256];
        char ok = tap_create(&t, "vtkill", 2, err, sizeof(err)) == 0;
        if (write(p[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char ok = 0;
    assert_int_equal(read(p[0], &ok, 1), 1);
    assert_true(ok);
    assert_true(link_exists("vtkill"));
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    for (int i = 0; i < 100 && link_exists("vtkill"); i++)
        usleep(10000);
    assert_false(link_exists("vtkill"));
    close(p[0]);
    close(p[1]);
}

static void create_refuses_name_in_use(void **state)
{
    (void)state;
    struct tap t, u;
    char err[256] = "";
    assert_int_equal(tap_create(&t, "vtbusy", 1, err, sizeof(err)), 0);
    assert_int_equal(tap_create(&u, "vtbusy", 1, err, sizeof(err)), -1);
    assert_err_has(err, "interface vtbusy is already in use (it is a TAP device)");
    assert_err_has(err, "--net tap=vtbusy");
    assert_int_equal(u.nqueues, 0);
    assert_int_equal(tap_create(&u, "vtbusy", 4, err, sizeof(err)), -1);
    assert_err_has(err, "already in use");
    /* The refused attempts did not join it. */
    assert_true(link_exists("vtbusy"));
    assert_false(sys_ulong("vtbusy", "tun_flags") & IFF_MULTI_QUEUE);
    assert_int_equal(tap_create(&u, "lo", 1, err, sizeof(err)), -1);
    assert_err_has(err, "interface lo is already in use (it is a loopback device)");
    add_bridge("vtbusybr", 0);
    assert_int_equal(tap_create(&u, "vtbusybr", 1, err, sizeof(err)), -1);
    assert_err_has(err, "(it is a bridge)");
    tap_close(&t);
    assert_false(link_exists("vtbusy"));
}

static void create_refuses_bad_arguments(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    assert_int_equal(tap_create(&t, "abcdefghijklmnop", 1, err, sizeof(err)), -1);
    assert_err_has(err, "interface name 'abcdefghijklmnop' is too long (at most 15 characters)");
    assert_int_equal(tap_create(&t, "a/b", 1, err, sizeof(err)), -1);
    assert_err_has(err, "is invalid");
    assert_int_equal(tap_create(&t, "vm%d", 1, err, sizeof(err)), -1);
    assert_err_has(err, "is invalid");
    assert_int_equal(tap_create(&t, "vtq", 0, err, sizeof(err)), -1);
    assert_err_has(err, "1 to 16 queues");
    assert_int_equal(tap_create(&t, "vtq", TAP_MAX_QUEUES + 1, err, sizeof(err)), -1);
    assert_err_has(err, "1 to 16 queues");
    assert_false(link_exists("vtq"));
    assert_int_equal(tap_attach(&t, "", 1, err, sizeof(err)), -1);
    assert_err_has(err, "is invalid");
}

static void create_without_tun_node(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A mount namespace of the child's own, so the test's /dev stays. */
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/dev/net", "tmpfs", 0, NULL) < 0) {
            fprintf(stderr, "hiding /dev/net/tun: %s\n", strerror(errno));
            _exit(2);
        }
        struct tap t;
        char err[256] = "";
        int r = tap_create(&t, "vtnotun", 1, err, sizeof(err));
        if (r == 0 || !strstr(err, "/dev/net/tun is missing") || !strstr(err, "(modprobe tun)")) {
            fprintf(stderr, "got %d \"%s\"\n", r, err);
            _exit(1);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* uid 65534 without capabilities: the messages must say what to do,
 * whether /dev/net/tun is 0600 (open fails) or 0666 (TUNSETIFF fails). */
static void run_without_cap_net_admin(mode_t tun_mode)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        umask(0);
        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/dev/net", "tmpfs", 0, NULL) < 0 ||
            mknod("/dev/net/tun", S_IFCHR | tun_mode, makedev(10, 200)) < 0) {
            fprintf(stderr, "making a /dev/net/tun of mode %o: %s\n", (unsigned)tun_mode, strerror(errno));
            _exit(2);
        }
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
            _exit(2);
        struct tap t;
        char err[256] = "";
        int bad = 0;
        if (tap_create(&t, "vtperm", 1, err, sizeof(err)) == 0 || !strstr(err, "needs CAP_NET_ADMIN: run as root"))
            bad |= 1, fprintf(stderr, "tap_create: \"%s\"\n", err);
        if (tap_attach(&t, "vtowned", 1, err, sizeof(err)) == 0 || !strstr(err, "needs CAP_NET_ADMIN: run as root"))
            bad |= 2, fprintf(stderr, "tap_attach: \"%s\"\n", err);
        if (nl_link_up("lo", err, sizeof(err)) == 0 || !strstr(err, "needs CAP_NET_ADMIN: run as root"))
            bad |= 4, fprintf(stderr, "nl_link_up: \"%s\"\n", err);
        if (nl_attach_to_bridge("vtpermtap", "vtpermbr", err, sizeof(err)) == 0 ||
            !strstr(err, "enslave vtpermtap to bridge vtpermbr: needs CAP_NET_ADMIN: run as root"))
            bad |= 8, fprintf(stderr, "nl_attach_to_bridge: \"%s\"\n", err);
        /* Reading is no privilege: the check still tells a bridge apart. */
        if (nl_bridge_check("vtpermbr", err, sizeof(err)) < 0)
            bad |= 16, fprintf(stderr, "nl_bridge_check: \"%s\"\n", err);
        _exit(bad);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void without_cap_net_admin(void **state)
{
    (void)state;
    add_bridge("vtpermbr", 0);
    add_persistent_tun("vtpermtap", IFF_TAP | IFF_NO_PI);
    /* A TAP without an owner is open to anyone who can open /dev/net/tun;
     * one owned by root is not. */
    add_persistent_tun("vtowned", IFF_TAP | IFF_NO_PI);
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "vtowned");
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    assert_int_equal(ioctl(fd, TUNSETOWNER, 0), 0);
    close(fd);
    run_without_cap_net_admin(0600);
    run_without_cap_net_admin(0666);
    assert_false(link_exists("vtperm"));
    assert_int_not_equal(access("/sys/class/net/vtpermtap/master", F_OK), 0);
}

/* ---- tap_attach ---- */

static void attach_refuses_missing(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    assert_int_equal(tap_attach(&t, "vtnone", 1, err, sizeof(err)), -1);
    assert_err_has(err, "no TAP vtnone (create it: ip tuntap add dev vtnone mode tap");
    assert_false(link_exists("vtnone"));
    assert_int_equal(tap_attach(&t, "vtnone", 2, err, sizeof(err)), -1);
    assert_err_has(err, "mode tap multi_queue");
    assert_false(link_exists("vtnone"));
}

static void attach_refuses_tun_and_other_links(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    add_persistent_tun("vttun", IFF_TUN | IFF_NO_PI);
    assert_int_equal(tap_attach(&t, "vttun", 1, err, sizeof(err)), -1);
    assert_err_has(err, "vttun is not a TAP (it is a TUN device");
    assert_int_equal(tap_attach(&t, "lo", 1, err, sizeof(err)), -1);
    assert_err_has(err, "lo is not a TAP (it is a loopback device)");
    add_bridge("vtnotap", 0);
    assert_int_equal(tap_attach(&t, "vtnotap", 1, err, sizeof(err)), -1);
    assert_err_has(err, "vtnotap is not a TAP (it is a bridge)");
    assert_int_equal(t.nqueues, 0);
}

static void attach_to_persistent_tap(void **state)
{
    (void)state;
    struct tap t, u;
    char err[256] = "";
    add_persistent_tun("vtpers", IFF_TAP | IFF_NO_PI);
    assert_false(sys_ulong("vtpers", "tun_flags") & IFF_VNET_HDR);
    if (tap_attach(&t, "vtpers", 1, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_false(t.created);
    assert_int_equal(t.nqueues, 1);
    assert_true(fcntl(t.fds[0], F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(t.fds[0], F_GETFD) & FD_CLOEXEC);
    assert_true(sys_ulong("vtpers", "tun_flags") & IFF_VNET_HDR);
    int len = 0;
    assert_int_equal(ioctl(t.fds[0], TUNGETVNETHDRSZ, &len), 0);
    assert_int_equal(len, TAP_VNET_HDR_LEN);
    /* Single-queue: one opener at a time. */
    assert_int_equal(tap_attach(&u, "vtpers", 1, err, sizeof(err)), -1);
    assert_err_has(err, "TAP vtpers is in use");
    tap_close(&t);
    assert_true(link_exists("vtpers"));
    assert_int_equal(tap_attach(&t, "vtpers", 2, err, sizeof(err)), -1);
    assert_err_has(err, "the host cannot give 2 queues on TAP vtpers: it is single-queue");
    assert_err_has(err, "multi_queue");
}

static void attach_to_persistent_multi_queue_tap(void **state)
{
    (void)state;
    struct tap t;
    char err[256] = "";
    add_persistent_tun("vtpmq", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE);
    if (tap_attach(&t, "vtpmq", 4, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(t.nqueues, 4);
    for (unsigned i = 1; i < 4; i++)
        assert_int_not_equal(t.fds[i], t.fds[0]);
    assert_true(sys_ulong("vtpmq", "tun_flags") & IFF_VNET_HDR);
    tap_close(&t);
    if (tap_attach(&t, "vtpmq", 1, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    tap_close(&t);
    assert_true(link_exists("vtpmq"));
}

/* ---- rtnetlink ---- */

static void bridge_check(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(nl_bridge_check("vtnobr", err, sizeof(err)), -1);
    assert_string_equal(err, "no bridge vtnobr (create it: ip link add vtnobr type bridge)");
    assert_int_equal(nl_bridge_check("lo", err, sizeof(err)), -1);
    assert_string_equal(err, "lo is not a bridge (it is a loopback device)");
    add_persistent_tun("vtnotbr", IFF_TAP | IFF_NO_PI);
    assert_int_equal(nl_bridge_check("vtnotbr", err, sizeof(err)), -1);
    assert_string_equal(err, "vtnotbr is not a bridge (it is a TAP device)");
    assert_int_equal(nl_bridge_check("abcdefghijklmnop", err, sizeof(err)), -1);
    assert_err_has(err, "too long");
    add_bridge("vtbr0", 0);
    if (nl_bridge_check("vtbr0", err, sizeof(err)) < 0)
        fail_msg("%s", err);
}

static void attach_to_bridge(void **state)
{
    (void)state;
    char err[256] = "";
    add_bridge("vtbr1", 9000);
    struct tap t;
    assert_int_equal(tap_create(&t, "vtport1", 2, err, sizeof(err)), 0);
    assert_int_equal(sys_ulong("vtport1", "mtu"), 1500);
    assert_false(sys_ulong("vtport1", "flags") & IFF_UP);
    if (nl_attach_to_bridge("vtport1", "vtbr1", err, sizeof(err)) < 0)
        fail_msg("%s", err);
    char link[256] = "";
    assert_true(readlink("/sys/class/net/vtport1/master", link, sizeof(link) - 1) > 0);
    const char *base = strrchr(link, '/');
    assert_non_null(base);
    assert_string_equal(base + 1, "vtbr1");
    assert_true(sys_ulong("vtport1", "flags") & IFF_UP);
    assert_int_equal(sys_ulong("vtport1", "mtu"), 9000);
    assert_int_equal(sys_ulong("vtbr1", "mtu"), 9000);
    struct nl_link l;
    assert_int_equal(nl_link_get("vtport1", &l, err, sizeof(err)), 1);
    assert_int_equal(l.master, (int)if_nametoindex("vtbr1"));
    assert_true(l.tun_multi_queue);
    assert_int_equal(nl_link_get("vtnone", &l, err, sizeof(err)), 0);

    assert_int_equal(nl_attach_to_bridge("vtport1", "vtnobr", err, sizeof(err)), -1);
    assert_string_equal(err, "no bridge vtnobr (create it: ip link add vtnobr type bridge)");
    assert_int_equal(nl_attach_to_bridge("vtport1", "lo", err, sizeof(err)), -1);
    assert_string_equal(err, "lo is not a bridge (it is a loopback device)");
    assert_int_equal(nl_attach_to_bridge("vtnone", "vtbr1", err, sizeof(err)), -1);
    assert_string_equal(err, "no interface vtnone");
    assert_int_equal(nl_link_up("vtnone", err, sizeof(err)), -1);
    assert_string_equal(err, "no interface vtnone");
    tap_close(&t);
    assert_false(link_exists("vtport1"));
}

/* A frame the guest would send (virtio-net header + Ethernet) leaves the
 * TAP fd and shows on the bridge. */
static void frame_reaches_bridge(void **state)
{
    (void)state;
    char err[256] = "";
    add_bridge("vtbr2", 0);
    if (nl_link_up("vtbr2", err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_true(sys_ulong("vtbr2", "flags") & IFF_UP);
    struct tap t;
    assert_int_equal(tap_create(&t, "vtport2", 1, err, sizeof(err)), 0);
    if (nl_attach_to_bridge("vtport2", "vtbr2", err, sizeof(err)) < 0)
        fail_msg("%s", err);

    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    assert_true(s >= 0);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                              .sll_ifindex = (int)if_nametoindex("vtbr2")};
    assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);

    static const char payload[] = "vireo tap to bridge";
    uint8_t pkt[TAP_VNET_HDR_LEN + 64] = {0};
    uint8_t *eth = pkt + TAP_VNET_HDR_LEN;
    memset(eth, 0xff, 6);
    memcpy(eth + 6, (uint8_t[]){0x02, 0, 0, 0, 0, 0x01}, 6);
    eth[12] = 0x88;   /* local experimental EtherType 0x88b5 */
    eth[13] = 0xb5;
    memcpy(eth + 14, payload, sizeof(payload));
    assert_int_equal(write(t.fds[0], pkt, sizeof(pkt)), sizeof(pkt));

    bool seen = false;
    for (int tries = 0; tries < 50 && !seen; tries++) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        uint8_t in[2048];
        ssize_t n = recv(s, in, sizeof(in), 0);
        seen = n >= 14 + (ssize_t)sizeof(payload) && in[12] == 0x88 && in[13] == 0xb5 &&
               !memcmp(in + 14, payload, sizeof(payload));
    }
    close(s);
    tap_close(&t);
    assert_true(seen);
}

static void offloads(void **state)
{
    (void)state;
    char err[256] = "";
    struct tap t;
    assert_int_equal(tap_create(&t, "vtoff", 2, err, sizeof(err)), 0);
    assert_int_equal(tap_set_offload(&t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
    assert_int_equal(tap_set_offload(&t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN), 0);
    assert_int_equal(tap_set_offload(&t, 0), 0);
    errno = 0;
    assert_int_equal(tap_set_offload(&t, 1u << 30), -1);
    assert_int_equal(errno, EINVAL);
    tap_close(&t);
    errno = 0;
    assert_int_equal(tap_set_offload(&t, TUN_F_CSUM), -1);
    assert_int_equal(errno, EBADF);
}

static bool has_txq(const char *ifname, unsigned q)
{
    char path[128];
    snprintf(path, sizeof(path), "/sys/class/net/%s/queues/tx-%u", ifname, q);
    return access(path, F_OK) == 0;
}

static void queues_detach_and_attach(void **state)
{
    (void)state;
    char err[256] = "";
    struct tap t;
    assert_int_equal(tap_create(&t, "vtqen", 4, err, sizeof(err)), 0);
    assert_true(t.multi_queue);
    assert_true(has_txq("vtqen", 3));
    assert_int_equal(tap_enable_queue(&t, 3, false), 0);
    assert_int_equal(tap_enable_queue(&t, 3, false), 0);
    assert_int_equal(tap_enable_queue(&t, 2, false), 0);
    assert_true(has_txq("vtqen", 1));
    assert_false(has_txq("vtqen", 2));
    assert_int_equal(tap_enable_queue(&t, 0, false), 0);
    /* Offloads go through a queue still attached. */
    assert_int_equal(tap_set_offload(&t, TUN_F_CSUM), 0);
    assert_int_equal(tap_enable_queue(&t, 0, true), 0);
    assert_int_equal(tap_enable_queue(&t, 2, true), 0);
    assert_int_equal(tap_enable_queue(&t, 3, true), 0);
    assert_int_equal(tap_enable_queue(&t, 3, true), 0);
    assert_true(has_txq("vtqen", 3));
    errno = 0;
    assert_int_equal(tap_enable_queue(&t, 4, true), -1);
    assert_int_equal(errno, EINVAL);
    tap_close(&t);
    assert_false(link_exists("vtqen"));

    assert_int_equal(tap_create(&t, "vtqen1", 1, err, sizeof(err)), 0);
    assert_false(t.multi_queue);
    assert_int_equal(tap_enable_queue(&t, 0, false), 0);
    assert_int_equal(tap_enable_queue(&t, 0, true), 0);
    tap_close(&t);

    /* A zeroed struct tap (nothing opened) closes nothing, not fd 0. */
    struct tap z;
    memset(&z, 0, sizeof(z));
    tap_close(&z);
    assert_true(fcntl(0, F_GETFD) >= 0 || errno != EBADF);
}

/* ---- MAC addresses ---- */

static void mac_parse_accepts(void **state)
{
    (void)state;
    uint8_t m[6];
    char err[256] = "", out[18];
    assert_int_equal(mac_parse("52:54:00:AB:cd:Ef", m, err, sizeof(err)), 0);
    assert_memory_equal(m, ((uint8_t[]){0x52, 0x54, 0x00, 0xab, 0xcd, 0xef}), 6);
    mac_format(m, out);
    assert_string_equal(out, "52:54:00:ab:cd:ef");
    assert_int_equal(mac_parse("02:00:00:00:00:00", m, err, sizeof(err)), 0);
    assert_int_equal(mac_parse("fe:ff:ff:ff:ff:ff", m, err, sizeof(err)), 0);
}

static void mac_parse_refuses(void **state)
{
    (void)state;
    static const struct {
        const char *s, *why;
    } bad[] = {
        {"01:00:5e:00:00:01", "multicast"},
        {"ff:ff:ff:ff:ff:ff", "multicast"},
        {"00:00:00:00:00:00", "all-zero"},
        {"52:54:00:12:34:5g", "expected six hex octets"},
        {"52:54:00:12:34", "expected six hex octets"},
        {"52:54:00:12:34:567", "expected six hex octets"},
        {"52-54-00-12-34-56", "expected six hex octets"},
        {"2:54:00:12:34:567", "expected six hex octets"},
        {"", "expected six hex octets"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t m[6] = {7, 7, 7, 7, 7, 7};
        char err[256] = "";
        assert_int_equal(mac_parse(bad[i].s, m, err, sizeof(err)), -1);
        assert_err_has(err, bad[i].why);
        assert_err_has(err, bad[i].s);
        assert_memory_equal(m, ((uint8_t[]){7, 7, 7, 7, 7, 7}), 6);
    }
}

static void mac_derive_stable_and_distinct(void **state)
{
    (void)state;
    uint8_t a[6], b[6];
    mac_derive("vm-a", 0, a);
    mac_derive("vm-a", 0, b);
    assert_memory_equal(a, b, 6);
    /* Pinned: the scheme must never change, or guests lose their leases. */
    char out[18];
    mac_format(a, out);
    assert_string_equal(out, "46:93:97:8f:aa:f0");
    mac_derive("vm-a", 1, b);
    assert_memory_not_equal(a, b, 6);
    mac_derive("vm-b", 0, b);
    assert_memory_not_equal(a, b, 6);
    mac_derive("vm-a1", 0, a);
    mac_derive("vm-a", 1, b);
    assert_memory_not_equal(a, b, 6);

    enum { SEEDS = 256, NICS = 4 };
    static uint8_t all[SEEDS * NICS][6];
    for (unsigned s = 0; s < SEEDS; s++) {
        char seed[32];
        snprintf(seed, sizeof(seed), "vm%u", s);
        for (unsigned n = 0; n < NICS; n++) {
            uint8_t *m = all[s * NICS + n];
            mac_derive(seed, n, m);
            assert_int_equal(m[0] & 0x03, 0x02);   /* locally administered, unicast */
            char err[64];
            assert_int_equal(mac_parse((mac_format(m, out), out), b, err, sizeof(err)), 0);
        }
    }
    for (unsigned i = 0; i < SEEDS * NICS; i++)
        for (unsigned j = 0; j < i; j++)
            assert_memory_not_equal(all[i], all[j], 6);
    mac_derive(NULL, 0, a);
    mac_derive("", 0, b);
    assert_memory_equal(a, b, 6);
}

int main(void)
{
    /* Never on the host's links: a namespace of our own, and a sysfs
     * mounted from inside it (sysfs shows the mounter's namespace). */
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
        fprintf(stderr, "test_net_backend: unshare(CLONE_NEWNET|CLONE_NEWNS): %s "
                "(this test must run as root)\n", strerror(errno));
        return 1;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("sysfs", "/sys", "sysfs", 0, NULL) < 0) {
        fprintf(stderr, "test_net_backend: mounting a private sysfs: %s\n", strerror(errno));
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_one_queue),
        cmocka_unit_test(create_four_queues),
        cmocka_unit_test(create_kernel_picks_name),
        cmocka_unit_test(gone_after_kill_9),
        cmocka_unit_test(create_refuses_name_in_use),
        cmocka_unit_test(create_refuses_bad_arguments),
        cmocka_unit_test(create_without_tun_node),
        cmocka_unit_test(without_cap_net_admin),
        cmocka_unit_test(attach_refuses_missing),
        cmocka_unit_test(attach_refuses_tun_and_other_links),
        cmocka_unit_test(attach_to_persistent_tap),
        cmocka_unit_test(attach_to_persistent_multi_queue_tap),
        cmocka_unit_test(bridge_check),
        cmocka_unit_test(attach_to_bridge),
        cmocka_unit_test(frame_reaches_bridge),
        cmocka_unit_test(offloads),
        cmocka_unit_test(queues_detach_and_attach),
        cmocka_unit_test(mac_parse_accepts),
        cmocka_unit_test(mac_parse_refuses),
        cmocka_unit_test(mac_derive_stable_and_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

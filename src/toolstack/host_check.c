#include "toolstack/host_check.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/kvm_sys.h"
#include "util/json.h"

struct ctx {
    const struct hc_env *env;
    struct hc_result *out;
    size_t n;
};

static void path_of(const struct ctx *c, const char *rel, char *buf, size_t len)
{
    const char *root = c->env->root && strcmp(c->env->root, "/") ? c->env->root : "";
    snprintf(buf, len, "%s%s", root, rel);
}

static const char *sys_root(const struct ctx *c)
{
    static char p[512];
    path_of(c, "/sys", p, sizeof(p));
    return p;
}

static bool exists(const struct ctx *c, const char *rel)
{
    char p[512];
    path_of(c, rel, p, sizeof(p));
    return access(p, F_OK) == 0;
}

/* The first line of a small file, without its newline; false if absent. */
static bool read_line(const struct ctx *c, const char *rel, char *buf, size_t len)
{
    char p[512];
    path_of(c, rel, p, sizeof(p));
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    bool ok = fgets(buf, (int)len, f) != NULL;
    fclose(f);
    if (ok)
        buf[strcspn(buf, "\n")] = 0;
    return ok;
}

/* "Key:   123 kB" from /proc/meminfo, in kB; -1 if absent. */
static long long meminfo(const struct ctx *c, const char *key)
{
    char p[512], line[256];
    path_of(c, "/proc/meminfo", p, sizeof(p));
    FILE *f = fopen(p, "r");
    long long v = -1;
    size_t kl = strlen(key);
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, key, kl) && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    }
    if (f)
        fclose(f);
    return v;
}

static struct hc_result *add(struct ctx *c, const char *name, enum hc_status st, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static struct hc_result *add(struct ctx *c, const char *name, enum hc_status st, const char *fix, const char *fmt, ...)
{
    if (c->n == HC_MAX_RESULTS)
        return NULL;
    struct hc_result *r = &c->out[c->n++];
    memset(r, 0, sizeof(*r));
    r->name = name;
    r->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    snprintf(r->fix, sizeof(r->fix), "%s", fix ? fix : "");
    return r;
}

/* vmx/svm among the flags of /proc/cpuinfo */
static const char *virt_flag(const struct ctx *c)
{
    char p[512], line[4096];
    path_of(c, "/proc/cpuinfo", p, sizeof(p));
    FILE *f = fopen(p, "r");
    const char *found = NULL;
    while (f && !found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "flags", 5))
            continue;
        for (char *t = strtok(line, " \t\n"); t; t = strtok(NULL, " \t\n")) {
            if (!strcmp(t, "vmx"))
                found = "vmx (Intel VT-x)";
            else if (!strcmp(t, "svm"))
                found = "svm (AMD-V)";
        }
    }
    if (f)
        fclose(f);
    return found;
}

static void check_cpu(struct ctx *c)
{
    const char *flag = virt_flag(c);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (flag)
        add(c, "cpu", HC_OK, NULL, "%s; %ld CPUs online", flag, n);
    else
        add(c, "cpu", HC_FAIL,
            "enable VT-x/AMD-V in the firmware; inside a VM, enable nested virtualization on its host",
            "no vmx or svm flag in /proc/cpuinfo: this CPU does not offer hardware virtualization");
}

/* Which KVM: the vendor modules run ordinary guests; PVM mode does not. */
static const char *check_kvm_module(struct ctx *c)
{
    const char *vendor = exists(c, "/sys/module/kvm_intel") ? "kvm_intel"
                         : exists(c, "/sys/module/kvm_amd") ? "kvm_amd"
                                                             : NULL;
    if (vendor) {
        add(c, "kvm module", HC_OK, NULL, "%s loaded", vendor);
    } else if (kvm_is_pvm(sys_root(c))) {
        add(c, "kvm module", HC_FAIL,
            "load kvm_intel or kvm_amd instead of kvm_pvm (on a cloud VM without nested virtualization, "
            "Vireo's test host runs VMs under emulation: tests/testhost/run)",
            "kvm_pvm loaded without kvm_intel/kvm_amd: PVM mode runs only PVM guests, not distribution kernels");
    } else {
        add(c, "kvm module", HC_FAIL, "modprobe kvm_intel (or kvm_amd)", "neither kvm_intel nor kvm_amd is loaded");
    }
    return vendor;
}

static void check_dev_kvm(struct ctx *c)
{
    char p[512];
    path_of(c, "/dev/kvm", p, sizeof(p));
    struct stat st;
    if (stat(p, &st) < 0) {
        add(c, "/dev/kvm", HC_FAIL, "modprobe kvm_intel (or kvm_amd); check that udev created /dev/kvm",
            "/dev/kvm is missing");
        return;
    }
    if (!c->env->live) {
        add(c, "/dev/kvm", HC_OK, NULL, "present");
        return;
    }
    int fd = open(p, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        char advice[256] = "check dmesg for KVM errors";
        if (e == EACCES || e == EPERM) {
            struct group *g = getgrgid(st.st_gid);
            kvm_access_advice(&st, g ? g->gr_name : NULL, advice, sizeof(advice));
        }
        add(c, "/dev/kvm", HC_FAIL, advice, "cannot open /dev/kvm: %s", strerror(e));
        return;
    }
    int api = ioctl(fd, KVM_GET_API_VERSION, 0);
    static const struct { int cap; const char *name; } caps[] = {
        {KVM_CAP_IRQCHIP, "IRQCHIP"}, {KVM_CAP_IRQFD, "IRQFD"}, {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
        {KVM_CAP_IRQ_ROUTING, "IRQ_ROUTING"}, {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    };
    const char *missing = NULL;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]) && !missing; i++)
        if (ioctl(fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0)
            missing = caps[i].name;
    int max = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    close(fd);
    if (api != KVM_API_VERSION)
        add(c, "/dev/kvm", HC_FAIL, "use a kernel with the stable KVM API", "KVM API version %d, expected %d", api,
            KVM_API_VERSION);
    else if (missing)
        add(c, "/dev/kvm", HC_FAIL, "use a newer kernel", "KVM lacks KVM_CAP_%s, which Vireo needs", missing);
    else if (kvm_is_pvm(sys_root(c)))
        /* It opens, but what it runs is not what a user means by a VM. */
        add(c, "/dev/kvm", HC_WARN, "see the kvm module line", "read-write, API %d, but PVM-mode KVM: it cannot boot "
            "ordinary kernels", api);
    else
        add(c, "/dev/kvm", HC_OK, NULL, "read-write, API %d, up to %d vCPUs per VM", api, max);
}

static void check_nested(struct ctx *c, const char *vendor)
{
    if (!vendor)
        return;
    char rel[128], v[16] = "";
    snprintf(rel, sizeof(rel), "/sys/module/%s/parameters/nested", vendor);
    if (!read_line(c, rel, v, sizeof(v)))
        return;
    bool on = v[0] == 'Y' || v[0] == '1';
    char fix[160];
    snprintf(fix, sizeof(fix), "echo 'options %s nested=1' > /etc/modprobe.d/kvm-nested.conf and reload %s", vendor,
             vendor);
    add(c, "nested virtualization", HC_INFO, on ? NULL : fix, "%s (only needed to run KVM inside guests)",
        on ? "on" : "off");
}

static void check_net(struct ctx *c)
{
    char p[512];
    path_of(c, "/dev/net/tun", p, sizeof(p));
    int fd = -1, e = 0;
    if (exists(c, "/dev/net/tun") && c->env->live && (fd = open(p, O_RDWR | O_CLOEXEC)) < 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    if (!exists(c, "/dev/net/tun"))
        add(c, "tun", HC_WARN, "modprobe tun", "/dev/net/tun is missing: guests cannot have TAP networking");
    else if (e)
        add(c, "tun", HC_WARN, "run as root (TAP devices need CAP_NET_ADMIN)", "cannot open /dev/net/tun: %s",
            strerror(e));
    else
        add(c, "tun", HC_OK, NULL, "/dev/net/tun available");
    if (exists(c, "/sys/module/bridge"))
        add(c, "bridge", HC_OK, NULL, "Linux bridge support loaded");
    else
        add(c, "bridge", HC_WARN, "modprobe bridge (it also loads on the first `ip link add type bridge`)",
            "bridge module not loaded: vif 'bridge=' needs it");
    /* vhost-net is the NICs' default data plane where it can be opened;
     * elsewhere vireo moves the frames itself, a little slower. */
    const char *nofix = "modprobe vhost_net (vhost-net is faster; without it frames go through vireo's I/O "
                        "threads)";
    path_of(c, "/dev/vhost-net", p, sizeof(p));
    e = 0;
    fd = -1;
    if (exists(c, "/dev/vhost-net") && c->env->live && (fd = open(p, O_RDWR | O_CLOEXEC)) < 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    if (!exists(c, "/dev/vhost-net"))
        add(c, "vhost-net", HC_INFO, nofix, "/dev/vhost-net missing: NICs use vireo's user-space virtio-net "
            "(vhost=on fails)");
    else if (e)
        add(c, "vhost-net", HC_INFO, "run as root, or give the user access to /dev/vhost-net",
            "cannot open /dev/vhost-net: %s: NICs use vireo's user-space virtio-net (vhost=on fails)", strerror(e));
    else
        add(c, "vhost-net", HC_OK, NULL, "/dev/vhost-net available: NICs use vhost-net unless vhost=off");
}

static void check_io_uring(struct ctx *c)
{
    char v[16] = "";
    int disabled = read_line(c, "/proc/sys/kernel/io_uring_disabled", v, sizeof(v)) ? atoi(v) : 0;
    const char *fix = "sysctl -w kernel.io_uring_disabled=0";
    if (disabled == 2) {
        add(c, "io_uring", HC_WARN, fix, "disabled (kernel.io_uring_disabled=2): disks fall back to aio=threads");
        return;
    }
    if (c->env->live) {
        struct io_uring ring;
        int rc = io_uring_queue_init(4, &ring, 0);
        if (rc < 0) {
            add(c, "io_uring", HC_WARN, disabled == 1 ? "add the user to kernel.io_uring_group, or run as root" : fix,
                "io_uring_setup failed (%s): disks fall back to aio=threads", strerror(-rc));
            return;
        }
        io_uring_queue_exit(&ring);
    }
    add(c, "io_uring", HC_OK, NULL, "usable%s", disabled == 1 ? " (restricted to kernel.io_uring_group)" : "");
}

static void check_memory(struct ctx *c)
{
    long long total = meminfo(c, "MemTotal"), avail = meminfo(c, "MemAvailable");
    if (total < 0) {
        add(c, "memory", HC_WARN, NULL, "cannot read /proc/meminfo");
        return;
    }
    add(c, "memory", avail >= 0 && avail < 512 * 1024 ? HC_WARN : HC_INFO,
        avail >= 0 && avail < 512 * 1024 ? "free memory before starting VMs" : NULL,
        "%.1f GiB total, %.1f GiB available", (double)total / 1048576, (double)(avail < 0 ? 0 : avail) / 1048576);
    long long hp = meminfo(c, "HugePages_Total"), hpfree = meminfo(c, "HugePages_Free"),
              hpsize = meminfo(c, "Hugepagesize");
    char thp[128] = "";
    read_line(c, "/sys/kernel/mm/transparent_hugepage/enabled", thp, sizeof(thp));
    const char *sel = strchr(thp, '['), *mode = "unknown";
    char m[16] = "";
    if (sel && sscanf(sel, "[%15[a-z]]", m) == 1)
        mode = m;
    bool no_thp = !strcmp(mode, "never");
    add(c, "hugepages", no_thp && hp <= 0 ? HC_WARN : HC_INFO,
        no_thp && hp <= 0 ? "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled" : NULL,
        "%lld reserved (%lld free) of %lld kB; transparent huge pages: %s", hp < 0 ? 0 : hp,
        hpfree < 0 ? 0 : hpfree, hpsize < 0 ? 0 : hpsize, mode);
}

static void check_btf(struct ctx *c)
{
    if (exists(c, "/sys/kernel/btf/vmlinux"))
        add(c, "microscope", HC_OK, NULL, "kernel BTF present (/sys/kernel/btf/vmlinux): vireo microscope can run");
    else
        add(c, "microscope", HC_WARN, "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
            "no /sys/kernel/btf/vmlinux: vireo microscope cannot load its eBPF programs");
}

size_t host_check_run(const struct hc_env *env, struct hc_result *out)
{
    struct ctx c = {.env = env, .out = out};
    check_cpu(&c);
    const char *vendor = check_kvm_module(&c);
    check_dev_kvm(&c);
    check_nested(&c, vendor);
    check_net(&c);
    check_io_uring(&c);
    check_memory(&c);
    check_btf(&c);
    return c.n;
}

const char *hc_status_name(enum hc_status s)
{
    static const char *const names[] = {"ok", "info", "warn", "FAIL"};
    return s <= HC_FAIL ? names[s] : "?";
}

void host_check_print(FILE *f, const struct hc_result *r, size_t n, bool json)
{
    if (json) {
        fputs("{\"checks\":[", f);
        for (size_t i = 0; i < n; i++) {
            fprintf(f, "%s{\"name\":", i ? "," : "");
            json_string(f, r[i].name);
            fprintf(f, ",\"status\":\"%s\",\"detail\":", r[i].status == HC_FAIL ? "fail" : hc_status_name(r[i].status));
            json_string(f, r[i].detail);
            fputs(",\"fix\":", f);
            json_string(f, r[i].fix);
            fputc('}', f);
        }
        fprintf(f, "],\"ok\":%s}\n", host_check_exit_code(r, n) ? "false" : "true");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%-5s %-22s %s\n", hc_status_name(r[i].status), r[i].name, r[i].detail);
        if (r[i].fix[0])
            fprintf(f, "      %-22s fix: %s\n", "", r[i].fix);
    }
}

int host_check_exit_code(const struct hc_result *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i].status == HC_FAIL)
            return 1;
    return 0;
}

/* `vireo image bootstrap`: option checks, then the steps (image_bootstrap.sh,
 * built in as ib_script) run by bash.  Why a script for the steps: they are
 * a sequence of Debian's own tools (debootstrap, chroot, sgdisk,
 * mkfs.ext4 -d, lvcreate, qemu-img), and its EXIT trap undoes what a failed
 * run made; C would only wrap each call.  Everything a user can get wrong is
 * checked here first, so a bad option changes nothing. */
#include "toolstack/image_bootstrap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "toolstack/vm_config.h"
#include "util/err.h"
#include "util/size.h"
#include "vm/vm_limits.h"

extern const char ib_script[];
extern const size_t ib_script_len;

static bool all_of(const char *s, const char *set, size_t min, size_t max)
{
    size_t n = strlen(s);
    return n >= min && n <= max && strspn(s, set) == n;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGIT "0123456789"

/* A VM name (xl.cfg's rule: it becomes file names and arguments). */
static int check_name(const char *n, char *err, size_t len)
{
    if (!all_of(n, LOWER UPPER DIGIT "_.-", 1, VM_NAME_MAX))
        return err_fail(err, len, "NAME '%s': expected 1 to %d letters, digits, '_', '.' or '-'", n, VM_NAME_MAX);
    if (n[0] == '.' || n[0] == '-')
        return err_fail(err, len, "NAME '%s' starts with '%c'; expected a letter, digit or '_' first", n, n[0]);
    return 0;
}

/* RFC 1123 host name: labels of letters, digits and '-', not at a label's
 * ends, 63 characters a label, 253 in all. */
static int check_hostname(const char *h, char *err, size_t len)
{
    size_t n = strlen(h), label = 0;
    if (n == 0 || n > 253)
        return err_fail(err, len, "--hostname '%s': expected 1 to 253 characters", h);
    for (size_t i = 0; i <= n; i++) {
        char c = h[i];
        if (c == '.' || c == 0) {
            if (label == 0 || h[i - 1] == '-')
                return err_fail(err, len, "--hostname '%s': empty label or a label ending in '-'", h);
            label = 0;
            continue;
        }
        if (!strchr(LOWER UPPER DIGIT "-", c))
            return err_fail(err, len, "--hostname '%s': invalid character '%c'; expected letters, digits, '-' and '.'", h, c);
        if (label == 0 && c == '-')
            return err_fail(err, len, "--hostname '%s': a label starts with '-'", h);
        if (++label > 63)
            return err_fail(err, len, "--hostname '%s': a label is longer than 63 characters", h);
    }
    return 0;
}

/* ADDR/PREFIX, IPv4 or IPv6; *family gets AF_INET or AF_INET6. */
static int check_ip(const char *s, char *err, size_t len, int *family)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(s, '/');
    unsigned char buf[16];
    if (!slash || (size_t)(slash - s) >= sizeof(addr))
        return err_fail(err, len, "--ip '%s': expected ADDRESS/PREFIX, e.g. 192.0.2.10/24", s);
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = 0;
    uint64_t p;
    if (inet_pton(AF_INET, addr, buf) == 1) {
        *family = AF_INET;
        if (!parse_uint(slash + 1, 1, 32, &p))
            return err_fail(err, len, "--ip '%s': the prefix must be 1 to 32", s);
    } else if (inet_pton(AF_INET6, addr, buf) == 1) {
        *family = AF_INET6;
        if (!parse_uint(slash + 1, 1, 128, &p))
            return err_fail(err, len, "--ip '%s': the prefix must be 1 to 128", s);
    } else {
        return err_fail(err, len, "--ip '%s': '%s' is not an IPv4 or IPv6 address", s, addr);
    }
    return 0;
}

/* A public key file for root's authorized_keys: each line a key
 * ("TYPE BASE64 [COMMENT]", options first are allowed) or a comment. */
static int check_ssh_key(const char *path, char *err, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return err_fail(err, len, "--ssh-key %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > 65536) {
        close(fd);
        return err_fail(err, len, "--ssh-key %s: expected a regular file of at most 64 KiB (a .pub file)", path);
    }
    char buf[65537];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0)
        return err_fail(err, len, "--ssh-key %s: %s", path, strerror(errno));
    buf[n] = 0;
    if (strstr(buf, "PRIVATE KEY"))
        return err_fail(err, len, "--ssh-key %s is a private key; give the public one (%s.pub)", path, path);
    int keys = 0, line = 1;
    for (char *p = buf; *p; line++) {
        char *e = strchr(p, '\n');
        if (e)
            *e = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p && *p != '#') {
            if (!strstr(p, "ssh-") && !strstr(p, "ecdsa-sha2-") && !strstr(p, "sk-"))
                return err_fail(err, len, "--ssh-key %s:%d: not an OpenSSH public key (expected 'ssh-ed25519 AAAA... comment')",
                                path, line);
            keys++;
        }
        if (!e)
            break;
        p = e + 1;
    }
    if (!keys)
        return err_fail(err, len, "--ssh-key %s: no key in it", path);
    return 0;
}

/* Text that goes into the xl.cfg and shell: no quotes, backslashes, blanks
 * or control characters. */
static bool plain(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("'\"\\`$,", *s))
            return false;
    return true;
}

static bool is_exec_in_path(const char *prog)
{
    static const char *const dirs[] = {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"};
    char p[PATH_MAX];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dirs[i], prog);
        if (access(p, X_OK) == 0)
            return true;
    }
    return false;
}

static int must_not_exist(const char *path, char *err, size_t len)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return err_fail(err, len, "%s exists; vireo image bootstrap never replaces a file (remove it, or pick another NAME or -o)", path);
    if (errno != ENOENT)
        return err_fail(err, len, "%s: %s", path, strerror(errno));
    return 0;
}

int ib_check(const struct ib_opts *o, char *abs_outdir, size_t outlen, char *err, size_t errlen)
{
    if (check_name(o->name, err, errlen) < 0)
        return -1;
    if (o->size < IB_MIN_SIZE)
        return err_fail(err, errlen, "--size: at least 1G (Debian with its kernel and sshd takes about 700 MiB)");
    if (!all_of(o->dist, LOWER, 2, 32))
        return err_fail(err, errlen, "--dist '%s': expected a Debian codename such as bookworm", o->dist);
    if (strcmp(o->format, "raw") && strcmp(o->format, "qcow2"))
        return err_fail(err, errlen, "--format '%s': expected raw or qcow2", o->format);
    if (o->lvm) {
        if (!all_of(o->lvm, LOWER UPPER DIGIT "+_.-", 1, 127) || o->lvm[0] == '-' || o->lvm[0] == '.')
            return err_fail(err, errlen, "--lvm '%s': expected a volume group name", o->lvm);
        if (!strcmp(o->format, "qcow2"))
            return err_fail(err, errlen, "--lvm makes a raw logical volume; --format qcow2 does not apply");
    }
    if (check_hostname(o->hostname ? o->hostname : o->name, err, errlen) < 0)
        return -1;
    if (o->ssh_key && check_ssh_key(o->ssh_key, err, errlen) < 0)
        return -1;
    int family = 0;
    if (o->ip && o->dhcp)
        return err_fail(err, errlen, "--ip and --dhcp exclude each other");
    if (o->ip && check_ip(o->ip, err, errlen, &family) < 0)
        return -1;
    if (o->gateway) {
        unsigned char buf[16];
        if (!o->ip)
            return err_fail(err, errlen, "--gateway needs --ip");
        if (inet_pton(family, o->gateway, buf) != 1)
            return err_fail(err, errlen, "--gateway '%s': expected an %s address like --ip's", o->gateway,
                            family == AF_INET ? "IPv4" : "IPv6");
    }
    if (o->bridge && (!all_of(o->bridge, LOWER UPPER DIGIT "_.-:@", 1, 15) || o->bridge[0] == '-'))
        return err_fail(err, errlen, "--bridge '%s': expected an interface name (at most 15 characters)", o->bridge);
    if (o->memory_mib < 128 || o->memory_mib > (VM_MAX_RAM >> 20))
        return err_fail(err, errlen, "--memory: 128M to 1T (systemd and Debian need at least 128 MiB)");
    if (o->vcpus < 1 || o->vcpus > VM_MAX_VCPUS)
        return err_fail(err, errlen, "--vcpus: 1 to %d", VM_MAX_VCPUS);
    if (o->packages) {
        /* name[,name...]: Debian's package name rule. */
        const char *p = o->packages;
        while (*p) {
            size_t n = strcspn(p, ",");
            if (n < 2 || !strchr(LOWER DIGIT, p[0]) || strspn(p, LOWER DIGIT "+.-") != n)
                return err_fail(err, errlen, "--packages '%s': expected Debian package names separated by commas",
                                o->packages);
            p += n;
            if (*p == ',' && *++p == 0)
                return err_fail(err, errlen, "--packages '%s' ends with ','", o->packages);
        }
    }
    if (o->mirror && (!plain(o->mirror) || (strncmp(o->mirror, "http://", 7) && strncmp(o->mirror, "https://", 8) &&
                                            strncmp(o->mirror, "file:///", 8))))
        return err_fail(err, errlen, "--mirror '%s': expected an http://, https:// or file:/// URL", o->mirror);

    /* The output folder: absolute, since NAME.cfg names the image by it. */
    char *abs = realpath(o->outdir, NULL);
    if (!abs)
        return err_fail(err, errlen, "-o %s: %s", o->outdir, strerror(errno));
    struct stat st;
    if (stat(abs, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(abs);
        return err_fail(err, errlen, "-o %s: not a folder", o->outdir);
    }
    if (!plain(abs) || strlen(abs) + strlen(o->name) + 16 >= outlen) {
        int r = err_fail(err, errlen, "-o %s: the path '%s' has blanks, quotes, commas or '$' (it goes into NAME.cfg); "
                                      "pick another folder", o->outdir, abs);
        free(abs);
        return r;
    }
    snprintf(abs_outdir, outlen, "%s", abs);
    free(abs);
    if (access(abs_outdir, W_OK) < 0)
        return err_fail(err, errlen, "-o %s: %s", abs_outdir, strerror(errno));

    char p[PATH_MAX];
    snprintf(p, sizeof(p), "%s/%s.cfg", abs_outdir, o->name);
    if (must_not_exist(p, err, errlen) < 0)
        return -1;
    if (o->lvm)
        snprintf(p, sizeof(p), "/dev/%s/%s", o->lvm, o->name);
    else
        snprintf(p, sizeof(p), "%s/%s.%s", abs_outdir, o->name, strcmp(o->format, "raw") ? "qcow2" : "img");
    if (must_not_exist(p, err, errlen) < 0)
        return -1;

    const char *cache = o->cache;
    if (cache[0] != '/' || !plain(cache))
        return err_fail(err, errlen, "--cache %s: expected an absolute path without blanks or quotes", cache);

    /* The tools the steps run. */
    static const struct {
        const char *prog, *pkg;
    } tools[] = {{"debootstrap", "debootstrap"}, {"sgdisk", "gdisk"}, {"mkfs.ext4", "e2fsprogs"}, {"zstd", "zstd"},
                 {"chroot", "coreutils"}, {"flock", "util-linux"}, {"bash", "bash"}};
    for (size_t i = 0; i < sizeof(tools) / sizeof(tools[0]); i++)
        if (!is_exec_in_path(tools[i].prog))
            return err_fail(err, errlen, "%s is not installed (apt-get install %s)", tools[i].prog, tools[i].pkg);
    if (!strcmp(o->format, "qcow2") && !is_exec_in_path("qemu-img"))
        return err_fail(err, errlen, "--format qcow2: qemu-img is not installed (apt-get install qemu-utils)");
    if (o->lvm && !is_exec_in_path("lvcreate"))
        return err_fail(err, errlen, "--lvm: lvcreate is not installed (apt-get install lvm2)");
    if (o->lvm) {
        snprintf(p, sizeof(p), "/sys/module/dm_mod");
        if (access(p, F_OK) < 0 && access("/dev/mapper/control", F_OK) < 0)
            return err_fail(err, errlen, "--lvm: no device mapper on this host (modprobe dm_mod)");
    }
    snprintf(p, sizeof(p), "/usr/share/debootstrap/scripts/%s", o->dist);
    if (access(p, F_OK) < 0)
        return err_fail(err, errlen, "--dist %s: debootstrap does not know it (no %s)", o->dist, p);
    if (geteuid() != 0)
        return err_fail(err, errlen, "vireo image bootstrap must run as root (debootstrap, chroot, mkfs)");
    return 0;
}

int ib_exec(const struct ib_opts *o, const char *abs_outdir, char *err, size_t errlen)
{
    char num[3][32];
    snprintf(num[0], sizeof(num[0]), "%llu", (unsigned long long)o->size);
    snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)o->memory_mib);
    snprintf(num[2], sizeof(num[2]), "%llu", (unsigned long long)o->vcpus);
    const struct {
        const char *k, *v;
    } env[] = {
        {"VB_NAME", o->name},
        {"VB_SIZE", num[0]},
        {"VB_DIST", o->dist},
        {"VB_FORMAT", o->format},
        {"VB_LVM", o->lvm ? o->lvm : ""},
        {"VB_HOSTNAME", o->hostname ? o->hostname : o->name},
        {"VB_SSH_KEY", o->ssh_key ? o->ssh_key : ""},
        {"VB_IP", o->ip ? o->ip : ""},
        {"VB_GATEWAY", o->gateway ? o->gateway : ""},
        {"VB_DHCP", o->dhcp ? "1" : "0"},
        {"VB_BRIDGE", o->bridge ? o->bridge : ""},
        {"VB_MEMORY", num[1]},
        {"VB_VCPUS", num[2]},
        {"VB_PACKAGES", o->packages ? o->packages : ""},
        {"VB_MIRROR", o->mirror ? o->mirror : ""},
        {"VB_OUTDIR", abs_outdir},
        {"VB_CACHE", o->cache},
        {"VB_REFRESH", o->refresh ? "1" : "0"},
        {"VB_ARCH", "amd64"},
    };
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        if (setenv(env[i].k, env[i].v, 1) < 0)
            return err_fail(err, errlen, "setenv: %s", strerror(errno));
    /* The key path is resolved here: the script changes no directory, but
     * a relative path in the environment would be read from chroot's. */
    char key[PATH_MAX];
    if (o->ssh_key) {
        if (!realpath(o->ssh_key, key))
            return err_fail(err, errlen, "--ssh-key %s: %s", o->ssh_key, strerror(errno));
        setenv("VB_SSH_KEY", key, 1);
    }
    /* The script goes to bash through a memfd, so no file of it exists on
     * disk and `ps` shows a short command line. */
    int fd = memfd_create("vireo-image-bootstrap", 0);
    if (fd < 0)
        return err_fail(err, errlen, "memfd_create: %s", strerror(errno));
    size_t off = 0;
    while (off < ib_script_len) {
        ssize_t n = write(fd, ib_script + off, ib_script_len - off);
        if (n < 0) {
            int e = errno;
            close(fd);
            return err_fail(err, errlen, "writing the script: %s", strerror(e));
        }
        off += (size_t)n;
    }
    char path[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    fflush(NULL);
    execl("/bin/bash", "vireo-image-bootstrap", path, (char *)NULL);
    int e = errno;
    close(fd);
    return err_fail(err, errlen, "cannot run /bin/bash: %s", strerror(e));
}

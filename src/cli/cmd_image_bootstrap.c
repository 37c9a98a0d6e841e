/* `vireo image bootstrap NAME --size SIZE ...`: a Debian guest in one command
 * (xen-create-image's role); the work is in toolstack/image_bootstrap.c. */
#include "cli/cmd_image_bootstrap.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "toolstack/image_bootstrap.h"
#include "util/log.h"
#include "util/size.h"

static const char synopsis[] =
    "usage: vireo image bootstrap NAME --size SIZE [--dist DIST] [--format raw|qcow2] [--lvm VG]\n"
    "           [--hostname H] [--ssh-key FILE] [--ip ADDR/PREFIX [--gateway GW] | --dhcp]\n"
    "           [--bridge BR] [--memory M] [--vcpus N] [--packages LIST] [--mirror URL]\n"
    "           [-o DIR] [--cache DIR] [--refresh]\n";
static const char help[] =
    "Makes a Debian guest: DIR/NAME.img (raw; NAME.qcow2 with --format qcow2; the\n"
    "logical volume VG/NAME with --lvm) holding a GPT disk with an ext4 root, Debian\n"
    "DIST (bookworm) from this host's APT source (or URL) with debootstrap, the cloud\n"
    "kernel and its initramfs, a grub.cfg, sshd, systemd-networkd (the --ip address,\n"
    "else DHCP), a getty on ttyS0, root's authorized_keys from FILE; and DIR/NAME.cfg\n"
    "for `vireo create` (bootloader = \"pygrub\", memory M (512M), N vCPUs (1), a vif\n"
    "on BR if given).  The first guest of a DIST keeps its installed base in the\n"
    "cache folder (" IB_DEFAULT_CACHE ", or $VIREO_BOOTSTRAP_CACHE);\n"
    "later ones are made from it in seconds.  --refresh makes the base again.\n"
    "--packages: more Debian packages in the base, comma-separated.  Nothing is\n"
    "replaced; on failure nothing is left behind.  Needs root.\n";

/* A usage mistake: one line, then where to read more (exit 2), as every
 * command says it (cli_usage_error). */
static int usage_error(const char *fmt, const char *a)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, a);
    return cli_usage_error("image bootstrap", "%s", msg);
}

int cmd_image_bootstrap(int argc, char *const argv[])
{
    enum { O_SIZE = 256, O_DIST, O_FORMAT, O_LVM, O_HOSTNAME, O_SSH_KEY, O_IP, O_GATEWAY, O_DHCP, O_BRIDGE,
           O_MEMORY, O_VCPUS, O_PACKAGES, O_MIRROR, O_CACHE, O_REFRESH };
    static const struct option longopts[] = {
        {"size", required_argument, 0, O_SIZE},         {"dist", required_argument, 0, O_DIST},
        {"format", required_argument, 0, O_FORMAT},     {"lvm", required_argument, 0, O_LVM},
        {"hostname", required_argument, 0, O_HOSTNAME}, {"ssh-key", required_argument, 0, O_SSH_KEY},
        {"ip", required_argument, 0, O_IP},             {"gateway", required_argument, 0, O_GATEWAY},
        {"dhcp", no_argument, 0, O_DHCP},               {"bridge", required_argument, 0, O_BRIDGE},
        {"memory", required_argument, 0, O_MEMORY},     {"vcpus", required_argument, 0, O_VCPUS},
        {"packages", required_argument, 0, O_PACKAGES}, {"mirror", required_argument, 0, O_MIRROR},
        {"output", required_argument, 0, 'o'},          {"cache", required_argument, 0, O_CACHE},
        {"refresh", no_argument, 0, O_REFRESH},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct ib_opts o = {.dist = "bookworm", .format = "raw", .memory_mib = 512, .vcpus = 1, .outdir = "."};
    const char *env_cache = getenv("VIREO_BOOTSTRAP_CACHE");
    o.cache = env_cache && *env_cache ? env_cache : IB_DEFAULT_CACHE;
    bool have_size = false;
    uint64_t v;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case O_SIZE:
            if (!parse_size(optarg, &o.size))
                return usage_error("--size '%s': expected a size such as 8G or 512M", optarg);
            have_size = true;
            break;
        case O_DIST: o.dist = optarg; break;
        case O_FORMAT: o.format = optarg; break;
        case O_LVM: o.lvm = optarg; break;
        case O_HOSTNAME: o.hostname = optarg; break;
        case O_SSH_KEY: o.ssh_key = optarg; break;
        case O_IP: o.ip = optarg; break;
        case O_GATEWAY: o.gateway = optarg; break;
        case O_DHCP: o.dhcp = true; break;
        case O_BRIDGE: o.bridge = optarg; break;
        case O_MEMORY:
            if (!parse_size(optarg, &v))
                return usage_error("--memory '%s': expected a size such as 512M or 2G", optarg);
            o.memory_mib = v >> 20;
            break;
        case O_VCPUS:
            if (!parse_uint(optarg, 0, UINT32_MAX, &o.vcpus))
                return usage_error("--vcpus '%s': expected a number", optarg);
            break;
        case O_PACKAGES: o.packages = optarg; break;
        case O_MIRROR: o.mirror = optarg; break;
        case 'o': o.outdir = optarg; break;
        case O_CACHE: o.cache = optarg; break;
        case O_REFRESH: o.refresh = true; break;
        case 'h': fputs(synopsis, stdout); fputs(help, stdout); return 0;
        default: return cli_bad_option("image bootstrap", argv, ":o:h", longopts);
        }
    }
    /* getopt moved NAME, wherever it was, after the options. */
    if (optind < argc)
        o.name = argv[optind++];
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o.name)
        return usage_error("%s", "NAME is missing");
    if (!have_size)
        return usage_error("%s", "--size is missing (e.g. --size 8G)");

    char outdir[PATH_MAX], err[1024];
    if (ib_check(&o, outdir, sizeof(outdir), err, sizeof(err)) < 0 || ib_exec(&o, outdir, err, sizeof(err)) < 0) {
        vlog_err("image bootstrap: %s", err);
        return 1;
    }
    return 0;
}

/* `vireo image bootstrap`: a Debian guest in one command (xen-create-image's
 * role).  The options are checked here, completely, before anything is made;
 * the steps themselves (debootstrap, the cached base, the disk) are a bash
 * script built into the binary (image_bootstrap.sh), run with the checked
 * options in its environment. */
#ifndef VIREO_TOOLSTACK_IMAGE_BOOTSTRAP_H
#define VIREO_TOOLSTACK_IMAGE_BOOTSTRAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IB_DEFAULT_CACHE "/var/cache/vireo/bootstrap"
#define IB_MIN_SIZE (1ULL << 30)   /* Debian with the kernel and sshd takes ~700 MiB */

struct ib_opts {
    const char *name;      /* VM name; also the image's and the .cfg's */
    uint64_t size;         /* bytes */
    const char *dist;      /* Debian codename, default bookworm */
    const char *format;    /* "raw" (default) or "qcow2" */
    const char *lvm;       /* volume group, or NULL */
    const char *hostname;  /* default: name */
    const char *ssh_key;   /* public key file, or NULL */
    const char *ip;        /* ADDR/PREFIX, or NULL */
    const char *gateway;   /* or NULL */
    bool dhcp;
    const char *bridge;    /* or NULL: no vif */
    uint64_t memory_mib;   /* default 512 */
    uint64_t vcpus;        /* default 1 */
    const char *packages;  /* comma-separated, or NULL */
    const char *mirror;    /* or NULL: the host's APT source */
    const char *outdir;    /* default "." */
    const char *cache;     /* default $VIREO_BOOTSTRAP_CACHE, else IB_DEFAULT_CACHE */
    bool refresh;          /* make the base again */
};

/* Checks every option and what they name (the output folder, files that
 * must not exist yet, the key file, the tools the steps need); on success
 * fills abs_outdir (an absolute path).  -1 with a one-line reason. */
int ib_check(const struct ib_opts *o, char *abs_outdir, size_t outlen, char *err, size_t errlen);

/* Runs the steps with the checked options; returns only on failure to
 * start them (-1 with the reason); otherwise the process becomes the
 * script, whose exit status is the command's. */
int ib_exec(const struct ib_opts *o, const char *abs_outdir, char *err, size_t errlen);

#endif

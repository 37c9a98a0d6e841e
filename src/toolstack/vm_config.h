/* A VM's configuration from an xl.cfg(5) file (the subset `vireo create`
 * supports), validated: after vm_config_parse() succeeds every field is in
 * range and every path is a non-empty string, so the code that starts the
 * VM checks only what depends on the host (files exist, CPUs exist).
 *
 * Keys: name (required), type (pv or pvh: a direct kernel boot; hvm is
 * refused), memory, maxmem, vcpus, cpus, kernel (required unless bootloader is
 * set), ramdisk, cmdline or root + extra, bootloader ("pygrub": the kernel
 * comes from the first disk) and bootloader_args, disk, vif, on_poweroff,
 * on_reboot, on_crash, serial; and vireo's own
 * iothread_cpus (pinning of the disks' I/O threads, written like cpus),
 * user (whom the VM process runs as: a name or UID:GID), seccomp (0
 * turns the filters off, for debugging) and hugepages (1: RAM from the
 * host's 2 MiB huge pages).  Keys xl knows but vireo does
 * not support are errors that say so by name; unknown keys are errors,
 * with a did-you-mean.  A key set twice in one file is an error (xl keeps
 * the last one silently, which loses the first disk list of a file that
 * has two); `+=` appends, as in xl; command-line overrides replace. */
#ifndef VIREO_TOOLSTACK_VM_CONFIG_H
#define VIREO_TOOLSTACK_VM_CONFIG_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/bdev.h"
#include "toolstack/xlcfg_lex.h"
#include "vm/vm_limits.h"
#include "vm/vm_nets.h"

#define VM_NAME_MAX           64
#define VM_MAX_HOST_CPUS      1024   /* CPU_SETSIZE */
#define VM_MIN_MEMORY_MIB     (VM_MIN_RAM >> 20)
#define VM_MAX_MEMORY_MIB     (VM_MAX_RAM >> 20)
#define VM_DEFAULT_MEMORY_MIB 256    /* `vireo run`'s default; libxl's 32 MiB boots no distro kernel */
#define VM_DEFAULT_CMDLINE    "console=ttyS0"
#define VM_DEFAULT_BRIDGE     "xenbr0"   /* xl's default */
#define VM_IFNAME_MAX         15     /* IFNAMSIZ - 1 */
#define VM_MAX_WARNINGS       8
#define VM_WARNING_LEN        256

enum vm_action { VM_ACTION_DESTROY, VM_ACTION_RESTART, VM_ACTION_PRESERVE };

enum vm_serial {
    VM_SERIAL_PTY,     /* COM1 on a pty, for a console client (xl's `xl console`) */
    VM_SERIAL_NULL,    /* "null" or "none": COM1 is there, connected to nothing */
    VM_SERIAL_FILE,    /* "file:PATH": guest output appended to PATH */
};

struct vm_cpuset {
    uint64_t bits[VM_MAX_HOST_CPUS / 64];
};

static inline bool vm_cpuset_has(const struct vm_cpuset *s, unsigned cpu)
{
    return cpu < VM_MAX_HOST_CPUS && (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

/* The same set as the kernel's affinity masks take it. */
static inline void vm_cpuset_to_cpu_set(const struct vm_cpuset *s, cpu_set_t *out)
{
    CPU_ZERO(out);
    for (unsigned c = 0; c < VM_MAX_HOST_CPUS && c < CPU_SETSIZE; c++)
        if (vm_cpuset_has(s, c))
            CPU_SET(c, out);
}

struct vm_disk {
    char *target;          /* an image or a block device, as written (relative: to the cwd) */
    enum bdev_format format;   /* format= or a qcow2:/raw: prefix; raw by default, as xl */
    bool no_backing;       /* vireo's backing=off: a qcow2 image may not name a backing file */
    char vdev[16];         /* as written: xvda, hdb, sdc, d3 */
    unsigned index;        /* the disk number: xvda = hda = sda = d0 = 0 */
    bool readonly;         /* access=r|ro */
    bool discard;          /* xl's default: discard */
    struct xlcfg_loc loc;  /* the disk's spec string, for later messages */
};

struct vm_vif {
    char bridge[VM_IFNAME_MAX + 1];   /* default VM_DEFAULT_BRIDGE */
    char vifname[VM_IFNAME_MAX + 1];  /* host interface name; empty: chosen at start */
    bool has_mac;                     /* else one is generated at start */
    uint8_t mac[6];                   /* unicast, not all zeros */
    unsigned mtu;                     /* 0: the bridge's */
    enum vm_vhost vhost;              /* vhost=on|off; AUTO: on where usable */
    struct xlcfg_loc loc;
};

/* bootloader = "pygrub" (any path ending in pygrub): the kernel, initrd
 * and command line come from the first disk's boot loader configuration
 * (src/bootloader), read again at every start.  bootloader_args takes
 * pygrub's options; with a bootloader, the kernel and ramdisk keys are
 * pygrub's --kernel/--ramdisk (paths in the guest), as libxl passes them. */
struct vm_bootloader {
    bool pygrub;
    char *entry;               /* --entry=N|TITLE; NULL: the configuration's default */
    char *kernel;              /* --kernel: a path in the guest; NULL: read the configuration */
    char *ramdisk;             /* --ramdisk (needs kernel) */
};

struct vm_config {
    char name[VM_NAME_MAX + 1];       /* [A-Za-z0-9_.-], not starting with '.' or '-' */
    uint64_t memory_mib;
    /* maxmem: 0 when not set.  The guest's RAM is maxmem and a balloon
     * holds maxmem - memory of it from the start (vireo mem-set moves it). */
    uint64_t maxmem_mib;
    unsigned vcpus;                   /* 1..VM_MAX_VCPUS, default 1 */
    bool pinned;                      /* cpus= was given */
    struct vm_cpuset cpus[VM_MAX_VCPUS];   /* host CPUs vCPU i may run on (i < vcpus); all when unpinned */
    bool iothreads_pinned;            /* iothread_cpus= was given */
    struct vm_cpuset iothread_cpus[VM_MAX_DISKS];   /* host CPUs disk i's I/O threads may run on */
    char *kernel;                     /* NULL with a bootloader */
    char *ramdisk;                    /* NULL: none */
    /* cmdline, else "root=ROOT EXTRA" as xl builds it, else the default
     * (none with a bootloader, where it is what is added after the entry's
     * command line; bootloader_args' --args replaces it).  root= naming
     * one of the VM's disks the Xen way (/dev/xvdb2, /dev/sda1) names it
     * as the guest sees it here (/dev/vdb2): virtio-blk disks in vdev order. */
    char *cmdline;
    struct vm_bootloader boot;
    unsigned ndisks;
    struct vm_disk disks[VM_MAX_DISKS];   /* sorted by index: the lowest vdev is the guest's vda */
    unsigned nvifs;
    struct vm_vif vifs[VM_MAX_NETS];
    enum vm_action on_poweroff;       /* default destroy */
    enum vm_action on_reboot;         /* default restart */
    enum vm_action on_crash;          /* default destroy */
    enum vm_serial serial;            /* default pty */
    char *serial_path;                /* VM_SERIAL_FILE */
    char *user;                       /* NULL: the default (confine/privs.h) */
    bool seccomp_off;                 /* seccomp = 0 */
    bool hugepages;                   /* hugepages = 1 */
    /* Things xl accepts with a warning, e.g. root= next to cmdline=; the
     * caller prints them.  Same "SRC:LINE:COL: ..." form as errors. */
    unsigned nwarnings;
    char warnings[VM_MAX_WARNINGS][VM_WARNING_LEN];
    struct vm_config_src *src;        /* private: the parsed settings, kept for overrides */
};

/* Parses a whole config file (buf need not be NUL-terminated); fname is
 * used in messages.  0 on success (free with vm_config_free), -1 with
 * "FNAME:LINE:COL: what was wrong; expected what" in err and nothing
 * allocated in *out. */
int vm_config_parse(const char *buf, size_t len, const char *fname, struct vm_config *out, char *err,
                    size_t errlen);

/* The file and the command-line settings after it (`vireo create FILE
 * KEY=VALUE...`) at once, as xl reads them: an override may supply what
 * the file lacks (name, kernel), and the result is checked only as a
 * whole.  Each override is one line of xl.cfg (';' separates several). */
int vm_config_load(const char *buf, size_t len, const char *fname, const char *const *overrides, size_t n,
                   struct vm_config *out, char *err, size_t errlen);

/* Applies one more command-line setting, `vireo create FILE KEY=VALUE` (same
 * syntax as a line of the file, ';' separating several): `=` replaces the
 * file's value, `+=` appends to it.  Errors name "command line:COL:".  On
 * error *c is unchanged. */
int vm_config_override(struct vm_config *c, const char *setting, char *err, size_t errlen);

void vm_config_free(struct vm_config *c);

/* Every setting in effect, once each: the file's merged with the
 * command-line overrides (`+=` done, `=` replacing), in the order keys
 * first appeared.  fn returning -1 stops the walk (its err is kept). */
typedef int vm_config_setting_fn(void *ctx, const char *key, const struct xlcfg_value *v, char *err, size_t errlen);
int vm_config_settings(const struct vm_config *c, vm_config_setting_fn *fn, void *ctx, char *err, size_t errlen);

/* The name the file was parsed under (its path as given), or NULL. */
const char *vm_config_file(const struct vm_config *c);

const char *vm_action_name(enum vm_action a);

#endif

/* Shared by vm_config*.c: the state of one build of a struct vm_config
 * from merged settings, and the helpers that report errors at a position
 * inside a value. */
#ifndef VIREO_TOOLSTACK_VM_CONFIG_IMPL_H
#define VIREO_TOOLSTACK_VM_CONFIG_IMPL_H

#include "toolstack/vm_config.h"
#include "toolstack/xlcfg_lex.h"

struct vm_build {
    struct vm_config *c;
    char *err;
    size_t errlen;
    const char *main_src;                 /* the file: missing keys are reported against it */
    const struct xlcfg_value *cpus;       /* applied once vcpus is known */
    struct xlcfg_loc cpus_loc;
    const struct xlcfg_value *iothread_cpus;   /* likewise, once the disks are known */
    struct xlcfg_loc iothread_cpus_loc;
    const char *pin_key;                  /* "cpus" or "iothread_cpus", for messages */
    const struct xlcfg_value *bootloader_args;   /* applied once the other keys are known */
    struct xlcfg_loc bootloader_args_loc;
    struct xlcfg_loc bootloader_loc;
};

int vmc_err(struct vm_build *b, const struct xlcfg_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An error at byte off of a string or number value. */
int vmc_err_at(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void vmc_warn(struct vm_build *b, const struct xlcfg_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A value shown in a message: quoted-safe, cut when long. */
#define VMC_SHOW_MAX 96
#define VMC_SHOW(buf, s, len) (xlcfg_show((buf), sizeof(buf), (s), (len)), (buf))

/* Unsigned number from text (decimal or 0x hex) in [min, max];
 * `what` names it ("memory", "vif mtu") and `expected` says the range. */
int vmc_uint(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
             const char *what, uint64_t min, uint64_t max, const char *expected, uint64_t *out);

/* A path (or file name) in s[0..len): not empty, no control characters. */
int vmc_path(struct vm_build *b, const struct xlcfg_value *v, size_t off, const char *s, size_t len,
             const char *what, const char *expected);

/* Walks the comma-separated fields of s[0..len) (cpus lists, vif specs):
 * from *pos, sets [*start, *end) to the next field with spaces and tabs
 * trimmed (it may be empty); false once every field has been given. */
bool vmc_next_field(const char *s, size_t len, size_t *pos, size_t *start, size_t *end);

int vmc_disks(struct vm_build *b, const struct xlcfg_value *list);   /* vm_config_disk.c */
/* The disk number of a vdev's letters ("a" 0, "z" 25, "aa" 26). */
unsigned vmc_disk_letters(const char *s, size_t n);
int vmc_vifs(struct vm_build *b, const struct xlcfg_value *list);    /* vm_config_vif.c */
int vmc_cpus(struct vm_build *b);   /* cpus and iothread_cpus; vm_config_cpus.c */

/* vm_config_boot.c: type, bootloader, bootloader_args, and Xen's disk
 * names in root=. */
int vmc_type(struct vm_build *b, const struct xlcfg_value *v);
int vmc_bootloader(struct vm_build *b, const struct xlcfg_value *v);
/* After every key: bootloader_args, kernel/ramdisk as pygrub's, checks. */
int vmc_boot_finish(struct vm_build *b);
/* root=/dev/xvdX[N] (also sdX, hdX) naming one of the VM's disks becomes
 * the guest's /dev/vdY[N]; in place. */
int vmc_xen_root(struct vm_build *b, char **cmdline);

#endif

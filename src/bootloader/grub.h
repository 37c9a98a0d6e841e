/* GRUB 2's grub.cfg as Debian, Ubuntu and Fedora generate it, run the way
 * GRUB runs it at boot to find the entry it would boot: variables and
 * their expansion, if/for/while, functions, menuentry/submenu, `set
 * default=` (index, id, title or "submenu>entry"), load_env (grubenv's
 * saved_entry), search --fs-uuid/--label/--file --set=VAR, $root and
 * (hd0,gptN) paths, source/configfile, linux/linuxefi, initrd/initrdefi,
 * and Fedora's blscfg (Boot Loader Specification entries, bls.h).  Other
 * commands (insmod, load_video, terminal_output, ...) do nothing here.
 *
 * A pure function over the file's text: other files come through a
 * bl_host.  The text is hostile; everything is bounded (below) and errors
 * name FILE:LINE. */
#ifndef VIREO_BOOTLOADER_GRUB_H
#define VIREO_BOOTLOADER_GRUB_H

#include <stddef.h>

#include "bootloader/bl_entry.h"
#include "bootloader/bl_host.h"

#define GRUB_MAX_CFG           (1u << 20)   /* bytes of grub.cfg, and of each file it sources */
#define GRUB_MAX_SCRIPT_BYTES  (4u << 20)   /* all scripts read for one boot */
#define GRUB_MAX_ENVBLK        (64u << 10)  /* grubenv (GRUB writes 1 KiB) */
#define GRUB_MAX_STEPS         200000       /* commands run */
#define GRUB_MAX_SOURCE_DEPTH  8            /* source/configfile nesting */
#define GRUB_MAX_CALL_DEPTH    16           /* function calls */
#define GRUB_MAX_ITEMS         1024         /* entries in one menu */
#define GRUB_MAX_SUBMENU_DEPTH 8
#define GRUB_MAX_LOOP          1024         /* iterations of one loop */
#define GRUB_MAX_VARS          512
#define GRUB_MAX_VALUE         (16u << 10)  /* bytes of one variable or word */
#define GRUB_MAX_FUNCS         256

/* Where the configuration was found: it sets $root, $prefix and
 * $config_directory, as GRUB's own start-up does. */
struct grub_start {
    unsigned part;             /* partition number, 0: no partition table */
    const char *dir;           /* "/boot/grub", "/grub2" */
    const char *file;          /* "grub.cfg" */
};

/* Runs grub.cfg (buf) and fills *out with the entry GRUB would boot, or
 * the one `entry` names (pygrub's --entry: an index, an id, a title, or
 * "submenu>entry" like GRUB's default; NULL: the configuration's own
 * default).  -1 with the reason in err. */
int grub_find_boot(const struct bl_host *h, const struct grub_start *at, const char *buf, size_t len,
                   const char *entry, struct bl_entry *out, char *err, size_t errlen);

/* GRUB's name of a partition, "hd0,gpt2", "hd0,msdos1", or "hd0". */
void grub_device_name(const struct bl_host *h, unsigned part, char *out, size_t outlen);

/* The BLS directories' entries as a menu of their own (a disk with
 * /boot/loader/entries but no grub.cfg): the first in Fedora's order, or
 * the one `entry` names (index, id or title). */
int grub_find_bls_boot(const struct bl_host *h, unsigned part, const char *dir, const char *entry,
                       struct bl_entry *out, char *err, size_t errlen);

#endif

/* Boot Loader Specification entries (the .conf files of
 * /boot/loader/entries, type #1), as Fedora and RHEL write them and their GRUB reads them:
 *   title, version, machine-id, sort-key, linux, initrd (repeatable),
 *   options (repeatable, joined), devicetree, architecture, efi, grub_*.
 * The parser is a pure function over a buffer; bls_load() reads a
 * directory through a bl_host. */
#ifndef VIREO_BOOTLOADER_BLS_H
#define VIREO_BOOTLOADER_BLS_H

#include <stddef.h>

#include "bootloader/bl_entry.h"
#include "bootloader/bl_host.h"

#define BLS_MAX_ENTRIES  256        /* .conf files in the directory */
#define BLS_MAX_FILE     (64 << 10) /* bytes of one entry */

struct bls_entry {
    char *id;                  /* the file name without ".conf": GRUB's menu entry id */
    char *title;               /* NULL: none given (the id is shown instead) */
    char *version;
    char *kernel;              /* 'linux'; NULL: not a Linux entry (efi, missing) */
    char *options;             /* every 'options' line joined by a space; NULL: none */
    char *initrd[BL_MAX_INITRDS];
    unsigned ninitrd;
    char *efi;                 /* an EFI program instead of a kernel: not bootable here */
};

/* One entry from the text of ID.conf.  -1 with "ID.conf:LINE: what". */
int bls_parse(const char *buf, size_t len, const char *id, struct bls_entry *e, char *err, size_t errlen);
void bls_entry_free(struct bls_entry *e);

/* rpm's version comparison (rpmvercmp, with '~' before anything): <0, 0, >0. */
int bls_vercmp(const char *a, const char *b);

/* Fedora's GRUB order (blscfg): entries with a version first, the newest
 * first (bls_vercmp), then by file name, the greatest first. */
void bls_sort(struct bls_entry *e, unsigned n);

/* Every .conf file in dir of partition part, parsed and sorted.  0 with
 * *out (free with bls_free), 1 when dir does not exist or holds no
 * entry, -1 with err. */
int bls_load(const struct bl_host *h, unsigned part, const char *dir, struct bls_entry **out, unsigned *n,
             char *err, size_t errlen);
void bls_free(struct bls_entry *e, unsigned n);

#endif

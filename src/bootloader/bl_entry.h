/* A boot entry as the finder hands it on: which files to load from which
 * partition, and the command line.  Every string is bounded and
 * NUL-terminated; the guest chose all of it. */
#ifndef VIREO_BOOTLOADER_BL_ENTRY_H
#define VIREO_BOOTLOADER_BL_ENTRY_H

#define BL_MAX_PATH     1024   /* a path inside the guest */
#define BL_MAX_TITLE    256    /* a menu entry's title */
#define BL_MAX_CMDLINE  4096   /* the entry's own kernel command line */
#define BL_MAX_INITRDS  8      /* initrd files of one entry (microcode + initramfs) */
#define BL_MAX_SOURCE   192
#define BL_MAX_WARNING  256

struct bl_file_ref {
    unsigned part;             /* partition number; 0: the whole disk */
    char path[BL_MAX_PATH];    /* absolute, inside that partition's file system */
};

struct bl_entry {
    char source[BL_MAX_SOURCE];    /* where it came from: "grub.cfg (hd0,gpt2)/grub2/grub.cfg" */
    char title[BL_MAX_TITLE + 1];
    struct bl_file_ref kernel;
    unsigned ninitrd;
    struct bl_file_ref initrd[BL_MAX_INITRDS];
    char cmdline[BL_MAX_CMDLINE + 1];
    char warning[BL_MAX_WARNING];  /* worth a log line (a default entry that does not exist), or "" */
};

#endif

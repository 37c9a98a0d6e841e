/* A VM that boots from one of its disks (pygrub's role): the kernel,
 * initrd and command line of the entry the disk's boot loader would boot,
 * read by src/bootloader in its sandboxed child, into memory. */
#ifndef VIREO_VM_BOOT_DISK_H
#define VIREO_VM_BOOT_DISK_H

#include <stdint.h>

#include "bootloader/bootloader.h"

struct vm_params;

struct boot_disk_images {
    struct bl_result r;
    char *cmdline;             /* the entry's, then the caller's append */
    char kernel_name[BL_MAX_PATH + 64];   /* "disk 0 (hd0,msdos1)/boot/vmlinuz-...", for messages */
};

struct bdev;

/* Reads cfg->boot_disk's entry from bs, that disk as the VM opened it
 * (vm_resources.h: in its format, locked, idle until the VM runs): a
 * sandboxed child reads it through bdev_pread, keeping only the image
 * chain's descriptors.  Prints what it boots, or why not.  -1 on failure
 * (free with boot_disk_free either way). */
int boot_disk_load(const struct vm_params *cfg, struct bdev *bs, struct boot_disk_images *out);
void boot_disk_free(struct boot_disk_images *b);

#endif

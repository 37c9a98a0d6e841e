/* Boot from a guest's disk: the entry its boot loader would boot, read in
 * a sandboxed child (sandbox.h) and handed back in memory.  Nothing is
 * written to the host's disk.
 *
 * The child sends its answer over a pipe as records (type byte, 64-bit
 * length, payload); the parent checks every one: the types it expects in
 * the order it expects them, each length within the bounds below, strings
 * without NUL or control bytes, file data adding up to the announced size,
 * nothing after the end record. */
#ifndef VIREO_BOOTLOADER_BOOTLOADER_H
#define VIREO_BOOTLOADER_BOOTLOADER_H

#include <stddef.h>
#include <stdint.h>

#include "bootloader/bl_disk.h"
#include "bootloader/bl_entry.h"

#define BL_LIMIT_KERNEL   (64ull << 20)    /* bytes of the kernel image */
#define BL_LIMIT_INITRD   (512ull << 20)   /* bytes of all initrd files together */
#define BL_LIMIT_MEM      (256ull << 20)   /* address space the child may add */
#define BL_TIMEOUT_MS     60000            /* from start to the last byte of the answer */
#define BL_MAX_MESSAGE    512              /* an error or warning from the child */
#define BL_MAX_PATHS      (BL_MAX_PATH * 2)   /* the kernel's and initrds' paths, for the log */

struct bl_options {
    const char *entry;         /* pygrub's --entry (N, title, id, "submenu>entry"); NULL: default */
    const char *kernel;        /* --kernel: a path in the guest */
    const char *ramdisk;       /* --ramdisk, with --kernel */
    uint64_t max_initrd;       /* 0: BL_LIMIT_INITRD; else the smaller of both (the VM's RAM) */
    unsigned timeout_ms;       /* 0: BL_TIMEOUT_MS */
};

struct bl_result {
    uint8_t *kernel;
    uint64_t kernel_len;
    uint8_t *initrd;           /* every initrd, each padded to 4 bytes, as GRUB loads them; NULL: none */
    uint64_t initrd_len;
    char cmdline[BL_MAX_CMDLINE + 1];
    char title[BL_MAX_TITLE + 1];
    char source[BL_MAX_SOURCE];
    char paths[BL_MAX_PATHS];  /* "(hd0,msdos1)/boot/vmlinuz-6.1.0-13-amd64, initrd ..." */
    char warning[BL_MAX_MESSAGE];
    char note[BL_MAX_MESSAGE];    /* about the partition table (a backup GPT was used) */
};

/* Reads the boot entry from the disk: its read callback runs in the
 * sandboxed child, which keeps the nfds descriptors fds (opened read-only;
 * whatever the callback reads through) and nothing else.  0, or -1 with
 * the problem in err. */
int bootloader_load(const struct bl_disk *disk, const int *fds, unsigned nfds, const struct bl_options *o,
                    struct bl_result *r, char *err, size_t errlen);
void bl_result_free(struct bl_result *r);

/* The records, for the tests that play a hostile child. */
enum bl_rec {
    BL_REC_NOTE = 'N', BL_REC_WARNING = 'W', BL_REC_SOURCE = 'S', BL_REC_TITLE = 'T', BL_REC_PATHS = 'P',
    BL_REC_CMDLINE = 'C', BL_REC_KERNEL = 'K', BL_REC_INITRD = 'I', BL_REC_DATA = 'D', BL_REC_ERROR = 'X',
    BL_REC_END = 'E',
};
#define BL_MAX_CHUNK (1u << 20)    /* bytes of one data record */

/* Reads and checks a child's answer from sb; for tests with a child of
 * their own.  Same results as bootloader_load. */
struct sandbox;
int bl_read_answer(struct sandbox *sb, const struct bl_options *o, struct bl_result *r, char *err, size_t errlen);

#endif

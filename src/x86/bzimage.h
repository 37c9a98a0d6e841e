/* The Linux x86 boot protocol's setup header, as found in a bzImage. */
#ifndef VIREO_X86_BZIMAGE_H
#define VIREO_X86_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

/* 2.12 added xloadflags (XLF_KERNEL_64), which says the 64-bit entry exists. */
#define BZIMAGE_MIN_PROTOCOL 0x020C

/* The real-mode setup is at most 1 + 255 sectors: this much of the file's
 * head holds everything the parser and the boot_params need. */
#define BZIMAGE_HEAD_MAX (256 * 512)

struct bzimage {
    const uint8_t *head;       /* start of the file, not owned */
    size_t setup_len;          /* real-mode part: (setup_sects + 1) * 512 */
    uint64_t kernel_offset;    /* protected-mode part, loaded at 1 MiB */
    uint64_t kernel_len;
    size_t header_len;         /* bytes of setup header to copy, from 0x1f1 */
    uint16_t version;
    uint32_t initrd_addr_max;
    uint32_t cmdline_size;     /* max length, excluding the NUL */
    uint32_t kernel_alignment;
    uint8_t relocatable;
    uint64_t pref_address;
    uint32_t init_size;        /* memory the kernel needs from its load address */
};

/* Validates the image from its first head_len bytes (all of it, or at
 * least BZIMAGE_HEAD_MAX) and the file's size, and fills *bz.  On error
 * returns -1 and writes a one-line reason into err. */
int bzimage_parse(const uint8_t *head, size_t head_len, uint64_t file_len,
                  struct bzimage *bz, char *err, size_t errlen);

#endif

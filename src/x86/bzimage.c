#include "x86/bzimage.h"

#include <string.h>

#include "util/err.h"

/* Offsets in the file, from Documentation/arch/x86/boot.rst. */
#define OFF_SETUP_SECTS     0x1F1
#define OFF_SYSSIZE         0x1F4
#define OFF_BOOT_FLAG       0x1FE
#define OFF_JUMP            0x200
#define OFF_HEADER          0x202
#define OFF_VERSION         0x206
#define OFF_LOADFLAGS       0x211
#define OFF_INITRD_ADDR_MAX 0x22C
#define OFF_KERNEL_ALIGN    0x230
#define OFF_RELOCATABLE     0x234
#define OFF_XLOADFLAGS      0x236
#define OFF_CMDLINE_SIZE    0x238
#define OFF_PREF_ADDRESS    0x258
#define OFF_INIT_SIZE       0x260
#define HEADER_END_212      0x268  /* end of the fields we read (2.12) */

#define LOADED_HIGH   0x01
#define XLF_KERNEL_64 0x01

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

int bzimage_parse(const uint8_t *image, size_t head_len, uint64_t len,
                  struct bzimage *bz, char *err, size_t errlen)
{
    memset(bz, 0, sizeof(*bz));
    if (head_len > len)
        head_len = (size_t)len;
    if (head_len < HEADER_END_212)
        return err_fail(err, errlen, "not a bzImage: file too short (%llu bytes)", (unsigned long long)len);
    if (rd16(image + OFF_BOOT_FLAG) != 0xAA55 || memcmp(image + OFF_HEADER, "HdrS", 4) != 0)
        return err_fail(err, errlen, "not a bzImage: no Linux boot setup header (\"HdrS\" signature)");
    bz->version = rd16(image + OFF_VERSION);
    if (bz->version < BZIMAGE_MIN_PROTOCOL)
        return err_fail(err, errlen, "boot protocol %u.%02u is too old: need %u.%02u or later "
                    "(a 64-bit bzImage, Linux 3.8+)", bz->version >> 8, bz->version & 0xFF,
                    BZIMAGE_MIN_PROTOCOL >> 8, BZIMAGE_MIN_PROTOCOL & 0xFF);
    if (!(image[OFF_LOADFLAGS] & LOADED_HIGH))
        return err_fail(err, errlen, "not a bzImage: zImage (loads low) is not supported");
    if (!(rd16(image + OFF_XLOADFLAGS) & XLF_KERNEL_64))
        return err_fail(err, errlen, "bzImage has no 64-bit entry point (XLF_KERNEL_64 unset): "
                    "only x86-64 kernels are supported");

    unsigned setup_sects = image[OFF_SETUP_SECTS] ? image[OFF_SETUP_SECTS] : 4;
    bz->setup_len = (size_t)(setup_sects + 1) * 512;
    if (bz->setup_len >= len || bz->setup_len > head_len)
        return err_fail(err, errlen, "corrupt bzImage: setup (%zu bytes) is not smaller than the file (%llu bytes)",
                    bz->setup_len, (unsigned long long)len);
    /* The byte at 0x201 is the jump's offset: the header ends where the jump lands. */
    bz->header_len = (size_t)(OFF_JUMP + 2 + image[OFF_JUMP + 1]) - OFF_SETUP_SECTS;
    if (OFF_SETUP_SECTS + bz->header_len > bz->setup_len || OFF_SETUP_SECTS + bz->header_len < HEADER_END_212)
        return err_fail(err, errlen, "corrupt bzImage: setup header length %zu is inconsistent", bz->header_len);

    bz->kernel_offset = bz->setup_len;
    bz->kernel_len = len - bz->setup_len;
    /* A cut-short kernel would boot and crash the guest: refuse it here,
     * where the user learns why.  Bytes past syssize are allowed (a signed
     * kernel's signature). */
    uint64_t syssize = (uint64_t)rd32(image + OFF_SYSSIZE) * 16;
    if (bz->kernel_len < syssize)
        return err_fail(err, errlen, "truncated bzImage: the file has %llu bytes, its header says %llu "
                    "(%zu of setup + %llu of kernel)", (unsigned long long)len,
                    (unsigned long long)(bz->setup_len + syssize), bz->setup_len, (unsigned long long)syssize);
    bz->head = image;
    bz->initrd_addr_max = rd32(image + OFF_INITRD_ADDR_MAX);
    bz->kernel_alignment = rd32(image + OFF_KERNEL_ALIGN);
    bz->relocatable = image[OFF_RELOCATABLE];
    bz->cmdline_size = rd32(image + OFF_CMDLINE_SIZE);
    bz->pref_address = rd64(image + OFF_PREF_ADDRESS);
    bz->init_size = rd32(image + OFF_INIT_SIZE);
    if (bz->init_size < bz->kernel_len)
        return err_fail(err, errlen, "corrupt bzImage: init_size %u is smaller than the kernel (%llu bytes)",
                    bz->init_size, (unsigned long long)bz->kernel_len);
    if (bz->cmdline_size == 0)
        return err_fail(err, errlen, "corrupt bzImage: cmdline_size is 0");
    return 0;
}

#include "fake_bzimage.h"

#include <string.h>

void fake_put16(uint8_t *img, size_t off, uint16_t v)
{
    img[off] = (uint8_t)v;
    img[off + 1] = (uint8_t)(v >> 8);
}

void fake_put32(uint8_t *img, size_t off, uint32_t v)
{
    fake_put16(img, off, (uint16_t)v);
    fake_put16(img, off + 2, (uint16_t)(v >> 16));
}

void fake_bzimage(uint8_t *img, size_t len, uint32_t init_size, uint32_t initrd_addr_max)
{
    memset(img, 0, FAKE_SETUP_LEN);
    img[0x1F1] = FAKE_SETUP_SECTS;
    fake_put32(img, 0x1F4, (uint32_t)((len - FAKE_SETUP_LEN) / 16));   /* syssize: the payload, in paragraphs */
    fake_put16(img, 0x1FE, 0xAA55);
    img[0x200] = 0xEB;                    /* jmp over the header ... */
    img[0x201] = 0x6A;                    /* ... which ends at 0x26C */
    memcpy(img + 0x202, "HdrS", 4);
    fake_put16(img, 0x206, 0x020F);
    img[0x211] = 0x01;                    /* LOADED_HIGH */
    fake_put32(img, 0x22C, initrd_addr_max);
    fake_put32(img, 0x230, 0x200000);     /* kernel_alignment */
    img[0x234] = 1;                       /* relocatable */
    fake_put16(img, 0x236, 0x0001);       /* XLF_KERNEL_64 */
    fake_put32(img, 0x238, 2047);         /* cmdline_size */
    fake_put32(img, 0x258, 0x1000000);    /* pref_address */
    fake_put32(img, 0x260, init_size);
    for (size_t i = FAKE_SETUP_LEN; i < len; i++)
        img[i] = (uint8_t)((i - FAKE_SETUP_LEN) * 7 + 1);
}

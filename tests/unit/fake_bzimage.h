/* A synthetic bzImage: a setup header that parses, and a recognisable
 * protected-mode payload.  Shared by the boot-protocol unit tests. */
#ifndef VIREO_TESTS_FAKE_BZIMAGE_H
#define VIREO_TESTS_FAKE_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

#define FAKE_SETUP_SECTS 27
#define FAKE_SETUP_LEN   ((FAKE_SETUP_SECTS + 1) * 512)

/* Fills img[0..len) with a protocol-2.15 header and payload bytes
 * (payload byte i is (uint8_t)(i * 7 + 1)); syssize covers the payload's
 * whole 16-byte paragraphs. */
void fake_bzimage(uint8_t *img, size_t len, uint32_t init_size, uint32_t initrd_addr_max);
void fake_put16(uint8_t *img, size_t off, uint16_t v);
void fake_put32(uint8_t *img, size_t off, uint32_t v);

#endif

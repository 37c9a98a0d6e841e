/* The compressed kernel a bzImage carries (its "payload": an ELF vmlinux
 * compressed with gzip, xz, zstd or lz4, followed by its uncompressed size),
 * decompressed on the host so the guest need not do it (x86/pvh.h boots
 * the result). */
#ifndef VIREO_X86_KERNEL_PAYLOAD_H
#define VIREO_X86_KERNEL_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "x86/bzimage.h"

/* No kernel is this large uncompressed (Debian's generic one is ~60 MiB):
 * a hostile image cannot make the host allocate more. */
#define KERNEL_PAYLOAD_MAX_OUT (512ULL << 20)

enum kernel_payload_fmt {
    KERNEL_PAYLOAD_UNKNOWN,   /* lzma, bzip2, lzo, or not compressed */
    KERNEL_PAYLOAD_GZIP,
    KERNEL_PAYLOAD_XZ,
    KERNEL_PAYLOAD_ZSTD,
    KERNEL_PAYLOAD_LZ4,       /* LZ4's legacy frame format, as Linux writes it */
};

const char *kernel_payload_fmt_name(enum kernel_payload_fmt f);

/* The format of the payload data[0..len) by its magic bytes. */
enum kernel_payload_fmt kernel_payload_detect(const uint8_t *data, uint64_t len);

/* Finds the payload of the whole bzImage file[0..file_len) that bz was
 * parsed from.  -1 with a reason when the header's offsets do not fit. */
int kernel_payload_find(const uint8_t *file, uint64_t file_len, const struct bzimage *bz, const uint8_t **payload,
                        uint64_t *payload_len, char *err, size_t errlen);

/* Decompresses a payload of a known format into *out (mmap'ed, *out_len
 * bytes: free with munmap).  The output is bounded by the size the payload
 * declares in its last 4 bytes and by max_out, and must match that size
 * exactly.  -1 with a reason. */
int kernel_payload_decompress(const uint8_t *payload, uint64_t len, uint64_t max_out, uint8_t **out,
                              uint64_t *out_len, char *err, size_t errlen);

#endif

/* liblz4 (Debian's liblz4-1, there on every host systemd is), loaded on
 * first use: Debian's cloud kernel is compressed with LZ4.  Its one
 * function is declared here, with the stable ABI liblz4.so.1 has kept
 * since 2014, so the build needs no liblz4-dev. */
#ifndef VIREO_X86_LZ4_LIB_H
#define VIREO_X86_LZ4_LIB_H

#include <stddef.h>

#include "util/dynlib.h"

int LZ4_decompress_safe(const char *src, char *dst, int compressed_size, int dst_capacity);

#define LZ4_LIB_FNS(X) X(LZ4_decompress_safe)

DYNLIB_STRUCT(lz4_lib, LZ4_LIB_FNS);

const struct lz4_lib *lz4_lib(char *err, size_t errlen);

#endif

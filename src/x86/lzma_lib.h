/* liblzma, loaded on first use (util/dynlib.h says why): only a bzImage
 * whose xz payload is not yet in the kernel cache needs it. */
#ifndef VIREO_X86_LZMA_LIB_H
#define VIREO_X86_LZMA_LIB_H

#include <lzma.h>
#include <stddef.h>

#include "util/dynlib.h"

#define LZMA_LIB_FNS(X) \
    X(lzma_stream_decoder) \
    X(lzma_code) \
    X(lzma_end)

DYNLIB_STRUCT(lzma_lib, LZMA_LIB_FNS);

const struct lzma_lib *lzma_lib(char *err, size_t errlen);

#endif

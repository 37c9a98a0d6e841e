#include "x86/lzma_lib.h"

DYNLIB_LOADER(lzma_lib, lzma_lib, LZMA_LIB_FNS, "liblzma.so.5", "liblzma5")

#include "x86/lz4_lib.h"

DYNLIB_LOADER(lz4_lib, lz4_lib, LZ4_LIB_FNS, "liblz4.so.1", "liblz4-1")

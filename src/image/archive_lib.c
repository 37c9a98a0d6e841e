#include "image/archive_lib.h"

/* libarchive's ABI has been .so.13 since 3.0. */
DYNLIB_LOADER(archive_lib, archive_lib, ARCHIVE_LIB_FNS, "libarchive.so.13", "libarchive13")

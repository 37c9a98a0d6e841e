#include "cli/mhd_lib.h"

/* Debian 12's libmicrohttpd; its ABI has been .so.12 since 0.9.44. */
DYNLIB_LOADER(mhd_lib, mhd_lib, MHD_LIB_FNS, "libmicrohttpd.so.12", "libmicrohttpd12")

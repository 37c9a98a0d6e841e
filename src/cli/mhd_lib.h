/* libmicrohttpd, loaded on first use (util/dynlib.h says why): what
 * `vireo metrics --listen` calls. */
#ifndef VIREO_CLI_MHD_LIB_H
#define VIREO_CLI_MHD_LIB_H

#include <microhttpd.h>
#include <stddef.h>

#include "util/dynlib.h"

#define MHD_LIB_FNS(X)                  \
    X(MHD_add_response_header)          \
    X(MHD_create_response_from_buffer)  \
    X(MHD_destroy_response)             \
    X(MHD_queue_response)               \
    X(MHD_start_daemon)                 \
    X(MHD_stop_daemon)

DYNLIB_STRUCT(mhd_lib, MHD_LIB_FNS);

/* The library, loaded once per process; NULL and a message when it cannot
 * be. */
const struct mhd_lib *mhd_lib(char *err, size_t errlen);

#endif

/* libarchive, loaded on first use (util/dynlib.h says why): the functions
 * the backup stream calls, with their own types. */
#ifndef VIREO_IMAGE_ARCHIVE_LIB_H
#define VIREO_IMAGE_ARCHIVE_LIB_H

#include <archive.h>
#include <archive_entry.h>
#include <stddef.h>

#include "util/dynlib.h"

#define ARCHIVE_LIB_FNS(X) \
    X(archive_entry_clear) \
    X(archive_entry_filetype) \
    X(archive_entry_free) \
    X(archive_entry_new) \
    X(archive_entry_pathname) \
    X(archive_entry_set_filetype) \
    X(archive_entry_set_mtime) \
    X(archive_entry_set_pathname) \
    X(archive_entry_set_perm) \
    X(archive_entry_set_size) \
    X(archive_entry_size) \
    X(archive_entry_sparse_add_entry) \
    X(archive_error_string) \
    X(archive_read_data) \
    X(archive_read_data_block) \
    X(archive_read_free) \
    X(archive_read_new) \
    X(archive_read_next_header) \
    X(archive_read_open_fd) \
    X(archive_read_open_memory) \
    X(archive_read_support_filter_gzip) \
    X(archive_read_support_filter_xz) \
    X(archive_read_support_filter_zstd) \
    X(archive_read_support_format_tar) \
    X(archive_write_close) \
    X(archive_write_data) \
    X(archive_write_free) \
    X(archive_write_header) \
    X(archive_write_new) \
    X(archive_write_open_fd) \
    X(archive_write_set_format_pax)

DYNLIB_STRUCT(archive_lib, ARCHIVE_LIB_FNS);

/* The library, loaded once per process; NULL and a message when it cannot
 * be. */
const struct archive_lib *archive_lib(char *err, size_t errlen);

#endif

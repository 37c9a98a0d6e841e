/* An in-memory guest disk for the configuration parsers (grub.cfg, BLS):
 * a bl_host whose partitions and files are whatever the test or fuzz
 * target put there.  No cmocka here, so the fuzz target links it too. */
#ifndef VIREO_TESTS_MEM_HOST_H
#define VIREO_TESTS_MEM_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "bootloader/bl_host.h"

#define MEM_HOST_FILES 64
#define MEM_HOST_PARTS 8

struct mem_file {
    unsigned part;
    char *path;
    char *data;
    size_t len;
};

struct mem_part {
    unsigned number;
    char uuid[37];
    char label[17];
};

struct mem_host {
    struct bl_host host;
    struct mem_part parts[MEM_HOST_PARTS];
    unsigned nparts;
    struct mem_file files[MEM_HOST_FILES];
    unsigned nfiles;
    unsigned reads;            /* read_file calls, for tests of bounds */
};

/* scheme: "msdos", "gpt" or NULL. */
void mem_host_init(struct mem_host *m, const char *scheme);
void mem_host_part(struct mem_host *m, unsigned number, const char *uuid, const char *label);
/* Adds (or replaces) a file; its directories exist implicitly. */
void mem_host_file(struct mem_host *m, unsigned part, const char *path, const char *data, size_t len);
void mem_host_free(struct mem_host *m);

#endif

/* The backup stream of `vireo backup` and `vireo image import`: a POSIX
 * tar archive (pax format), so `tar -xSf` reads it too:
 *
 *   vireo-backup.json       the manifest: {"vireo-backup": 1, "name", "created",
 *                           "config": FILE, "disks": [{"file", "vdev", "access",
 *                           "size", "source", "source_format"}]}
 *   NAME.cfg                the VM's configuration (xl.cfg; disk targets name the
 *                           disk files below)
 *   NAME-VDEV.raw ...       each disk as the guest sees it, a raw image, stored
 *                           sparse (GNU sparse format 1.0): only data extents
 *                           travel, holes are recorded in the entry's map
 *   vireo-backup.end.json   {"disks": [{"file", "crc32"}]}: CRC-32 of each disk's
 *                           whole content (holes read as zeroes), so a stream cut
 *                           short or damaged is refused, however it was packed
 *
 * in this order.  The reader trusts nothing in it: names, sizes, offsets,
 * order and checksums are checked, and the data goes to the caller's sink
 * only inside each disk's declared size. */
#ifndef VIREO_IMAGE_BACKUP_STREAM_H
#define VIREO_IMAGE_BACKUP_STREAM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/img_reader.h"
#include "util/progress.h"

#define BACKUP_VERSION    1
#define BACKUP_MANIFEST   "vireo-backup.json"
#define BACKUP_TRAILER    "vireo-backup.end.json"
#define BACKUP_MAX_DISKS  16
#define BACKUP_NAME_MAX   128                /* file names in the stream */
#define BACKUP_JSON_MAX   (64u << 10)        /* manifest, trailer */
#define BACKUP_CONFIG_MAX (1u << 20)
#define BACKUP_SIZE_MAX   (1ull << 60)       /* a disk's size */

struct backup_disk {
    char file[BACKUP_NAME_MAX + 1];
    char vdev[16];
    bool ro;
    uint64_t size;
    char source[1024];          /* where it came from; information only */
    char source_format[16];
    uint32_t crc32;             /* of the whole content; from the trailer when read */
    uint64_t data_bytes;        /* bytes that travelled */
};

struct backup_manifest {
    char name[65];
    char created[32];           /* ISO 8601, UTC */
    char config[BACKUP_NAME_MAX + 1];
    unsigned ndisks;
    struct backup_disk disks[BACKUP_MAX_DISKS];
};

/* A name allowed for a file in the stream (and for the VM): letters,
 * digits, '.', '_', '-', not starting with '.' or '-'. */
bool backup_name_ok(const char *s, size_t max);

/* Writes the stream to fd: m (disks' crc32 and data_bytes are filled in),
 * the configuration text, then each disk read through r[i].  Block
 * devices are read twice (first to find their zero blocks, which are left
 * out); files and qcow2 images give their extents.  pr (may be NULL)
 * counts the data bytes (its total is set once known); *stop (may be
 * NULL) set by a signal handler ends the copy.  0, or -1 with why in err. */
int backup_write(int fd, struct backup_manifest *m, const char *cfg, size_t cfglen, struct img_reader *const r[],
                 struct progress *pr, volatile sig_atomic_t *stop, char *err, size_t errlen);

/* Where a stream's content goes, each step after the checks above it. */
struct backup_sink {
    void *ctx;
    int (*manifest)(void *ctx, const struct backup_manifest *m, char *err, size_t errlen);
    int (*config)(void *ctx, const char *text, size_t len, char *err, size_t errlen);
    /* Disk i's bytes at off, in increasing offsets, inside its size. */
    int (*data)(void *ctx, unsigned i, const void *buf, size_t len, uint64_t off, char *err, size_t errlen);
    /* Disk i is complete (its checksum is known to be right only once
     * backup_read returns 0). */
    int (*disk_end)(void *ctx, unsigned i, char *err, size_t errlen);
};

/* Reads a stream (plain, or compressed with gzip, zstd or xz) from fd, or
 * from memory.  0 once all of it was checked (every disk's CRC-32 matches
 * the trailer's, and nothing follows it); -1 with why in err. */
int backup_read_fd(int fd, const struct backup_sink *s, struct backup_manifest *m, char *err, size_t errlen);
int backup_read_mem(const void *buf, size_t len, const struct backup_sink *s, struct backup_manifest *m, char *err,
                    size_t errlen);

/* CRC-32 (zlib's) of len zero bytes appended to crc, in O(log len). */
uint32_t backup_crc_zeros(uint32_t crc, uint64_t len);

#endif

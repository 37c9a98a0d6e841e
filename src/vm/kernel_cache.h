/* Decompressed bzImage payloads kept on disk, so that a kernel is
 * decompressed once per host and user rather than by the guest at every
 * boot.  One file per bzImage, named by the hash of the whole bzImage:
 *
 *   DIR/<32 hex digits>.vmlinux = header (64 bytes) + the ELF vmlinux
 *
 * The header holds a magic, the key again, the vmlinux's length and its
 * hash: a short, cut or otherwise corrupt file is detected at lookup,
 * removed and rebuilt.  A stat index (DIR/<32 hex digits>.id) finds the
 * entry of an unchanged bzImage without hashing either file.  Files are written under a temporary name and
 * renamed into place, so readers see a whole file or none. */
#ifndef VIREO_VM_KERNEL_CACHE_H
#define VIREO_VM_KERNEL_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "util/fasthash.h"

#define KERNEL_CACHE_HEADER 64

/* An uncompressed kernel: bytes [off, off + len) of fd, which is the
 * cache entry, or a memfd when no entry could be written.  A descriptor,
 * not a mapping: the VMM's resident memory stays small, and a restarted
 * VM reads it again with pread (vm_resources.h). */
struct cached_kernel {
    int fd;            /* -1: none */
    uint64_t off, len;
    bool from_cache;   /* found on disk, not decompressed now */
};

/* $XDG_CACHE_HOME/vireo/kernels, else $HOME/.cache/vireo/kernels.  False
 * when neither variable is set (no cache: decompress at every start). */
bool kernel_cache_dir(char *buf, size_t len);

/* The vmlinux of bzImage file[0..file_len): from dir when a valid entry is
 * there, else decompressed now and (dir not NULL) stored.  id_fd: the
 * bzImage's descriptor, for the index that finds its entry without hashing
 * it (kernel_cache.c); -1: always by hash.  -1 with a reason when the
 * payload cannot be decompressed; a cache that cannot be written is not
 * an error (warned about once). */
int kernel_cache_get(const char *dir, const uint8_t *file, uint64_t file_len, int id_fd, struct cached_kernel *out,
                     char *err, size_t errlen);

/* Maps it read-only for a moment (parsing, checks): NULL and errno on
 * failure; unmap with kernel_cache_unmap(k, p). */
const uint8_t *kernel_cache_map(const struct cached_kernel *k);
void kernel_cache_unmap(const struct cached_kernel *k, const uint8_t *p);

/* Closes fd. */
void kernel_cache_release(struct cached_kernel *k);

/* How many entries and index links the cache keeps (the last used). */
#define KERNEL_CACHE_KEEP_ENTRIES 8
#define KERNEL_CACHE_KEEP_LINKS 64

/* Removes from dir all but the keep_entries entries used last (current,
 * an entry's file name or NULL, counting as used now), index links whose
 * entry is gone and all but the keep_links newest others, and temporary
 * files a writer left more than an hour ago; anything else in dir is left
 * alone (kernel_cache_prune.c).  Run after each new entry or link. */
void kernel_cache_prune(const char *dir, const char *current, unsigned keep_entries, unsigned keep_links);

#endif

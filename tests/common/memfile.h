/* A bfile in memory, for the qcow2 tests and fuzzer: bounded in size,
 * with counters, and a journal of what was written since the last sync so
 * a power loss can be simulated (any subset of those writes, torn at
 * 512-byte sectors, reaches the "disk"). */
#ifndef VIREO_TESTS_MEMFILE_H
#define VIREO_TESTS_MEMFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "block/bfile.h"

/* A file of `size` bytes (from data, or zeroes) that may grow to max. */
struct bfile *memfile_new(const void *data, uint64_t size, uint64_t max);
const uint8_t *memfile_data(struct bfile *f, uint64_t *size);
/* Records undo data for every write until the next sync. */
void memfile_journal(struct bfile *f, bool on);
/* The file as a power loss now could leave it: the state at the last
 * sync plus a random (seeded) subset of the writes since, each torn at
 * 512-byte sectors. */
struct bfile *memfile_crash(struct bfile *f, uint64_t seed);
/* Writes it to a file on disk. 0 or -errno. */
int memfile_save(struct bfile *f, const char *path);
/* Every later write, sync or truncate fails with -EIO once n more have
 * succeeded (n < 0: never). */
void memfile_fail_after(struct bfile *f, int64_t n);
uint64_t memfile_syncs(struct bfile *f);
/* The next sync fails with -EIO and the writes since the last sync are
 * lost (as when the kernel cannot write dirty pages back and drops them);
 * later syncs succeed.  Needs the journal. */
void memfile_lose_next_sync(struct bfile *f);
/* Bytes read so far (through any view). */
uint64_t memfile_read_bytes(struct bfile *f);
/* fn(ctx, f) runs at the start of every sync, before it takes effect:
 * where a power loss shows whether the writes since the last sync were
 * ordered correctly. */
void memfile_sync_hook(struct bfile *f, void (*fn)(void *ctx, struct bfile *f), void *ctx);
/* Another handle on the same file, whose close leaves the file alone
 * (so an image can be closed and opened again). */
struct bfile *memfile_view(struct bfile *f);

#endif

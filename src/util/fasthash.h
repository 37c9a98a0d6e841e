/* A fast 128-bit non-cryptographic hash (several GB/s): names and checks
 * files in a cache of the user's own (vm/kernel_cache.h), where hashing
 * a 60 MiB kernel at every start must cost milliseconds, and where
 * nobody but the user writes.  Not for anything an adversary chooses
 * against another party's data. */
#ifndef VIREO_UTIL_FASTHASH_H
#define VIREO_UTIL_FASTHASH_H

#include <stddef.h>
#include <stdint.h>

#define FASTHASH_LEN 16

void fasthash128(const void *data, size_t len, uint8_t out[FASTHASH_LEN]);

#endif

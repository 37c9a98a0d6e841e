/* Names xl knows: the keys of xl.cfg(5) that vireo does not implement (so
 * the error can say "valid for xl but not supported" instead of
 * "unknown"), and a did-you-mean for misspelt names. */
#ifndef VIREO_TOOLSTACK_XL_KEYS_H
#define VIREO_TOOLSTACK_XL_KEYS_H

#include <stdbool.h>
#include <stddef.h>

/* A top-level xl.cfg key that vireo does not support. */
bool xl_key_unsupported(const char *key);

/* A key whose value xl.cfg(5) defines as a number (memory, vcpus...):
 * an unquoted word there wants a number, not the quotes a string takes. */
bool xl_key_number(const char *key);

/* The candidate closest to word if it is close enough to be a typo
 * (optimal string alignment distance 1 for words of up to 4 letters, 2
 * beyond; a swap of two letters counts 1), else NULL.  Searches cands
 * (n of them) and, when also_xl, xl's unsupported keys too. */
const char *xl_suggest(const char *word, const char *const *cands, size_t n, bool also_xl);

#endif

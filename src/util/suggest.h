/* "Did you mean": the candidate a misspelt word most likely stands for.
 * Shared by the xl.cfg parser (keys, disk and vif options) and the
 * command line (commands and options), so both forgive the same typos. */
#ifndef VIREO_UTIL_SUGGEST_H
#define VIREO_UTIL_SUGGEST_H

#include <stddef.h>

/* Optimal string alignment distance (Levenshtein plus adjacent swaps),
 * capped: anything over max comes back as max + 1. */
size_t suggest_distance(const char *a, const char *b, size_t max);

/* The typo budget for word: 1 edit for up to 4 characters, 2 beyond
 * (short words are too close to each other for more). */
size_t suggest_budget(const char *word);

/* The candidate of cands (n of them, NULL entries skipped) closest to
 * word within its budget, or NULL.  *best_d (optional, in/out) carries
 * the best distance so far across several calls; start it at SIZE_MAX. */
const char *suggest_word(const char *word, const char *const *cands, size_t n, size_t *best_d);

#endif

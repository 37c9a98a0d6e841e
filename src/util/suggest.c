#include "util/suggest.h"

#include <stdint.h>
#include <string.h>

size_t suggest_distance(const char *a, const char *b, size_t max)
{
    /* Longer words are never typos of our names; the cap keeps the table
     * on the stack. */
    enum { N = 65 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= N || lb >= N)
        return max + 1;
    if ((la > lb ? la - lb : lb - la) > max)
        return max + 1;
    size_t d[N][N];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb] > max ? max + 1 : d[la][lb];
}

size_t suggest_budget(const char *word)
{
    return strlen(word) <= 4 ? 1 : 2;
}

const char *suggest_word(const char *word, const char *const *cands, size_t n, size_t *best_d)
{
    size_t max = suggest_budget(word);
    size_t local = SIZE_MAX;
    size_t *best = best_d ? best_d : &local;
    const char *found = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!cands[i])
            continue;
        size_t d = suggest_distance(word, cands[i], max);
        if (d <= max && d < *best) {
            found = cands[i];
            *best = d;
        }
    }
    return found;
}

/* Keeps the kernel cache bounded: every distinct bzImage adds an entry of
 * tens of MiB and every bzImage file (each kernel package upgrade makes a
 * new inode) an index link, and nothing else ever removes them.
 *
 * Entries are kept by last use, newest first.  The cache never touches an
 * entry on a hit (a write would move its ctime, which the index checks), so
 * last use is the later of its mtime (when it was written) and its atime,
 * which a read moves at least once a day under Linux's default relatime:
 * a day's resolution, enough to keep the kernels a host boots. */
#include "vm/kernel_cache.h"

#include <dirent.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A writer that died leaves its temporary file: "<name>.XXXXXX" (entries)
 * or "<name>.<pid>" (index links).  Older than this, nobody is writing it. */
#define STALE_TEMP_S 3600

struct aged {
    char name[64];
    int64_t used;
};

static int64_t stamp(const struct timespec *t)
{
    return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static int newest_first(const void *a, const void *b)
{
    int64_t x = ((const struct aged *)a)->used, y = ((const struct aged *)b)->used;
    return x < y ? 1 : x > y ? -1 : strcmp(((const struct aged *)a)->name, ((const struct aged *)b)->name);
}

/* "<32 hex digits><suffix>" exactly; *tail: what follows the suffix. */
static bool named(const char *name, const char *suffix, const char **tail)
{
    for (int i = 0; i < 2 * FASTHASH_LEN; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    size_t n = strlen(suffix);
    if (strncmp(name + 2 * FASTHASH_LEN, suffix, n) != 0)
        return false;
    *tail = name + 2 * FASTHASH_LEN + n;
    return true;
}

/* Adds name to v (growing it); false when out of memory. */
static bool push(struct aged **v, size_t *n, size_t *cap, const char *name, int64_t used)
{
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 32;
        struct aged *nv = realloc(*v, c * sizeof(**v));
        if (!nv)
            return false;
        *v = nv;
        *cap = c;
    }
    snprintf((*v)[*n].name, sizeof((*v)[*n].name), "%s", name);
    (*v)[(*n)++].used = used;
    return true;
}

/* Removes all but the keep newest of v. */
static void drop_oldest(int dfd, struct aged *v, size_t n, unsigned keep)
{
    qsort(v, n, sizeof(*v), newest_first);
    for (size_t i = keep; i < n; i++)
        unlinkat(dfd, v[i].name, 0);
}

/* Timestamps tick once per jiffy (4 ms): the entry just written may tie
 * with older ones, and must not lose the tie. */
#define NOW_USED INT64_MAX

/* An index link whose entry is gone can never be used again. */
static bool link_dangles(int dfd, const char *name)
{
    char rec[256];
    ssize_t n = readlinkat(dfd, name, rec, sizeof(rec) - 1);
    if (n <= 0)
        return true;
    rec[n] = 0;
    rec[strcspn(rec, " ")] = 0;
    const char *tail;
    if (!named(rec, ".vmlinux", &tail) || *tail)
        return true;
    struct stat st;
    return fstatat(dfd, rec, &st, AT_SYMLINK_NOFOLLOW) != 0;
}

void kernel_cache_prune(const char *dir, const char *current, unsigned keep_entries, unsigned keep_links)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    int dfd = dirfd(d);
    struct aged *entries = NULL, *links = NULL;
    size_t ne = 0, ce = 0, nl = 0, cl = 0;
    int64_t now = (int64_t)time(NULL) * 1000000000;
    bool ok = true;
    struct dirent *de;
    while (ok && (de = readdir(d))) {
        const char *tail;
        struct stat st;
        bool entry = named(de->d_name, ".vmlinux", &tail);
        if (!entry && !named(de->d_name, ".id", &tail))
            continue;   /* not the cache's: left alone */
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (*tail) {
            if (*tail == '.' && now - stamp(&st.st_mtim) > (int64_t)STALE_TEMP_S * 1000000000)
                unlinkat(dfd, de->d_name, 0);
            continue;
        }
        if (entry && S_ISREG(st.st_mode)) {
            int64_t used = stamp(&st.st_mtim) > stamp(&st.st_atim) ? stamp(&st.st_mtim) : stamp(&st.st_atim);
            if (current && !strcmp(de->d_name, current))
                used = NOW_USED;
            ok = push(&entries, &ne, &ce, de->d_name, used);
        } else if (!entry && S_ISLNK(st.st_mode)) {
            ok = push(&links, &nl, &cl, de->d_name, stamp(&st.st_mtim));
        }
    }
    if (ok) {
        drop_oldest(dfd, entries, ne, keep_entries);
        /* After the entries: links to what was just dropped dangle now. */
        size_t kept = 0;
        for (size_t i = 0; i < nl; i++) {
            if (link_dangles(dfd, links[i].name))
                unlinkat(dfd, links[i].name, 0);
            else
                links[kept++] = links[i];
        }
        drop_oldest(dfd, links, kept, keep_links);
    }
    free(entries);
    free(links);
    closedir(d);
}

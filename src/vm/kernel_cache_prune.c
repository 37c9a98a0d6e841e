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
    struct timespec used;
};

/* <0, 0, >0 as a is before, at, after b; any time a file system holds. */
static int ts_cmp(const struct timespec *a, const struct timespec *b)
{
    if (a->tv_sec != b->tv_sec)
        return a->tv_sec < b->tv_sec ? -1 : 1;
    return a->tv_nsec < b->tv_nsec ? -1 : a->tv_nsec > b->tv_nsec;
}

static const struct timespec *later(const struct timespec *a, const struct timespec *b)
{
    return ts_cmp(a, b) >= 0 ? a : b;
}

static int newest_first(const void *a, const void *b)
{
    const struct aged *x = a, *y = b;
    int c = ts_cmp(&y->used, &x->used);
    return c ? c : strcmp(x->name, y->name);
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
static bool push(struct aged **v, size_t *n, size_t *cap, const char *name, struct timespec used)
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
    if (n <= keep)
        return;   /* v may be NULL then, which qsort must not get */
    qsort(v, n, sizeof(*v), newest_first);
    for (size_t i = keep; i < n; i++)
        unlinkat(dfd, v[i].name, 0);
}

/* Timestamps tick once per jiffy (4 ms): the entry just written may tie
 * with older ones, and must not lose the tie. */
static const struct timespec now_used = {INT64_MAX, 0};

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
    time_t now = time(NULL);
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
            if (*tail == '.' && st.st_mtim.tv_sec < now - STALE_TEMP_S)
                unlinkat(dfd, de->d_name, 0);
            continue;
        }
        if (entry && S_ISREG(st.st_mode)) {
            const struct timespec *used = later(&st.st_mtim, &st.st_atim);
            if (current && !strcmp(de->d_name, current))
                used = &now_used;
            ok = push(&entries, &ne, &ce, de->d_name, *used);
        } else if (!entry && S_ISLNK(st.st_mode)) {
            /* readlink moves a link's atime: the links in use stay. */
            ok = push(&links, &nl, &cl, de->d_name, *later(&st.st_mtim, &st.st_atim));
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

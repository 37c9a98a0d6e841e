#include "vm/kernel_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/err.h"
#include "util/file.h"
#include "util/log.h"
#include "x86/bzimage.h"
#include "x86/kernel_payload.h"

static const char magic[16] = "VIREO-VMLINUX\0\0\1";
#define H_MAGIC 0
#define H_KEY 16
#define H_LEN 32
#define H_SUM 40   /* .. 56; 56..64 reserved, zero */

bool kernel_cache_dir(char *buf, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, len, "%s/vireo/kernels", xdg);
    else if (home && home[0] == '/')
        n = snprintf(buf, len, "%s/.cache/vireo/kernels", home);
    else
        return false;
    return n > 0 && (size_t)n < len;
}

/* key as 32 lowercase hex digits: the names of entries and index links */
static void key_hex(char out[2 * FASTHASH_LEN + 1], const uint8_t key[FASTHASH_LEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < FASTHASH_LEN; i++) {
        out[2 * i] = digits[key[i] >> 4];
        out[2 * i + 1] = digits[key[i] & 15];
    }
    out[2 * FASTHASH_LEN] = 0;
}

static void entry_path(char *buf, size_t len, const char *dir, const uint8_t key[FASTHASH_LEN])
{
    char hex[2 * FASTHASH_LEN + 1];
    key_hex(hex, key);
    snprintf(buf, len, "%s/%s.vmlinux", dir, hex);
}

const uint8_t *kernel_cache_map(const struct cached_kernel *k)
{
    /* Not populated: parsing reads the headers and a note, not 60 MiB. */
    void *p = mmap(NULL, (size_t)(k->off + k->len), PROT_READ, MAP_PRIVATE, k->fd, 0);
    return p == MAP_FAILED ? NULL : (const uint8_t *)p + k->off;
}

void kernel_cache_unmap(const struct cached_kernel *k, const uint8_t *p)
{
    if (p)
        munmap((void *)(uintptr_t)(p - k->off), (size_t)(k->off + k->len));
}

/* An existing entry, checked whole; false (and the file removed) when it
 * is not valid. */
static bool lookup(const char *path, const uint8_t key[FASTHASH_LEN], struct cached_kernel *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    uint8_t h[KERNEL_CACHE_HEADER];
    bool ok = fstat(fd, &st) == 0 && st.st_size >= KERNEL_CACHE_HEADER && read_full_at(fd, h, sizeof(h), 0) == 0 &&
              !memcmp(h + H_MAGIC, magic, sizeof(magic)) && !memcmp(h + H_KEY, key, FASTHASH_LEN);
    uint64_t len = 0;
    if (ok) {
        memcpy(&len, h + H_LEN, sizeof(len));
        ok = len > 0 && len <= KERNEL_PAYLOAD_MAX_OUT && (uint64_t)st.st_size == KERNEL_CACHE_HEADER + len;
    }
    struct cached_kernel k = {fd, KERNEL_CACHE_HEADER, len, true};
    const uint8_t *p = ok ? kernel_cache_map(&k) : NULL;
    if (p) {
        uint8_t sum[FASTHASH_LEN];
        fasthash128(p, (size_t)len, sum);
        kernel_cache_unmap(&k, p);
        if (!memcmp(sum, h + H_SUM, FASTHASH_LEN)) {
            *out = k;
            return true;
        }
    }
    close(fd);
    vlog_info("kernel cache: %s is corrupt or incomplete; rebuilding it", path);
    unlink(path);
    return false;
}

/* The stat index: for a bzImage's identity (device, inode, size, change
 * and modification times: any write to it changes the ctime), which entry
 * holds its kernel and that entry's own identity when it was made.  A
 * start then finds its kernel without hashing the 8 MiB bzImage and the
 * 60 MiB entry (17 CPU-ms of every start before).  One symlink per
 * bzImage, used as an atomic little record (readlink: one system call):
 *   DIR/<hash of the bzImage's identity>.id -> "<key hex>.vmlinux <ino> <ctime s>.<ns> <size>"
 * An entry changed after it was indexed has another ctime: the index is
 * not trusted then, and the entry's checksum decides as on a miss. */
static void identity_key(const struct stat *st, uint8_t out[FASTHASH_LEN])
{
    uint64_t v[7] = {
        (uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size, (uint64_t)st->st_mtim.tv_sec,
        (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
    };
    fasthash128(v, sizeof(v), out);
}

static void index_path(char *buf, size_t len, const char *dir, const struct stat *id)
{
    uint8_t k[FASTHASH_LEN];
    char hex[2 * FASTHASH_LEN + 1];
    identity_key(id, k);
    key_hex(hex, k);
    snprintf(buf, len, "%s/%s.id", dir, hex);
}

static void entry_record(char *buf, size_t len, const uint8_t key[FASTHASH_LEN], const struct stat *e)
{
    char hex[2 * FASTHASH_LEN + 1];
    key_hex(hex, key);
    snprintf(buf, len, "%s.vmlinux %llu %lld.%09ld %lld", hex, (unsigned long long)e->st_ino,
             (long long)e->st_ctim.tv_sec, e->st_ctim.tv_nsec, (long long)e->st_size);
}

/* The entry the index names for this bzImage, if it is still the file
 * that was indexed; its header is checked, not its checksum. */
static bool index_lookup(const char *dir, const struct stat *id, struct cached_kernel *out)
{
    char ipath[4200], rec[256];
    index_path(ipath, sizeof(ipath), dir, id);
    ssize_t n = readlink(ipath, rec, sizeof(rec) - 1);
    if (n <= 0 || n >= (ssize_t)sizeof(rec) - 1)
        return false;
    rec[n] = 0;
    uint8_t key[FASTHASH_LEN];
    for (int i = 0; i < FASTHASH_LEN; i++) {
        unsigned b;
        if (sscanf(rec + 2 * i, "%2x", &b) != 1)
            return false;
        key[i] = (uint8_t)b;
    }
    char path[4200];
    entry_path(path, sizeof(path), dir, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    char now[256];
    uint8_t h[KERNEL_CACHE_HEADER];
    uint64_t len = 0;
    bool ok = fstat(fd, &st) == 0;
    if (ok) {
        entry_record(now, sizeof(now), key, &st);
        ok = !strcmp(now, rec) && st.st_size >= KERNEL_CACHE_HEADER && read_full_at(fd, h, sizeof(h), 0) == 0 &&
             !memcmp(h + H_MAGIC, magic, sizeof(magic)) && !memcmp(h + H_KEY, key, FASTHASH_LEN);
    }
    if (ok) {
        memcpy(&len, h + H_LEN, sizeof(len));
        ok = len > 0 && len <= KERNEL_PAYLOAD_MAX_OUT && (uint64_t)st.st_size == KERNEL_CACHE_HEADER + len;
    }
    if (!ok) {
        close(fd);
        return false;
    }
    *out = (struct cached_kernel){fd, KERNEL_CACHE_HEADER, len, true};
    return true;
}

/* A timestamp this close to now may not change with the next write
 * (one tick: a jiffy on most file systems, up to 2 s on some): git's
 * "racily clean" rule.  An identity that recent is not indexed. */
#define RACY_NS 2000000000LL

static bool racy(const struct stat *st)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) < 0)
        return true;
    long long age = (long long)(now.tv_sec - st->st_ctim.tv_sec) * 1000000000LL + (now.tv_nsec - st->st_ctim.tv_nsec);
    return age < RACY_NS;
}

static bool same_identity(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Records entry fd (key) for the bzImage whose identity was id before its
 * bytes were hashed: only if it still is (nothing changed it meanwhile)
 * and neither its nor the entry's last change is too recent to be told
 * from a next one.  Not recording only costs a later start a hash. */
static void index_store(const char *dir, int id_fd, const struct stat *id, const uint8_t key[FASTHASH_LEN], int fd)
{
    struct stat now_id, st;
    if (fstat(id_fd, &now_id) < 0 || !same_identity(id, &now_id) || racy(id) || fstat(fd, &st) < 0 || racy(&st))
        return;
    char ipath[4200], tmp[4300], rec[256];
    index_path(ipath, sizeof(ipath), dir, id);
    entry_record(rec, sizeof(rec), key, &st);
    snprintf(tmp, sizeof(tmp), "%s.%d", ipath, (int)getpid());
    unlink(tmp);
    if (symlink(rec, tmp) < 0 || rename(tmp, ipath) < 0)
        unlink(tmp);
}

static int mkdirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

/* Writes the entry; its descriptor, or -1 (said why) when it cannot. */
static int store(const char *dir, const char *path, const uint8_t key[FASTHASH_LEN], const uint8_t *data,
                 uint64_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
    int fd = -1;
    if (mkdirs(dir) < 0 || (fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
        vlog_info("kernel cache: cannot write in %s (%s): the kernel is decompressed at every start", dir,
                  strerror(errno));
        return -1;
    }
    uint8_t h[KERNEL_CACHE_HEADER] = {0};
    memcpy(h + H_MAGIC, magic, sizeof(magic));
    memcpy(h + H_KEY, key, FASTHASH_LEN);
    memcpy(h + H_LEN, &len, sizeof(len));
    fasthash128(data, (size_t)len, h + H_SUM);
    /* Synced before it takes its name: the index trusts a named entry
     * whose identity has not changed, so it must be whole after a crash. */
    /* Sparse: half of a vmlinux is zero pages (its bss and padding), which
     * loading then skips without touching the guest's RAM there. */
    if (write_full(fd, h, sizeof(h)) < 0 || write_sparse(fd, data, (size_t)len) < 0 || fsync(fd) < 0 ||
        rename(tmp, path) < 0) {
        vlog_info("kernel cache: writing %s: %s", path, strerror(errno));
        unlink(tmp);
        close(fd);
        return -1;
    }
    return fd;
}

/* Where no cache entry could be written: the kernel in memory, as a file. */
static int to_memfd(const uint8_t *data, uint64_t len, char *err, size_t errlen)
{
    int fd = memfd_create("vireo-vmlinux", MFD_CLOEXEC);
    if (fd < 0)
        return err_fail(err, errlen, "memfd_create: %s", strerror(errno));
    if (write_full(fd, data, (size_t)len) < 0) {
        close(fd);
        return err_fail(err, errlen, "writing the decompressed kernel to a memfd: %s", strerror(errno));
    }
    return fd;
}

int kernel_cache_get(const char *dir, const uint8_t *file, uint64_t file_len, int id_fd,
                     struct cached_kernel *out, char *err, size_t errlen)
{
    *out = (struct cached_kernel){-1, 0, 0, false};
    /* The identity before any byte is hashed (the mapping reads the file
     * as it is touched). */
    struct stat id_st;
    const struct stat *id = id_fd >= 0 && fstat(id_fd, &id_st) == 0 && (uint64_t)id_st.st_size == file_len
                                ? &id_st : NULL;
    if (dir && id && index_lookup(dir, id, out))
        return 0;
    uint8_t key[FASTHASH_LEN];
    fasthash128(file, (size_t)file_len, key);
    char path[4096];
    if (dir) {
        entry_path(path, sizeof(path), dir, key);
        if (lookup(path, key, out)) {
            if (id) {
                /* A new link (the bzImage is another file now): bound them. */
                index_store(dir, id_fd, id, key, out->fd);
                kernel_cache_prune(dir, strrchr(path, '/') + 1, KERNEL_CACHE_KEEP_ENTRIES, KERNEL_CACHE_KEEP_LINKS);
            }
            return 0;
        }
    }
    struct bzimage bz;
    const uint8_t *payload;
    uint64_t plen;
    size_t head = file_len < BZIMAGE_HEAD_MAX ? (size_t)file_len : BZIMAGE_HEAD_MAX;
    if (bzimage_parse(file, head, file_len, &bz, err, errlen) < 0 ||
        kernel_payload_find(file, file_len, &bz, &payload, &plen, err, errlen) < 0)
        return -1;
    uint8_t *buf;
    uint64_t len;
    if (kernel_payload_decompress(payload, plen, KERNEL_PAYLOAD_MAX_OUT, &buf, &len, err, errlen) < 0)
        return -1;
    int fd = dir ? store(dir, path, key, buf, len) : -1;
    if (fd >= 0 && id)
        index_store(dir, id_fd, id, key, fd);
    if (fd >= 0)
        kernel_cache_prune(dir, strrchr(path, '/') + 1, KERNEL_CACHE_KEEP_ENTRIES, KERNEL_CACHE_KEEP_LINKS);
    uint64_t off = KERNEL_CACHE_HEADER;
    if (fd < 0) {
        fd = to_memfd(buf, len, err, errlen);
        off = 0;
    }
    munmap(buf, (size_t)len);
    if (fd < 0)
        return -1;
    *out = (struct cached_kernel){fd, off, len, false};
    return 0;
}

void kernel_cache_release(struct cached_kernel *k)
{
    if (k->fd >= 0)
        close(k->fd);
    *k = (struct cached_kernel){-1, 0, 0, false};
}

#include "vm/kernel_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

static void entry_path(char *buf, size_t len, const char *dir, const uint8_t key[FASTHASH_LEN])
{
    int n = snprintf(buf, len, "%s/", dir);
    for (int i = 0; i < FASTHASH_LEN && n > 0 && (size_t)n + 2 < len; i++)
        n += snprintf(buf + n, len - (size_t)n, "%02x", key[i]);
    snprintf(buf + n, len - (size_t)n, ".vmlinux");
}

const uint8_t *kernel_cache_map(const struct cached_kernel *k)
{
    void *p = mmap(NULL, (size_t)(k->off + k->len), PROT_READ, MAP_PRIVATE | MAP_POPULATE, k->fd, 0);
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
    if (write_full(fd, h, sizeof(h)) < 0 || write_full(fd, data, (size_t)len) < 0 || rename(tmp, path) < 0) {
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

int kernel_cache_get(const char *dir, const uint8_t *file, uint64_t file_len, struct cached_kernel *out, char *err,
                     size_t errlen)
{
    *out = (struct cached_kernel){-1, 0, 0, false};
    uint8_t key[FASTHASH_LEN];
    fasthash128(file, (size_t)file_len, key);
    char path[4096];
    if (dir) {
        entry_path(path, sizeof(path), dir, key);
        if (lookup(path, key, out))
            return 0;
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

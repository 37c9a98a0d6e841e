/* A bzImage's payload decompressed on the host (gzip, xz, zstd, lz4), with its
 * bounds, and the kernel cache that keeps the result: hits, and corrupt
 * or short entries detected and rebuilt. */
#include <dlfcn.h>
#include <fcntl.h>
#include <lzma.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>
#include <cmocka.h>

#include "fake_bzimage.h"
#include "fake_elf.h"
#include "vm/kernel_cache.h"
#include "x86/bzimage.h"
#include "x86/elf_kernel.h"
#include "x86/kernel_payload.h"

#define PAYLOAD_OFF 0x100   /* from the protected-mode part's start */
#define BZ_MAX (FAKE_SETUP_LEN + PAYLOAD_OFF + 2 * FAKE_ELF_LEN + 4096)

static uint8_t elf[FAKE_ELF_LEN];
static char err[256];

/* Compresses elf in fmt into out; returns the length with the 4-byte size. */
static size_t compress_elf(enum kernel_payload_fmt fmt, uint8_t *out, size_t cap, uint32_t declared)
{
    size_t n = 0;
    if (fmt == KERNEL_PAYLOAD_GZIP) {
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = elf;
        z.avail_in = sizeof(elf);
        z.next_out = out;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        n = z.total_out - 4;   /* gzip's own trailer ends in the size: overwrite it */
        deflateEnd(&z);
    } else if (fmt == KERNEL_PAYLOAD_ZSTD) {
        n = ZSTD_compress(out, cap, elf, sizeof(elf), 19);
        assert_false(ZSTD_isError(n));
    } else if (fmt == KERNEL_PAYLOAD_LZ4) {
        /* Legacy frame: magic, then one block with its length (liblz4's
         * compressor, loaded as vireo loads its decompressor). */
        void *h = dlopen("liblz4.so.1", RTLD_NOW);
        assert_non_null(h);
        int (*compress)(const char *, char *, int, int) = (int (*)(const char *, char *, int, int))dlsym(h, "LZ4_compress_default");
        assert_non_null(compress);
        uint32_t magic = 0x184C2102u;
        memcpy(out, &magic, 4);
        int c = compress((const char *)elf, (char *)out + 8, sizeof(elf), (int)cap - 12);
        assert_true(c > 0);
        uint32_t c32 = (uint32_t)c;
        memcpy(out + 4, &c32, 4);
        n = 8 + (size_t)c;
    } else {
        assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, elf, sizeof(elf), out, &n, cap), LZMA_OK);
    }
    memcpy(out + n, &declared, 4);
    return n + 4;
}

/* A bzImage carrying elf compressed in fmt; returns its length. */
static size_t make_bzimage(uint8_t *bz, enum kernel_payload_fmt fmt, uint32_t declared)
{
    uint8_t payload[2 * FAKE_ELF_LEN];
    size_t plen = compress_elf(fmt, payload, sizeof(payload), declared);
    size_t len = FAKE_SETUP_LEN + PAYLOAD_OFF + plen;
    fake_bzimage(bz, len, 64 << 20, 0x7FFFFFFF);
    fake_put32(bz, 0x248, PAYLOAD_OFF);
    fake_put32(bz, 0x24C, (uint32_t)plen);
    memcpy(bz + FAKE_SETUP_LEN + PAYLOAD_OFF, payload, plen);
    return len;
}

static int payload_of(const uint8_t *bz, size_t len, const uint8_t **p, uint64_t *plen)
{
    struct bzimage b;
    assert_int_equal(bzimage_parse(bz, len, len, &b, err, sizeof(err)), 0);
    return kernel_payload_find(bz, len, &b, p, plen, err, sizeof(err));
}

static void round_trip(enum kernel_payload_fmt fmt)
{
    static uint8_t bz[BZ_MAX];
    size_t len = make_bzimage(bz, fmt, FAKE_ELF_LEN);
    const uint8_t *p;
    uint64_t plen;
    assert_int_equal(payload_of(bz, len, &p, &plen), 0);
    assert_int_equal(kernel_payload_detect(p, plen), fmt);
    uint8_t *out;
    uint64_t out_len;
    if (kernel_payload_decompress(p, plen, KERNEL_PAYLOAD_MAX_OUT, &out, &out_len, err, sizeof(err)) < 0)
        fail_msg("%s: %s", kernel_payload_fmt_name(fmt), err);
    assert_int_equal(out_len, FAKE_ELF_LEN);
    assert_memory_equal(out, elf, FAKE_ELF_LEN);
    struct elf_kernel k;
    assert_int_equal(elf_kernel_parse(out, out_len, &k, err, sizeof(err)), 0);
    assert_true(k.has_pvh);
    munmap(out, out_len);
}

static void gzip_xz_zstd_lz4(void **state)
{
    (void)state;
    fake_elf(elf);
    round_trip(KERNEL_PAYLOAD_GZIP);
    round_trip(KERNEL_PAYLOAD_XZ);
    round_trip(KERNEL_PAYLOAD_ZSTD);
    round_trip(KERNEL_PAYLOAD_LZ4);
}

static void expect_refusal(enum kernel_payload_fmt fmt, uint32_t declared, uint64_t max, const char *words)
{
    static uint8_t bz[BZ_MAX];
    size_t len = make_bzimage(bz, fmt, declared);
    const uint8_t *p;
    uint64_t plen;
    assert_int_equal(payload_of(bz, len, &p, &plen), 0);
    uint8_t *out = (uint8_t *)1;
    uint64_t out_len = 1;
    assert_int_equal(kernel_payload_decompress(p, plen, max, &out, &out_len, err, sizeof(err)), -1);
    assert_null(out);
    assert_int_equal(out_len, 0);
    if (!strstr(err, words))
        fail_msg("%s: expected \"%s\" in \"%s\"", kernel_payload_fmt_name(fmt), words, err);
}

static void bounded_output(void **state)
{
    (void)state;
    fake_elf(elf);
    enum kernel_payload_fmt fmts[] = {KERNEL_PAYLOAD_GZIP, KERNEL_PAYLOAD_XZ, KERNEL_PAYLOAD_ZSTD, KERNEL_PAYLOAD_LZ4};
    for (int i = 0; i < 4; i++) {
        /* A hostile size is refused before any allocation. */
        expect_refusal(fmts[i], 0xFFFFFFFFu, KERNEL_PAYLOAD_MAX_OUT, "at most");
        expect_refusal(fmts[i], FAKE_ELF_LEN, FAKE_ELF_LEN - 1, "at most");
        expect_refusal(fmts[i], 0, KERNEL_PAYLOAD_MAX_OUT, "declares 0 bytes");
        /* The stream must not write past what it declared ... */
        expect_refusal(fmts[i], FAKE_ELF_LEN - 16, KERNEL_PAYLOAD_MAX_OUT, "");
        /* ... nor end short of it. */
        expect_refusal(fmts[i], FAKE_ELF_LEN + 16, KERNEL_PAYLOAD_MAX_OUT, "");
    }
    static uint8_t bz[BZ_MAX];
    size_t len = make_bzimage(bz, KERNEL_PAYLOAD_GZIP, FAKE_ELF_LEN);
    const uint8_t *p;
    uint64_t plen;
    assert_int_equal(payload_of(bz, len, &p, &plen), 0);
    uint8_t *out;
    uint64_t out_len;
    /* Cut short. */
    assert_int_equal(kernel_payload_decompress(p, plen / 2, KERNEL_PAYLOAD_MAX_OUT, &out, &out_len, err, sizeof(err)), -1);
    /* Not a known format. */
    uint8_t lzma_magic[16] = {0x5D, 0, 0, 0x80, 0};
    assert_int_equal(kernel_payload_detect(lzma_magic, sizeof(lzma_magic)), KERNEL_PAYLOAD_UNKNOWN);
    assert_int_equal(kernel_payload_decompress(lzma_magic, sizeof(lzma_magic), KERNEL_PAYLOAD_MAX_OUT, &out, &out_len,
                                               err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not gzip, xz, zstd or lz4"));
    /* Payload fields pointing outside the kernel. */
    fake_put32(bz, 0x24C, (uint32_t)(len - FAKE_SETUP_LEN));
    assert_int_equal(payload_of(bz, len, &p, &plen), -1);
    assert_non_null(strstr(err, "not inside the kernel"));
    fake_put32(bz, 0x248, 0xFFFFFFF0u);
    fake_put32(bz, 0x24C, 0x100);
    assert_int_equal(payload_of(bz, len, &p, &plen), -1);
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The one entry in dir, or fail. */
static void entry_of(const char *dir, char *path, size_t len)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "ls %s/*.vmlinux", dir);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    assert_non_null(fgets(path, (int)len, f));
    path[strcspn(path, "\n")] = 0;
    assert_null(fgets(cmd, sizeof(cmd), f));
    pclose(f);
}

static void assert_holds_elf(const struct cached_kernel *k)
{
    assert_true(k->fd >= 0);
    assert_int_equal(k->len, FAKE_ELF_LEN);
    const uint8_t *p = kernel_cache_map(k);
    assert_non_null(p);
    assert_memory_equal(p, elf, FAKE_ELF_LEN);
    kernel_cache_unmap(k, p);
}

static void cache_hits_and_rebuilds(void **state)
{
    (void)state;
    fake_elf(elf);
    static uint8_t bz[BZ_MAX];
    size_t len = make_bzimage(bz, KERNEL_PAYLOAD_XZ, FAKE_ELF_LEN);
    char tmpl[] = "/tmp/vireo-kcache-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char dir[512], path[600];
    snprintf(dir, sizeof(dir), "%s/a/b", tmpl);   /* created on first use */

    struct cached_kernel k;
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    assert_holds_elf(&k);
    kernel_cache_release(&k);
    entry_of(dir, path, sizeof(path));
    assert_int_equal(file_size(path), KERNEL_CACHE_HEADER + FAKE_ELF_LEN);

    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_true(k.from_cache);
    assert_int_equal(k.len, FAKE_ELF_LEN);
    assert_holds_elf(&k);
    kernel_cache_release(&k);

    /* Cut short: detected, rebuilt whole. */
    assert_int_equal(truncate(path, KERNEL_CACHE_HEADER + 100), 0);
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    assert_holds_elf(&k);
    kernel_cache_release(&k);
    assert_int_equal(file_size(path), KERNEL_CACHE_HEADER + FAKE_ELF_LEN);

    /* One byte of the kernel changed: the checksum catches it. */
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, KERNEL_CACHE_HEADER + 0x1234), 1);
    close(fd);
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    assert_holds_elf(&k);
    kernel_cache_release(&k);
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_true(k.from_cache);
    kernel_cache_release(&k);

    /* Another bzImage: another entry, never the first one's kernel. */
    bz[FAKE_SETUP_LEN + 8] ^= 1;   /* setup code, not the payload */
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    kernel_cache_release(&k);

    /* A cache that cannot be written is not an error. */
    char blocked[600];
    snprintf(blocked, sizeof(blocked), "%s/file", tmpl);
    fd = open(blocked, O_CREAT | O_WRONLY, 0600);
    close(fd);
    snprintf(dir, sizeof(dir), "%s/file/sub", tmpl);
    assert_int_equal(kernel_cache_get(dir, bz, len, -1, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    assert_int_equal(k.off, 0);   /* a memfd */
    assert_holds_elf(&k);
    kernel_cache_release(&k);
    assert_int_equal(k.fd, -1);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
}

/* The path of the entry for bzImage bytes b[0..len), as the cache names
 * it (written here on purpose, not taken from the cache's code). */
static void entry_path_of(const char *dir, const uint8_t *b, size_t len, char *path, size_t plen)
{
    uint8_t key[FASTHASH_LEN];
    fasthash128(b, len, key);
    int n = snprintf(path, plen, "%s/", dir);
    for (int i = 0; i < FASTHASH_LEN; i++)
        n += snprintf(path + n, plen - (size_t)n, "%02x", key[i]);
    snprintf(path + n, plen - (size_t)n, ".vmlinux");
}

/* The inode of the entry for bzImage bytes b[0..len), or 0. */
static ino_t entry_ino(const char *dir, const uint8_t *b, size_t len)
{
    char path[600];
    entry_path_of(dir, b, len, path, sizeof(path));
    struct stat st;
    return stat(path, &st) == 0 ? st.st_ino : 0;
}

static ino_t fd_ino(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_ino;
}

/* Past the index's "racily clean" window (2 s): a change since then
 * would have moved the ctime. */
static void age(void)
{
    usleep(2100000);
}

/* The stat index: an unchanged bzImage finds its entry without either
 * file being hashed; a changed bzImage or entry goes back to the hash and
 * the checksum; an identity too recent to be told from the next change is
 * never indexed. */
static void cache_index_by_identity(void **state)
{
    (void)state;
    fake_elf(elf);
    static uint8_t bz[BZ_MAX], other[BZ_MAX];
    size_t len = make_bzimage(bz, KERNEL_PAYLOAD_XZ, FAKE_ELF_LEN);
    memcpy(other, bz, len);
    other[FAKE_SETUP_LEN + 8] ^= 1;   /* another bzImage, the same vmlinux */
    char tmpl[] = "/tmp/vireo-kindex-XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char dir[512], path[600], img[600];
    snprintf(dir, sizeof(dir), "%s/cache", tmpl);
    snprintf(img, sizeof(img), "%s/vmlinuz", tmpl);
    int fd = open(img, O_CREAT | O_RDWR, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bz, len, 0), (ssize_t)len);
    age();

    struct cached_kernel k;
    assert_int_equal(kernel_cache_get(dir, bz, len, fd, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    kernel_cache_release(&k);
    /* The entry is brand new: not indexed yet, so other bytes under the
     * same identity are hashed and get their own entry. */
    assert_int_equal(kernel_cache_get(dir, other, len, fd, &k, err, sizeof(err)), 0);
    assert_int_equal(fd_ino(k.fd), entry_ino(dir, other, len));
    kernel_cache_release(&k);
    age();
    assert_int_equal(kernel_cache_get(dir, bz, len, fd, &k, err, sizeof(err)), 0);   /* indexed now */
    assert_true(k.from_cache);
    kernel_cache_release(&k);
    /* Found by identity alone: given other bytes under the same identity,
     * it answers with the indexed entry (nothing was hashed). */
    assert_int_equal(kernel_cache_get(dir, other, len, fd, &k, err, sizeof(err)), 0);
    assert_true(k.from_cache);
    assert_int_equal(fd_ino(k.fd), entry_ino(dir, bz, len));
    assert_holds_elf(&k);
    kernel_cache_release(&k);

    /* The entry changed after it was indexed: the index is not trusted,
     * the checksum catches it, and it is rebuilt. */
    entry_path_of(dir, bz, len, path, sizeof(path));
    int efd = open(path, O_WRONLY);
    assert_true(efd >= 0);
    assert_int_equal(pwrite(efd, "X", 1, KERNEL_CACHE_HEADER + 0x1234), 1);
    close(efd);
    assert_int_equal(kernel_cache_get(dir, bz, len, fd, &k, err, sizeof(err)), 0);
    assert_false(k.from_cache);
    assert_holds_elf(&k);
    kernel_cache_release(&k);

    /* The bzImage rewritten in place: its new identity is too recent to
     * index, so the next start with other bytes still hashes them. */
    assert_int_equal(pwrite(fd, other, len, 0), (ssize_t)len);
    assert_int_equal(kernel_cache_get(dir, other, len, fd, &k, err, sizeof(err)), 0);
    assert_int_equal(fd_ino(k.fd), entry_ino(dir, other, len));
    kernel_cache_release(&k);
    assert_int_equal(kernel_cache_get(dir, bz, len, fd, &k, err, sizeof(err)), 0);
    assert_int_equal(fd_ino(k.fd), entry_ino(dir, bz, len));
    kernel_cache_release(&k);
    close(fd);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
}

/* A file in dir with mtime and atime days_ago days back (atime: at_days). */
static void put_file(const char *dir, const char *name, double days_ago, double at_days)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    time_t now = time(NULL);
    struct timespec t[2] = {{now - (time_t)(at_days * 86400), 0}, {now - (time_t)(days_ago * 86400), 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static void put_link(const char *dir, const char *name, const char *target, double days_ago)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    assert_int_equal(symlink(target, path), 0);
    time_t now = time(NULL);
    struct timespec t[2] = {{now - (time_t)(days_ago * 86400), 0}, {now - (time_t)(days_ago * 86400), 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
}

static bool present(const char *dir, const char *name)
{
    char path[600];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

#define HEX(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

/* The cache stays bounded: the entries used last are kept (read recently
 * counts as much as written recently), index links to removed entries go,
 * then all but the newest links, and a dead writer's temporary files; what
 * is not the cache's own is left alone. */
static void cache_stays_bounded(void **state)
{
    (void)state;
    char dir[] = "/tmp/vireo-kprune-XXXXXX";
    assert_non_null(mkdtemp(dir));
    put_file(dir, HEX("a") ".vmlinux", 10, 0);   /* old, but read today */
    put_file(dir, HEX("b") ".vmlinux", 9, 9);
    put_file(dir, HEX("c") ".vmlinux", 8, 8);
    put_file(dir, HEX("d") ".vmlinux", 2, 2);
    put_file(dir, HEX("e") ".vmlinux", 1, 1);
    put_link(dir, HEX("1") ".id", HEX("b") ".vmlinux 5 1.000000002 3", 0);   /* to an evicted entry */
    put_link(dir, HEX("2") ".id", HEX("e") ".vmlinux 5 1.000000002 3", 3);
    put_link(dir, HEX("6") ".id", HEX("d") ".vmlinux 5 1.000000002 3", 0);   /* to an evicted entry */
    put_link(dir, HEX("3") ".id", HEX("a") ".vmlinux 5 1.000000002 3", 1);
    put_link(dir, HEX("4") ".id", "not a record", 0);
    put_file(dir, HEX("f") ".vmlinux.Ab12Cd", 0.1, 0.1);   /* a writer 2.4 hours ago */
    put_file(dir, HEX("f") ".vmlinux.Zz99Yy", 0, 0);       /* one writing now */
    put_file(dir, HEX("5") ".id.4242", 1, 1);
    put_file(dir, "notes.txt", 30, 30);
    put_file(dir, HEX("9") ".vmlinuxes", 30, 30);

    kernel_cache_prune(dir, HEX("c") ".vmlinux", 3, 1);
    assert_true(present(dir, HEX("a") ".vmlinux"));
    assert_false(present(dir, HEX("b") ".vmlinux"));
    assert_true(present(dir, HEX("c") ".vmlinux"));   /* the current one */
    assert_false(present(dir, HEX("d") ".vmlinux"));
    assert_true(present(dir, HEX("e") ".vmlinux"));
    assert_false(present(dir, HEX("1") ".id"));
    assert_false(present(dir, HEX("2") ".id"));   /* the older of the two that point somewhere */
    assert_true(present(dir, HEX("3") ".id"));
    assert_false(present(dir, HEX("4") ".id"));
    assert_false(present(dir, HEX("6") ".id"));
    assert_false(present(dir, HEX("f") ".vmlinux.Ab12Cd"));
    assert_true(present(dir, HEX("f") ".vmlinux.Zz99Yy"));
    assert_false(present(dir, HEX("5") ".id.4242"));
    assert_true(present(dir, "notes.txt"));
    assert_true(present(dir, HEX("9") ".vmlinuxes"));
    /* Dated past 2262 (ext4 holds up to 2446): ranked, not overflowed. */
    char far[600];
    snprintf(far, sizeof(far), "%s/%s", dir, HEX("7") ".vmlinux");
    put_file(dir, HEX("7") ".vmlinux", 0, 0);
    struct timespec ft[2] = {{10000000000, 0}, {10000000000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, far, ft, 0), 0);
    kernel_cache_prune(dir, NULL, 1, 1);
    assert_true(present(dir, HEX("7") ".vmlinux"));
    assert_false(present(dir, HEX("a") ".vmlinux"));
    assert_false(present(dir, HEX("e") ".vmlinux"));

    /* Through the cache: no more entries than it keeps, the new one kept. */
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/k", dir);
    fake_elf(elf);
    static uint8_t bz[BZ_MAX];
    size_t len = make_bzimage(bz, KERNEL_PAYLOAD_GZIP, FAKE_ELF_LEN);
    for (unsigned i = 0; i < KERNEL_CACHE_KEEP_ENTRIES + 3; i++) {
        bz[FAKE_SETUP_LEN + 8] = (uint8_t)i;   /* another bzImage each time */
        struct cached_kernel k;
        assert_int_equal(kernel_cache_get(sub, bz, len, -1, &k, err, sizeof(err)), 0);
        assert_false(k.from_cache);
        kernel_cache_release(&k);
        assert_int_equal(kernel_cache_get(sub, bz, len, -1, &k, err, sizeof(err)), 0);
        assert_true(k.from_cache);
        kernel_cache_release(&k);
    }
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "test $(ls %s/*.vmlinux | wc -l) -eq %d", sub, KERNEL_CACHE_KEEP_ENTRIES);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void cache_dir_from_environment(void **state)
{
    (void)state;
    char buf[256];
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    assert_true(kernel_cache_dir(buf, sizeof(buf)));
    assert_string_equal(buf, "/x/cache/vireo/kernels");
    setenv("XDG_CACHE_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    assert_true(kernel_cache_dir(buf, sizeof(buf)));
    assert_string_equal(buf, "/home/u/.cache/vireo/kernels");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    assert_false(kernel_cache_dir(buf, sizeof(buf)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gzip_xz_zstd_lz4),
        cmocka_unit_test(bounded_output),
        cmocka_unit_test(cache_hits_and_rebuilds),
        cmocka_unit_test(cache_index_by_identity),
        cmocka_unit_test(cache_stays_bounded),
        cmocka_unit_test(cache_dir_from_environment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include "x86/kernel_payload.h"

#include <string.h>
#include <sys/mman.h>
#include <zlib.h>
#include <zstd.h>

#include "util/err.h"
#include "x86/lz4_lib.h"
#include "x86/lzma_lib.h"

/* Setup header fields of boot protocol 2.08+, relative to the
 * protected-mode part. */
#define OFF_PAYLOAD_OFFSET 0x248
#define OFF_PAYLOAD_LENGTH 0x24C
/* xz's decoder needs the dictionary (Linux uses 32 MiB) and a little more. */
#define XZ_MEMLIMIT (128ULL << 20)

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

const char *kernel_payload_fmt_name(enum kernel_payload_fmt f)
{
    switch (f) {
    case KERNEL_PAYLOAD_GZIP: return "gzip";
    case KERNEL_PAYLOAD_XZ: return "xz";
    case KERNEL_PAYLOAD_ZSTD: return "zstd";
    case KERNEL_PAYLOAD_LZ4: return "lz4";
    default: return "unknown";
    }
}

enum kernel_payload_fmt kernel_payload_detect(const uint8_t *d, uint64_t len)
{
    static const uint8_t gz[] = {0x1F, 0x8B}, xz[] = {0xFD, '7', 'z', 'X', 'Z', 0}, zst[] = {0x28, 0xB5, 0x2F, 0xFD},
                         lz4[] = {0x02, 0x21, 0x4C, 0x18};
    if (len >= sizeof(lz4) && !memcmp(d, lz4, sizeof(lz4)))
        return KERNEL_PAYLOAD_LZ4;
    if (len >= sizeof(xz) && !memcmp(d, xz, sizeof(xz)))
        return KERNEL_PAYLOAD_XZ;
    if (len >= sizeof(zst) && !memcmp(d, zst, sizeof(zst)))
        return KERNEL_PAYLOAD_ZSTD;
    if (len >= sizeof(gz) && !memcmp(d, gz, sizeof(gz)))
        return KERNEL_PAYLOAD_GZIP;
    return KERNEL_PAYLOAD_UNKNOWN;
}

int kernel_payload_find(const uint8_t *file, uint64_t file_len, const struct bzimage *bz, const uint8_t **payload,
                        uint64_t *payload_len, char *err, size_t errlen)
{
    if (bz->header_len + 0x1F1 < OFF_PAYLOAD_LENGTH + 4 || file_len < OFF_PAYLOAD_LENGTH + 4)
        return err_fail(err, errlen, "bzImage setup header has no payload fields");
    uint64_t off = rd32(file + OFF_PAYLOAD_OFFSET), len = rd32(file + OFF_PAYLOAD_LENGTH);
    if (off > bz->kernel_len || len > bz->kernel_len - off || len < 4)
        return err_fail(err, errlen, "corrupt bzImage: payload [0x%llx, +0x%llx) is not inside the kernel's %llu "
                        "bytes", (unsigned long long)off, (unsigned long long)len,
                        (unsigned long long)bz->kernel_len);
    *payload = file + bz->kernel_offset + off;
    *payload_len = len;
    return 0;
}

static int gunzip(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap, uint64_t *got, char *err, size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return err_fail(err, errlen, "zlib: inflateInit2 failed");
    int ret = 0;
    uint64_t in_done = 0, out_done = 0;
    int rc = Z_OK;
    /* avail_in/avail_out are 32-bit: feed in chunks. */
    while (rc == Z_OK) {
        uint64_t in_left = len - in_done, out_left = cap - out_done;
        z.next_in = (Bytef *)(uintptr_t)(in + in_done);
        z.avail_in = (uInt)(in_left > (1u << 30) ? (1u << 30) : in_left);
        z.next_out = out + out_done;
        z.avail_out = (uInt)(out_left > (1u << 30) ? (1u << 30) : out_left);
        uInt ain = z.avail_in, aout = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        in_done += ain - z.avail_in;
        out_done += aout - z.avail_out;
        if (rc == Z_OK && ain == z.avail_in && aout == z.avail_out)
            rc = Z_BUF_ERROR;   /* no progress: out of input or of room */
    }
    if (rc != Z_STREAM_END)
        ret = err_fail(err, errlen, "gzip payload: %s", out_done == cap ? "larger than its declared size"
                                                        : (z.msg ? z.msg : "truncated"));
    inflateEnd(&z);
    *got = out_done;
    return ret;
}

static int unxz(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap, uint64_t *got, char *err, size_t errlen)
{
    const struct lzma_lib *lz = lzma_lib(err, errlen);
    if (!lz)
        return -1;
    lzma_stream s = LZMA_STREAM_INIT;
    if (lz->lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
        return err_fail(err, errlen, "liblzma: cannot start a decoder");
    s.next_in = in;
    s.avail_in = (size_t)len;
    s.next_out = out;
    s.avail_out = (size_t)cap;
    lzma_ret rc = lz->lzma_code(&s, LZMA_FINISH);
    *got = s.total_out;
    lz->lzma_end(&s);
    if (rc == LZMA_STREAM_END)
        return 0;
    if (rc == LZMA_BUF_ERROR && s.total_out == cap)
        return err_fail(err, errlen, "xz payload: larger than its declared size");
    if (rc == LZMA_MEMLIMIT_ERROR)
        return err_fail(err, errlen, "xz payload: needs more than %llu MiB to decompress",
                        (unsigned long long)(XZ_MEMLIMIT >> 20));
    return err_fail(err, errlen, "xz payload: corrupt or truncated (liblzma error %d)", (int)rc);
}

static int unzstd(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap, uint64_t *got, char *err,
                  size_t errlen)
{
    /* Linux appends its 4-byte size after the frame: not zstd's to read. */
    size_t n = ZSTD_decompress(out, (size_t)cap, in, (size_t)(len - 4));
    if (ZSTD_isError(n))
        return err_fail(err, errlen, "zstd payload: %s", ZSTD_getErrorName(n));
    *got = n;
    return 0;
}

/* LZ4's legacy format: the magic, then blocks, each a 4-byte compressed
 * length and an LZ4 block of at most 8 MiB uncompressed; another magic
 * may start a concatenated stream.  Linux's 4-byte size ends the input. */
#define LZ4_LEGACY_MAGIC 0x184C2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static int unlz4(const uint8_t *in, uint64_t len, uint8_t *out, uint64_t cap, uint64_t *got, char *err, size_t errlen)
{
    const struct lz4_lib *lz = lz4_lib(err, errlen);
    if (!lz)
        return -1;
    uint64_t end = len - 4, at = 4, done = 0;
    while (end - at >= 4) {
        uint32_t n = rd32(in + at);
        at += 4;
        if (n == LZ4_LEGACY_MAGIC)
            continue;
        if (n == 0 || n > end - at)
            return err_fail(err, errlen, "lz4 payload: block of %u bytes at offset %llu runs past the payload", n,
                            (unsigned long long)(at - 4));
        uint64_t room = cap - done;
        int r = lz->LZ4_decompress_safe((const char *)in + at, (char *)out + done, (int)n,
                                        (int)(room < LZ4_LEGACY_BLOCK ? room : LZ4_LEGACY_BLOCK));
        if (r < 0)
            return err_fail(err, errlen, "lz4 payload: %s at offset %llu",
                            room < LZ4_LEGACY_BLOCK ? "larger than its declared size, or corrupt" : "corrupt block",
                            (unsigned long long)at);
        done += (uint64_t)r;
        at += n;
    }
    if (at != end)
        return err_fail(err, errlen, "lz4 payload: %llu stray bytes at its end", (unsigned long long)(end - at));
    *got = done;
    return 0;
}

int kernel_payload_decompress(const uint8_t *payload, uint64_t len, uint64_t max_out, uint8_t **out,
                              uint64_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    enum kernel_payload_fmt f = kernel_payload_detect(payload, len);
    if (f == KERNEL_PAYLOAD_UNKNOWN)
        return err_fail(err, errlen, "the kernel's payload is not gzip, xz, zstd or lz4");
    if (len < 8)
        return err_fail(err, errlen, "%s payload of %llu bytes is too short", kernel_payload_fmt_name(f),
                        (unsigned long long)len);
    uint64_t declared = rd32(payload + len - 4);
    if (declared == 0 || declared > max_out)
        return err_fail(err, errlen, "%s payload declares %llu bytes uncompressed; at most %llu are accepted",
                        kernel_payload_fmt_name(f), (unsigned long long)declared, (unsigned long long)max_out);
    void *buf = mmap(NULL, (size_t)declared, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    if (buf == MAP_FAILED)
        return err_fail(err, errlen, "cannot map %llu bytes for the decompressed kernel",
                        (unsigned long long)declared);
    uint64_t got = 0;
    int rc;
    if (f == KERNEL_PAYLOAD_GZIP)
        rc = gunzip(payload, len, buf, declared, &got, err, errlen);
    else if (f == KERNEL_PAYLOAD_XZ)
        rc = unxz(payload, len, buf, declared, &got, err, errlen);
    else if (f == KERNEL_PAYLOAD_ZSTD)
        rc = unzstd(payload, len, buf, declared, &got, err, errlen);
    else
        rc = unlz4(payload, len, buf, declared, &got, err, errlen);
    if (rc == 0 && got != declared)
        rc = err_fail(err, errlen, "%s payload: %llu bytes uncompressed, its trailer says %llu",
                      kernel_payload_fmt_name(f), (unsigned long long)got, (unsigned long long)declared);
    if (rc < 0) {
        munmap(buf, (size_t)declared);
        return -1;
    }
    *out = buf;
    *out_len = declared;
    return 0;
}

/* Compressed clusters, as QEMU writes them (qemu-img convert -c): raw
 * deflate with a 4 KiB window, or a zstd frame when the header's
 * compression type says so.  Only read: a guest write to a compressed
 * cluster allocates a normal one. */
#include <errno.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2_int.h"

/* A zstd frame asks for its window; a cluster is at most 2 MiB, so a
 * frame wanting more than 4 MiB is hostile, not an image QEMU wrote. */
#define ZSTD_WINDOW_LOG_MAX 22

static int inflate_cluster(const void *in, size_t inlen, void *out, size_t outlen)
{
    z_stream z = {0};
    if (inflateInit2(&z, -12) != Z_OK)
        return -ENOMEM;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)inlen;
    z.next_out = out;
    z.avail_out = (uInt)outlen;
    int r = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    /* The data ends where the cluster is full; the rest of its last
     * sector may be anything (even another cluster's data). */
    if (z.avail_out == 0 && (r == Z_STREAM_END || r == Z_BUF_ERROR || r == Z_OK))
        return 0;
    return -EIO;
}

static int unzstd_cluster(const void *in, size_t inlen, void *out, size_t outlen)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d)
        return -ENOMEM;
    int ret = -EIO;
    if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, ZSTD_WINDOW_LOG_MAX)))
        goto out;
    ZSTD_inBuffer ib = {in, inlen, 0};
    ZSTD_outBuffer ob = {out, outlen, 0};
    while (ob.pos < ob.size) {
        size_t last_in = ib.pos, last_out = ob.pos;
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        if (ZSTD_isError(r))
            goto out;
        if (ib.pos == last_in && ob.pos == last_out)
            goto out;   /* no progress: input exhausted or truncated */
    }
    ret = 0;
out:
    ZSTD_freeDCtx(d);
    return ret;
}

int qcow2_decompress(const struct qcow2 *q, const void *in, size_t inlen, void *out)
{
    if (q->h.compression_type == QCOW2_COMPRESSION_ZSTD)
        return unzstd_cluster(in, inlen, out, q->cs);
    return inflate_cluster(in, inlen, out, q->cs);
}

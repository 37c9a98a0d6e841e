#include "util/iov.h"

#include <stdint.h>
#include <string.h>

size_t iov_copy(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len, bool into_iov)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = iov[i].iov_len - off;
        if (c > len - done)
            c = len - done;
        uint8_t *v = (uint8_t *)iov[i].iov_base + off, *b = (uint8_t *)buf + done;
        memcpy(into_iov ? v : b, into_iov ? b : v, c);
        done += c;
        off = 0;
    }
    return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    return iov_copy(iov, n, off, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    return iov_copy(iov, n, off, (void *)buf, len, true);
}

int iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len, struct iovec *out, unsigned max)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t c = iov[i].iov_len - off;
        if (c > len)
            c = len;
        if (c == 0)
            continue;
        if (k == max)
            return -1;
        out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
        out[k].iov_len = c;
        k++;
        len -= c;
        off = 0;
    }
    return len ? -1 : (int)k;
}

size_t iov_size(const struct iovec *iov, unsigned n)
{
    size_t s = 0;
    for (unsigned i = 0; i < n; i++)
        s += iov[i].iov_len;
    return s;
}

void iov_advance(struct iovec **iov, unsigned *n, size_t bytes)
{
    while (bytes && *n) {
        struct iovec *v = *iov;
        if (bytes >= v->iov_len) {
            bytes -= v->iov_len;
            (*iov)++;
            (*n)--;
        } else {
            v->iov_base = (uint8_t *)v->iov_base + bytes;
            v->iov_len -= bytes;
            bytes = 0;
        }
    }
}

void iov_memset0(const struct iovec *iov, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        memset(iov[i].iov_base, 0, iov[i].iov_len);
}

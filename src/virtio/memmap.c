#include "virtio/memmap.h"

int memmap_add(struct memmap *m, uint64_t gpa, uint64_t size, void *host)
{
    if (m->count == MEMMAP_MAX_REGIONS || size == 0 || gpa + size < gpa || !host)
        return -1;
    for (unsigned i = 0; i < m->count; i++)
        if (gpa < m->r[i].gpa + m->r[i].size && m->r[i].gpa < gpa + size)
            return -1;
    m->r[m->count++] = (struct memmap_region){gpa, size, host};
    return 0;
}

static const struct memmap_region *find(const struct memmap *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->count; i++)
        if (gpa >= m->r[i].gpa && gpa - m->r[i].gpa < m->r[i].size)
            return &m->r[i];
    return NULL;
}

void *memmap_ptr(const struct memmap *m, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < m->count; i++) {
        const struct memmap_region *r = &m->r[i];
        /* Written so that no sum can overflow. */
        if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
            return r->host + (gpa - r->gpa);
    }
    return NULL;
}

int memmap_iov(const struct memmap *m, uint64_t gpa, uint64_t len, struct iovec *iov, unsigned max)
{
    unsigned n = 0;
    while (len) {
        const struct memmap_region *r = find(m, gpa);
        if (!r)
            return -1;
        if (n == max)
            return -2;
        uint64_t off = gpa - r->gpa, chunk = r->size - off;
        if (chunk > len)
            chunk = len;
        iov[n].iov_base = r->host + off;
        iov[n].iov_len = (size_t)chunk;
        n++;
        gpa += chunk;   /* cannot wrap: it stays within a region */
        len -= chunk;
    }
    return (int)n;
}

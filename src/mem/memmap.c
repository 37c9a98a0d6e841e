#include "mem/memmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

static int add_ranges(struct memmap *m, const struct memmap_range *ranges, unsigned n);

static int alloc(struct memmap *m, const struct memmap_range *ranges, unsigned n, bool hugetlb)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        if (total + ranges[i].size < total) {
            errno = EINVAL;
            return -1;
        }
        total += ranges[i].size;
    }
    if (m->count || m->owned || total == 0) {
        errno = EINVAL;
        return -1;
    }
    if (hugetlb) {
        for (unsigned i = 0; i < n; i++)
            if (ranges[i].size % MEMMAP_HUGE_PAGE) {
                errno = EINVAL;
                return -1;
            }
        /* Huge pages come aligned; no MAP_NORESERVE: the kernel reserves
         * them all now, so a short host fails here and not with SIGBUS
         * when the guest first touches the last page. */
        uint8_t *p = mmap(NULL, (size_t)total, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
        if (p == MAP_FAILED)
            return -1;
        m->owned = p;
        m->owned_size = total;
        m->hugetlb = true;
        return add_ranges(m, ranges, n);
    }
    /* 2 MiB-aligned, as QEMU aligns guest RAM (mmap gave 4 KiB alignment
     * on Debian 12's 6.1 kernel): a guest's 2 MiB page is then one
     * host huge page, which KVM maps whole in the nested page tables only
     * when guest-physical and host addresses agree modulo 2 MiB, and a
     * 2 MiB range that free-page reporting or the balloon gives back frees
     * one huge page instead of splitting two.  bench/balloon.sh, one
     * round each: a guest loop that frees and reuses memory ran with
     * free-page reporting on at 0.44 of its speed with it off before this
     * (QEMU 0.65), 0.62 after (QEMU 0.65); a memory-bound loop beside
     * such churn at 0.70 before, 0.94 after (QEMU 0.66, 0.99). */
    if (total > SIZE_MAX - MEMMAP_RAM_ALIGN) {
        errno = ENOMEM;
        return -1;
    }
    /* NORESERVE: the guest only costs what it touches. */
    size_t len = (size_t)total + MEMMAP_RAM_ALIGN;
    uint8_t *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return -1;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + MEMMAP_RAM_ALIGN - 1) & ~(uintptr_t)(MEMMAP_RAM_ALIGN - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (raw + len > p + total)
        munmap(p + total, (size_t)(raw + len - (p + total)));
    /* Huge pages where the host allows them: fewer faults while loading the
     * kernel, and 2 MiB mappings in the nested page tables, as QEMU does. */
    madvise(p, (size_t)total, MADV_HUGEPAGE);
    m->owned = p;
    m->owned_size = total;
    return add_ranges(m, ranges, n);
}

int memmap_alloc(struct memmap *m, const struct memmap_range *ranges, unsigned n)
{
    return alloc(m, ranges, n, false);
}

int memmap_alloc_hugetlb(struct memmap *m, const struct memmap_range *ranges, unsigned n)
{
    return alloc(m, ranges, n, true);
}

static int add_ranges(struct memmap *m, const struct memmap_range *ranges, unsigned n)
{
    uint64_t off = 0;
    for (unsigned i = 0; i < n; i++) {
        if (memmap_add(m, ranges[i].gpa, ranges[i].size, m->owned + off) < 0) {
            memmap_free(m);
            errno = EINVAL;
            return -1;
        }
        off += ranges[i].size;
    }
    return 0;
}

void memmap_free(struct memmap *m)
{
    if (m->owned)
        munmap(m->owned, (size_t)m->owned_size);
    memset(m, 0, sizeof(*m));
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

int64_t memmap_discard(const struct memmap *m, void *host, uint64_t len)
{
    uintptr_t p = (uintptr_t)host;
    const struct memmap_region *r = NULL;
    for (unsigned i = 0; i < m->count && !r; i++) {
        uintptr_t base = (uintptr_t)m->r[i].host;
        if (p >= base && p - base <= m->r[i].size && len <= m->r[i].size - (p - base))
            r = &m->r[i];
    }
    if (!r)
        return -1;
    uintptr_t page = m->hugetlb ? (uintptr_t)MEMMAP_HUGE_PAGE : (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t start = (p + page - 1) & ~(page - 1), end = (p + (uintptr_t)len) & ~(page - 1);
    if (end <= start)
        return 0;
    /* memmap_alloc's RAM is private anonymous memory, which DONTNEED
     * frees; memory shared with another process (a memfd, a file) keeps
     * its pages in the file unless they are punched out with REMOVE. */
    if (!m->owned && madvise((void *)start, end - start, MADV_REMOVE) == 0)
        return (int64_t)(end - start);
    if (madvise((void *)start, end - start, MADV_DONTNEED) < 0)
        return -1;
    return (int64_t)(end - start);
}

/* A number from a sysfs file; -1 when it cannot be read. */
static long long sysfs_number(const char *root, const char *name)
{
    char path[512], buf[32];
    snprintf(path, sizeof(path), "%s/kernel/mm/hugepages/hugepages-2048kB/%s", root, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    char *end;
    long long v = strtoll(buf, &end, 10);
    return end == buf || v < 0 ? -1 : v;
}

int memmap_hugetlb_check(const char *sysfs_root, uint64_t bytes, char *err, size_t errlen)
{
    uint64_t need = (bytes + MEMMAP_HUGE_PAGE - 1) / MEMMAP_HUGE_PAGE;
    long long total = sysfs_number(sysfs_root, "nr_hugepages");
    long long free_ = sysfs_number(sysfs_root, "free_hugepages");
    long long resv = sysfs_number(sysfs_root, "resv_hugepages");
    if (total < 0 || free_ < 0 || resv < 0) {
        snprintf(err, errlen, "this host has no 2 MiB huge pages (%s/kernel/mm/hugepages/hugepages-2048kB is "
                 "missing: a kernel without CONFIG_HUGETLBFS)", sysfs_root);
        return -1;
    }
    /* Free pages already promised to other mappings are not free. */
    uint64_t avail = (uint64_t)(free_ > resv ? free_ - resv : 0);
    if (avail >= need)
        return 0;
    snprintf(err, errlen, "the VM needs %" PRIu64 " huge pages of 2 MiB, the host has %" PRIu64 " free (of %lld "
             "reserved in /proc/sys/vm/nr_hugepages); reserve more, e.g. echo %" PRIu64 " > /proc/sys/vm/nr_hugepages",
             need, avail, total, (uint64_t)total + need - avail);
    return -1;
}

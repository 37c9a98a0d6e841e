#include "vm/setup_report.h"

#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/procfs.h"

int setup_report_measure(const struct memmap *mem, struct setup_report *r)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return -1;
    r->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;

    long page = sysconf(_SC_PAGESIZE);
    unsigned long size_pages, resident_pages, shared_pages;
    char buf[256];
    int fd = procfs_open_self("statm");
    if (fd < 0)
        return -1;
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0)
        return -1;
    buf[len] = 0;
    if (sscanf(buf, "%lu %lu %lu", &size_pages, &resident_pages, &shared_pages) != 3)
        return -1;
    r->rss_kib = (uint64_t)resident_pages * (uint64_t)page / 1024;
    r->file_rss_kib = (uint64_t)shared_pages * (uint64_t)page / 1024;

    /* mincore's vector in pieces: a 64 GiB guest would otherwise need a
     * 16 MiB one at each reading (the control socket's stats).  On the
     * stack, not in thread-local storage: every thread's TLS is zeroed at
     * its start, which made each thread of the process resident in it. */
    enum { CHUNK = 16384 };
    unsigned char vec[CHUNK];
    uint64_t resident = 0;
    for (unsigned k = 0; k < mem->count; k++) {
        const struct memmap_region *reg = &mem->r[k];
        uint64_t pages = (reg->size + (uint64_t)page - 1) / (uint64_t)page;
        for (uint64_t at = 0; at < pages; at += CHUNK) {
            size_t n = pages - at < CHUNK ? (size_t)(pages - at) : CHUNK;
            if (mincore(reg->host + at * (uint64_t)page, n * (size_t)page, vec) < 0)
                break;
            for (size_t i = 0; i < n; i++)
                resident += vec[i] & 1;
        }
    }
    r->guest_rss_kib = resident * (uint64_t)page / 1024;
    return 0;
}

#include "vm/setup_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

int setup_report_measure(const struct guest_mem *mem, struct setup_report *r)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return -1;
    r->cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;

    long page = sysconf(_SC_PAGESIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size_pages, resident_pages;
    if (!f)
        return -1;
    int n = fscanf(f, "%lu %lu", &size_pages, &resident_pages);
    fclose(f);
    if (n != 2)
        return -1;
    r->rss_kib = (uint64_t)resident_pages * (uint64_t)page / 1024;

    size_t pages = (size_t)((mem->size + (uint64_t)page - 1) / (uint64_t)page);
    unsigned char *vec = malloc(pages ? pages : 1);
    if (!vec)
        return -1;
    uint64_t resident = 0;
    if (mincore(mem->host, mem->size, vec) == 0) {
        for (size_t i = 0; i < pages; i++)
            resident += vec[i] & 1;
    }
    free(vec);
    r->guest_rss_kib = resident * (uint64_t)page / 1024;
    return 0;
}

#include "vm/guest_mem.h"

#include <sys/mman.h>

#include "x86/layout.h"

int guest_mem_alloc(struct guest_mem *m, uint64_t size)
{
    /* NORESERVE: the guest only costs what it touches. */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    /* Huge pages where the host allows them: fewer faults while loading the
     * kernel, and 2 MiB mappings in the nested page tables, as QEMU does. */
    madvise(p, size, MADV_HUGEPAGE);
    m->host = p;
    m->size = size;
    m->layout = ram_layout_for(size);
    return 0;
}

void guest_mem_free(struct guest_mem *m)
{
    if (m->host)
        munmap(m->host, m->size);
    m->host = NULL;
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    const struct ram_layout *l = &m->layout;
    if (gpa < l->low_size) {
        if (len > l->low_size - gpa)
            return NULL;
        return m->host + gpa;
    }
    if (gpa >= LAYOUT_HIGH_RAM_START && gpa - LAYOUT_HIGH_RAM_START < l->high_size) {
        uint64_t off = gpa - LAYOUT_HIGH_RAM_START;
        if (len > l->high_size - off)
            return NULL;
        return m->host + l->low_size + off;
    }
    return NULL;
}

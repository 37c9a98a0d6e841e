#include "toolstack/vm_memory.h"

#include <stdio.h>

#include "util/size.h"
#include "virtio/balloon.h"

void vm_memory_init(struct vm_memory *m, const struct vm_config *c)
{
    m->balloon = c->maxmem_mib != 0;
    m->ram_mib = c->maxmem_mib ? c->maxmem_mib : c->memory_mib;
    m->max_mib = m->ram_mib;
    m->target_mib = c->memory_mib;
}

uint64_t vm_memory_balloon_pages(const struct vm_memory *m)
{
    uint64_t t = m->target_mib < m->ram_mib ? m->target_mib : m->ram_mib;
    return (m->ram_mib - t) * (1024 * 1024 / VBALLOON_PAGE_SIZE);
}

static int no_balloon(const struct vm_memory *m, char *err, size_t errlen)
{
    snprintf(err, errlen, "the VM has no balloon: its memory is fixed at %llu MiB (set maxmem in its config to "
             "change it while it runs)", (unsigned long long)m->ram_mib);
    return -1;
}

int vm_memory_set(struct vm_memory *m, uint64_t target_mib, char *err, size_t errlen)
{
    if (!m->balloon)
        return no_balloon(m, err, errlen);
    if (target_mib < VM_MIN_MEMORY_MIB) {
        snprintf(err, errlen, "%llu MiB is too little; expected at least %llu MiB", (unsigned long long)target_mib,
                 (unsigned long long)VM_MIN_MEMORY_MIB);
        return -1;
    }
    if (target_mib > m->max_mib) {
        snprintf(err, errlen, "%llu MiB is more than the VM's maximum, %llu MiB (vireo mem-max raises it up to %llu "
                 "MiB, its maxmem)", (unsigned long long)target_mib, (unsigned long long)m->max_mib,
                 (unsigned long long)m->ram_mib);
        return -1;
    }
    m->target_mib = target_mib;
    return 0;
}

int vm_memory_set_max(struct vm_memory *m, uint64_t max_mib, char *err, size_t errlen)
{
    /* As mem-set: without a balloon there is no maximum to move (README). */
    if (!m->balloon)
        return no_balloon(m, err, errlen);
    if (max_mib > m->ram_mib) {
        snprintf(err, errlen, "%llu MiB is more than the guest's RAM, %llu MiB (%s): vireo does not add RAM to a "
                 "running guest", (unsigned long long)max_mib, (unsigned long long)m->ram_mib,
                 m->balloon ? "its maxmem" : "its memory; maxmem in the config gives room");
        return -1;
    }
    /* libxl refuses a maximum below the current target likewise. */
    if (max_mib < m->target_mib) {
        snprintf(err, errlen, "%llu MiB is less than the VM's target, %llu MiB; expected at least the target "
                 "(vireo mem-set lowers it first)", (unsigned long long)max_mib, (unsigned long long)m->target_mib);
        return -1;
    }
    m->max_mib = max_mib;
    return 0;
}

int vm_memory_parse_mib(const char *s, uint64_t *mib, char *err, size_t errlen)
{
    uint64_t bytes;
    if (!parse_size(s, &bytes)) {
        snprintf(err, errlen, "'%.64s' is not a size; expected MiB or a number with K, M, G or T (512M, 1G)", s);
        return -1;
    }
    if (bytes % (1024 * 1024)) {
        snprintf(err, errlen, "'%.64s' is not a whole number of MiB; expected MiB (512M, 1G)", s);
        return -1;
    }
    *mib = bytes / (1024 * 1024);
    return 0;
}

const char *vm_memory_progress(uint64_t target_pages, uint64_t ballooned_pages, double since_request_s,
                               double since_change_s)
{
    if (target_pages == ballooned_pages)
        return "at target";
    if (since_request_s < VM_MEM_FOLLOW_S || since_change_s < VM_MEM_FOLLOW_S)
        return "moving";
    return "not following";
}

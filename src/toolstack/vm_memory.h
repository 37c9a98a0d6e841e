/* A VM's memory as the toolstack manages it (xl's memory, maxmem,
 * mem-set and mem-max), apart from the VM process so that its arithmetic
 * and refusals are testable alone.  The guest's RAM is fixed when the VM
 * starts (ram_mib: maxmem, else memory); the balloon holds ram - target
 * of it.  max_mib (mem-max) is the most mem-set may ask for, at most ram
 * since RAM is not hot-added. */
#ifndef VIREO_TOOLSTACK_VM_MEMORY_H
#define VIREO_TOOLSTACK_VM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "toolstack/vm_config.h"

/* A guest that has not reached its target this long after the request
 * is reported as not following it (the request stays). */
#define VM_MEM_FOLLOW_S 10

struct vm_memory {
    bool balloon;         /* the VM has a balloon (maxmem set) */
    uint64_t ram_mib;     /* guest RAM */
    uint64_t max_mib;     /* mem-max */
    uint64_t target_mib;  /* mem-set: what the guest should have */
};

/* From the configuration. */
void vm_memory_init(struct vm_memory *m, const struct vm_config *c);
/* 4 KiB balloon pages for the target. */
uint64_t vm_memory_balloon_pages(const struct vm_memory *m);
/* 0 and the new target, or -1 with why in err and m unchanged. */
int vm_memory_set(struct vm_memory *m, uint64_t target_mib, char *err, size_t errlen);
int vm_memory_set_max(struct vm_memory *m, uint64_t max_mib, char *err, size_t errlen);
/* A CLI or wire SIZE (util/size: "512M", "1G", bare MiB) as whole MiB;
 * -1 with why in err. */
int vm_memory_parse_mib(const char *s, uint64_t *mib, char *err, size_t errlen);

/* Where the guest is with its balloon: "at target", "moving" (within
 * VM_MEM_FOLLOW_S of the request, or still changing) or "not following"
 * (the guest has not moved its balloon to the target since). */
const char *vm_memory_progress(uint64_t target_pages, uint64_t ballooned_pages, double since_request_s,
                               double since_change_s);

#endif

/* libFuzzer target: xl.cfg files a user hands to `vireo create`, and the
 * KEY=VALUE overrides after them.  The input up to the first 0xff byte is
 * the file; each further 0xff-separated piece is one override.  Nothing
 * may crash, leak or read out of bounds; every rejection must name its
 * source; whatever is accepted must be within the documented limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "toolstack/vm_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct vm_config *c)
{
    size_t n = strlen(c->name);
    if (!n || n > VM_NAME_MAX || !c->kernel || !*c->kernel || !c->cmdline)
        abort();
    if (c->memory_mib < VM_MIN_MEMORY_MIB || c->memory_mib > VM_MAX_MEMORY_MIB)
        abort();
    if (c->vcpus < 1 || c->vcpus > VM_MAX_VCPUS || c->ndisks > VM_MAX_DISKS || c->nvifs > VM_MAX_NETS)
        abort();
    if (c->ramdisk && !*c->ramdisk)
        abort();
    for (unsigned i = 0; i < c->ndisks; i++) {
        if (!c->disks[i].target || !*c->disks[i].target || !c->disks[i].vdev[0])
            abort();
        for (unsigned j = 0; j < i; j++) {
            if (c->disks[j].index >= c->disks[i].index)   /* sorted, distinct */
                abort();
        }
    }
    for (unsigned i = 0; i < c->nvifs; i++) {
        if (c->vifs[i].has_mac && (c->vifs[i].mac[0] & 1))
            abort();
    }
    if ((c->serial == VM_SERIAL_FILE) != (c->serial_path != NULL) || c->nwarnings > VM_MAX_WARNINGS)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t flen = sep ? (size_t)(sep - data) : size;
    struct vm_config c;
    char err[512] = "";
    if (vm_config_parse(buf, flen, "f", &c, err, sizeof(err)) < 0) {
        if (strncmp(err, "f:", 2))
            abort();   /* every error names the file */
        return 0;
    }
    check(&c);
    size_t p = flen;
    while (p < size) {
        size_t s = p + 1, e = s;
        while (e < size && data[e] != 0xff)
            e++;
        char *ov = strndup(buf + s, e - s);   /* stops at a NUL, as argv would */
        if (!ov)
            break;
        err[0] = 0;
        /* Every error names the override (or, from a rebuild, the file's
         * part: cpus vs vcpus). */
        if (vm_config_override(&c, ov, err, sizeof(err)) < 0 && strncmp(err, "command-line setting '", 22) &&
            strncmp(err, "command line:", 13) && strncmp(err, "f:", 2))
            abort();
        check(&c);
        free(ov);
        p = e;
    }
    vm_config_free(&c);
    return 0;
}

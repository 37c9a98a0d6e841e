/* How a kernel file boots: `vireo run --boot-protocol` and xl.cfg's
 * boot_protocol (vm_kernel.h does the choosing). */
#ifndef VIREO_VM_BOOT_PROTOCOL_H
#define VIREO_VM_BOOT_PROTOCOL_H

#include <stdbool.h>
#include <string.h>

enum vm_boot_protocol {
    VM_BOOT_AUTO,    /* PVH for a vmlinux with the entry, and for a bzImage whose xz payload
                      * decompresses on the host to one (vm_kernel.c says why xz only), else
                      * the 64-bit boot protocol */
    VM_BOOT_PVH,     /* PVH or an error saying why not */
    VM_BOOT_LINUX,   /* the bzImage's 64-bit boot protocol, the guest decompressing itself */
};

#define VM_BOOT_PROTOCOL_WORDS "auto, pvh or linux"

static inline bool vm_boot_protocol_parse(const char *s, enum vm_boot_protocol *out)
{
    static const char *const names[] = {"auto", "pvh", "linux"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i])) {
            *out = (enum vm_boot_protocol)i;
            return true;
        }
    return false;
}

#endif

/* libFuzzer target: any file given as --kernel that starts like an ELF
 * vmlinux, and any bzImage payload.  The ELF parser must accept or refuse
 * without reading out of bounds, an accepted kernel must load into a small
 * guest or be refused with a message; the decompressors must stay within
 * the output bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mem/memmap.h"
#include "x86/e820.h"
#include "x86/elf_kernel.h"
#include "x86/kernel_payload.h"
#include "x86/layout.h"
#include "x86/pvh.h"

#define PAYLOAD_MAX_OUT (4 * MiB)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct memmap mem;
    static struct ram_layout ram;
    if (!mem.count) {
        ram = ram_layout_for(64 * MiB);
        if (ram_layout_map(&ram, &mem, false) < 0)
            abort();
    }
    /* Exactly-sized heap copy so ASan sees any read past the end. */
    uint8_t *img = malloc(size ? size : 1);
    memcpy(img, data, size);
    char err[256] = "";

    if (!elf_kernel_is_elf(img, size)) {
        uint8_t *out;
        uint64_t out_len;
        if (kernel_payload_decompress(img, size, PAYLOAD_MAX_OUT, &out, &out_len, err, sizeof(err)) == 0) {
            if (out_len > PAYLOAD_MAX_OUT)
                abort();
            munmap(out, out_len);
        } else if (!err[0]) {
            abort();
        }
        free(img);
        return 0;
    }

    struct elf_kernel k;
    if (elf_kernel_parse(img, size, &k, err, sizeof(err)) == 0) {
        for (unsigned i = 0; i < k.nseg; i++) {
            const struct elf_segment *s = &k.seg[i];
            if (s->offset > size || s->filesz > size - s->offset || s->filesz > s->memsz ||
                s->paddr < LAYOUT_HIGHMEM_START || s->paddr + s->memsz > 4 * GiB)
                abort();
        }
        struct pvh_boot_cfg cfg = {
            .k = &k, .image = {.data = img, .fd = -1, .len = size}, .has_initrd = size > 0 && (img[size - 1] & 1),
            .initrd = {.data = data, .fd = -1, .len = size}, .cmdline = "console=ttyS0",
            .cmdline_max = PVH_CMDLINE_MAX_DEFAULT, .acpi_rsdp = LAYOUT_ACPI_START,
        };
        struct linux_boot_info info;
        err[0] = 0;
        if (pvh_boot_load(&mem, &ram, &cfg, &info, err, sizeof(err)) == 0) {
            if (info.kernel_end > ram.low_size || !info.pvh)
                abort();
        } else if (!err[0]) {
            abort();
        }
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(img);
    return 0;
}

/* libFuzzer target: any file given as --kernel.  The parser must reject or
 * accept it without reading out of bounds, and an accepted one must load
 * into a small guest or be refused with a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem/memmap.h"
#include "x86/bzimage.h"
#include "x86/e820.h"
#include "x86/layout.h"
#include "x86/linux_boot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct memmap mem;
    static struct ram_layout ram;
    if (!mem.count) {
        ram = ram_layout_for(256 * MiB);
        if (ram_layout_map(&ram, &mem, false) < 0)
            abort();
    }

    /* The first byte splits the input into kernel and initrd. */
    if (size < 1)
        return 0;
    size_t split = data[0] * size / 256;
    const uint8_t *kernel = data + 1;
    size_t kernel_len = size - 1 - split;
    /* Exactly-sized heap copy so ASan sees any read past the end. */
    uint8_t *img = malloc(kernel_len ? kernel_len : 1);
    memcpy(img, kernel, kernel_len);

    struct bzimage bz;
    char err[256];
    if (bzimage_parse(img, kernel_len, kernel_len, &bz, err, sizeof(err)) == 0) {
        if (bz.setup_len > kernel_len || bz.kernel_offset + bz.kernel_len != kernel_len)
            abort();
        struct linux_boot_cfg cfg = {
            .bz = &bz,
            .kernel = {.data = img + bz.kernel_offset, .fd = -1, .len = bz.kernel_len},
            .has_initrd = split > 0,
            .initrd = {.data = data + size - split, .fd = -1, .len = split},
            .cmdline = "console=ttyS0",
        };
        struct linux_boot_info info;
        if (linux_boot_load(&mem, &ram, &cfg, &info, err, sizeof(err)) == 0 &&
            info.kernel_end > ram.low_size)
            abort();
    } else if (!err[0]) {
        abort(); /* every refusal says why */
    }
    free(img);
    return 0;
}

/* mk_reset_kernel FILE: writes a bzImage whose 64-bit entry resets the
 * machine at once through the i8042 (out 0xFE to port 0x64).  The
 * toolstack's restart-loop case boots it: a real kernel takes tens of
 * seconds per boot under the test host's emulation, so "10 restarts in
 * 60 s" could only be reached on an idle machine; this guest reboots in
 * microseconds wherever it runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_bzimage.h"

#define PAYLOAD 4096
#define ENTRY64 0x200      /* the 64-bit entry: the protected-mode kernel's start + 0x200 */

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 2;
    }
    static uint8_t img[FAKE_SETUP_LEN + PAYLOAD];
    fake_bzimage(img, sizeof(img), 0x200000, 0x7FFFFFFF);
    static const uint8_t reset[] = {
        0xB0, 0xFE,        /* mov al, 0xfe */
        0xE6, 0x64,        /* out 0x64, al: pulse the reset line */
        0xF4,              /* hlt */
        0xEB, 0xFD,        /* jmp back to hlt */
    };
    memcpy(img + FAKE_SETUP_LEN + ENTRY64, reset, sizeof(reset));
    FILE *f = fopen(argv[1], "wb");
    if (!f || fwrite(img, sizeof(img), 1, f) != 1 || fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    return 0;
}

#include "devices/i8042.h"

#include <string.h>

#define I8042_CMD_OFFSET   4
#define I8042_CMD_RESET    0xFE

void i8042_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct i8042 *k = opaque;
    if (!is_write) {
        /* Status 0: output buffer empty, input buffer empty, so a reset
         * loop waiting for "ready" proceeds at once. */
        memset(data, 0, size);
        return;
    }
    if (offset == I8042_CMD_OFFSET && data[0] == I8042_CMD_RESET)
        machine_event(&k->machine, MACHINE_RESET, "keyboard controller reset (0xFE)");
}

/* Just enough of the PS/2 controller for the guest's "pulse reset line"
 * reboot (command 0xFE); no keyboard or mouse behind it. */
#ifndef VIREO_DEVICES_I8042_H
#define VIREO_DEVICES_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

struct i8042 {
    struct machine_ctl machine;
};

/* io_bus handler for ports 0x60..0x64 (offset 0 = data, 4 = command). */
void i8042_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

#endif

#include "devices/io_bus.h"

#include <string.h>

int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
                    io_handler_fn fn, void *opaque)
{
    if (len == 0 || base + len < base || bus->count == IO_BUS_MAX_RANGES)
        return -1;
    for (unsigned i = 0; i < bus->count; i++) {
        const struct io_range *r = &bus->ranges[i];
        if (base < r->base + r->len && r->base < base + len)
            return -1;
    }
    bus->ranges[bus->count++] = (struct io_range){base, len, fn, opaque};
    return 0;
}

bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data,
                   unsigned size, bool is_write)
{
    for (unsigned i = 0; i < bus->count; i++) {
        const struct io_range *r = &bus->ranges[i];
        /* The whole access must fall inside one device's range. */
        if (addr >= r->base && addr - r->base < r->len && size <= r->len - (addr - r->base)) {
            r->fn(r->opaque, addr - r->base, data, size, is_write);
            return true;
        }
    }
    if (!is_write)
        memset(data, 0xFF, size);
    return false;
}

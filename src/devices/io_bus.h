/* Address-range dispatch for port I/O and MMIO exits.  Devices register
 * before the vCPUs start; afterwards the table is read-only, so lookups take
 * no lock (each device serialises its own state). */
#ifndef VIREO_DEVICES_IO_BUS_H
#define VIREO_DEVICES_IO_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* offset is relative to the range's base; size is 1, 2, 4 or 8.  On reads
 * the handler fills data[0..size). */
typedef void (*io_handler_fn)(void *opaque, uint64_t offset, uint8_t *data,
                              unsigned size, bool is_write);

struct io_range {
    uint64_t base;
    uint64_t len;
    io_handler_fn fn;
    void *opaque;
};

#define IO_BUS_MAX_RANGES 32

struct io_bus {
    const char *name;
    unsigned count;
    struct io_range ranges[IO_BUS_MAX_RANGES];
};

/* Fails (-1) on overlap or a full table: a wiring bug, reported by caller. */
int io_bus_register(struct io_bus *bus, uint64_t base, uint64_t len,
                    io_handler_fn fn, void *opaque);

/* Returns false when nothing claims [addr, addr+size); reads then see all
 * ones, as on a real bus with no device answering. */
bool io_bus_access(const struct io_bus *bus, uint64_t addr, uint8_t *data,
                   unsigned size, bool is_write);

#endif

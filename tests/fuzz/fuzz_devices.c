/* libFuzzer target: a hostile guest poking the platform devices.  Each
 * 8-byte record is one port or MMIO access: which device range, offset,
 * size, direction and value.  Nothing may crash, read or write out of
 * bounds, or hang. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/pci.h"
#include "devices/rtc_cmos.h"
#include "devices/serial.h"
#include "x86/layout.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void no_irq(void *ctx, unsigned gsi, bool level) { (void)ctx; (void)gsi; (void)level; }
static int events;
static void on_event(void *ctx, enum machine_event ev, const char *why)
{
    (void)ctx;
    (void)ev;
    if (!why || !why[0])
        __builtin_trap();
    events++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct serial serial;
    static struct i8042 kbd;
    static struct rtc_cmos rtc;
    static struct acpi_pm pm;
    static struct pci_bus pci;
    static struct pci_device bridge;
    struct io_bus pio, mmio;
    memset(&pio, 0, sizeof(pio));
    memset(&mmio, 0, sizeof(mmio));

    struct machine_ctl machine = {.event = on_event};
    serial_init(&serial, (struct irq_line){no_irq, NULL, IRQ_COM1}, -1);
    kbd.machine = machine;
    rtc_cmos_init(&rtc);
    acpi_pm_init(&pm, (struct irq_line){no_irq, NULL, IRQ_ACPI_SCI}, machine);
    pci_bus_init(&pci, machine);
    pci_host_bridge_init(&bridge);
    pci_bus_register(&pci, 0, &bridge);
    io_bus_register(&pio, PORT_COM1, 8, serial_io, &serial);
    io_bus_register(&pio, PORT_I8042_DATA, 5, i8042_io, &kbd);
    io_bus_register(&pio, PORT_RTC_INDEX, 2, rtc_cmos_io, &rtc);
    io_bus_register(&pio, PORT_ACPI_PM1A_EVT, ACPI_PM_IO_LEN, acpi_pm_io, &pm);
    io_bus_register(&pio, PORT_PCI_CONFIG_ADDR, 8, pci_cfg_port_io, &pci);
    io_bus_register(&mmio, LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, pci_ecam_io, &pci);

    static const uint64_t bases[] = {PORT_COM1, PORT_I8042_DATA, PORT_RTC_INDEX,
                                     PORT_ACPI_PM1A_EVT, PORT_PCI_CONFIG_ADDR, LAYOUT_ECAM_BASE, 0};
    static const unsigned sizes[] = {1, 2, 4, 8};
    for (size_t i = 0; i + 8 <= size; i += 8) {
        const uint8_t *r = data + i;
        unsigned which = r[0] % 7;
        bool is_write = r[0] & 0x80;
        unsigned len = sizes[r[1] & 3];
        /* Offsets reach a little past each range, and anywhere in ECAM. */
        uint64_t off = which == 5 ? ((uint64_t)r[2] << 12 | (uint64_t)r[3] << 4 | (r[1] >> 4))
                                  : (uint64_t)(r[2] % 16);
        uint64_t addr = which == 6 ? ((uint64_t)r[2] << 8 | r[3]) : bases[which] + off;
        uint8_t buf[8];
        memcpy(buf, r + 4, 4);
        memcpy(buf + 4, r + 4, 4);
        if (which == 5 || (which == 6 && (r[1] & 0x40)))
            io_bus_access(&mmio, which == 6 ? LAYOUT_ECAM_BASE + addr * 16 : addr, buf, len, is_write);
        else
            io_bus_access(&pio, addr, buf, len > 4 ? 4 : len, is_write);
        if (r[1] & 0x20)
            acpi_pm_power_button(&pm);
        if (r[1] & 0x10) {
            uint8_t in[3] = {r[5], r[6], r[7]};
            serial_rx_push(&serial, in, sizeof(in));
        }
    }
    serial_destroy(&serial);
    return 0;
}

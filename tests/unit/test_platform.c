/* The small platform devices: ACPI PM1 (power button, SCI, S5), PCI
 * config space through 0xCF8/0xCFC and ECAM, the 0xCF9 and i8042 resets,
 * the CMOS RTC, and the I/O bus dispatch in front of them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/pci.h"
#include "devices/rtc_cmos.h"
#include "x86/layout.h"

static int sci = -1;
static int poweroffs, resets;

static void set_sci(void *ctx, unsigned gsi, bool level)
{
    (void)ctx;
    assert_int_equal(gsi, IRQ_ACPI_SCI);
    sci = level;
}

static void on_event(void *ctx, enum machine_event ev, const char *why)
{
    (void)ctx;
    assert_non_null(why);
    if (ev == MACHINE_POWEROFF)
        poweroffs++;
    else
        resets++;
}

static const struct machine_ctl machine = {.event = on_event};

static uint32_t io_read(void (*fn)(void *, uint64_t, uint8_t *, unsigned, bool), void *dev,
                        uint64_t off, unsigned size)
{
    uint8_t b[4] = {0};
    fn(dev, off, b, size, false);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void io_write(void (*fn)(void *, uint64_t, uint8_t *, unsigned, bool), void *dev,
                     uint64_t off, unsigned size, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fn(dev, off, b, size, true);
}

static void acpi_power_button_and_s5(void **state)
{
    (void)state;
    struct acpi_pm pm;
    poweroffs = resets = 0;
    sci = -1;
    acpi_pm_init(&pm, (struct irq_line){set_sci, NULL, IRQ_ACPI_SCI}, machine);
    assert_int_equal(io_read(acpi_pm_io, &pm, 4, 2) & 1, 1); /* SCI_EN: born in ACPI mode */

    /* A press while the guest has not enabled the event: status, no SCI. */
    acpi_pm_power_button(&pm);
    assert_int_equal(io_read(acpi_pm_io, &pm, 0, 2) & 0x100, 0x100);
    assert_int_not_equal(sci, 1);
    /* Enabling PWRBTN_EN raises the SCI for the pending press ... */
    io_write(acpi_pm_io, &pm, 2, 2, 0x100);
    assert_int_equal(sci, 1);
    /* ... writing 1 to the status bit clears it and drops the SCI. */
    io_write(acpi_pm_io, &pm, 0, 2, 0x100);
    assert_int_equal(io_read(acpi_pm_io, &pm, 0, 2) & 0x100, 0);
    assert_int_equal(sci, 0);
    /* 32-bit access across status and enable works too. */
    acpi_pm_power_button(&pm);
    assert_int_equal(io_read(acpi_pm_io, &pm, 0, 4), 0x01000100);

    /* Sleep states other than S5 are ignored; S5 powers off. */
    io_write(acpi_pm_io, &pm, 4, 2, (3 << 10) | 0x2000);
    assert_int_equal(poweroffs, 0);
    io_write(acpi_pm_io, &pm, 4, 2, (ACPI_S5_SLP_TYP << 10) | 0x2000);
    assert_int_equal(poweroffs, 1);
    /* SLP_EN reads back as 0. */
    assert_int_equal(io_read(acpi_pm_io, &pm, 4, 2) & 0x2000, 0);
}

static uint32_t cf8_read(struct pci_bus *bus, unsigned slot, unsigned reg, unsigned size)
{
    io_write(pci_cfg_port_io, bus, 0, 4, 0x80000000u | slot << 11 | (reg & 0xFC));
    return io_read(pci_cfg_port_io, bus, 4 + (reg & 3), size);
}

static void pci_config_space(void **state)
{
    (void)state;
    struct pci_bus bus;
    static struct pci_device bridge, dev;
    resets = 0;
    pci_bus_init(&bus, machine);
    pci_host_bridge_init(&bridge);
    assert_int_equal(pci_bus_register(&bus, 0, &bridge), 0);
    assert_int_equal(pci_bus_register(&bus, 0, &bridge), -1);
    assert_int_equal(pci_bus_register(&bus, PCI_SLOTS, &bridge), -1);

    assert_int_equal(cf8_read(&bus, 0, 0, 4), 0x0D578086);
    assert_int_equal(cf8_read(&bus, 0, 0x0A, 2), 0x0600);   /* class: host bridge */
    assert_int_equal(cf8_read(&bus, 0, 0x0B, 1), 0x06);
    assert_int_equal(cf8_read(&bus, 5, 0, 4), 0xFFFFFFFF);  /* empty slot */
    /* Config address without the enable bit reads nothing. */
    io_write(pci_cfg_port_io, &bus, 0, 4, 0);
    assert_int_equal(io_read(pci_cfg_port_io, &bus, 4, 4), 0xFFFFFFFF);
    /* The address register reads back. */
    io_write(pci_cfg_port_io, &bus, 0, 4, 0x80001234);
    assert_int_equal(io_read(pci_cfg_port_io, &bus, 0, 4), 0x80001234);

    /* ECAM sees the same device; vendor/device ID is read-only. */
    uint64_t ecam0 = 0;
    assert_int_equal(io_read(pci_ecam_io, &bus, ecam0, 4), 0x0D578086);
    io_write(pci_ecam_io, &bus, 0, 4, 0x12345678);
    assert_int_equal(io_read(pci_ecam_io, &bus, 0, 4), 0x0D578086);
    /* Unaligned ECAM access is refused. */
    assert_int_equal(io_read(pci_ecam_io, &bus, 1, 2), 0xFFFF);

    /* A BAR sized through its write mask, as a device model would set it. */
    pci_device_init(&dev, 0x1AF4, 0x1042, 0x01, 0x00, 0x00);
    memset(&dev.wmask[0x10], 0, 4);
    dev.wmask[0x11] = 0xF0;                  /* 4 KiB memory BAR */
    dev.wmask[0x12] = dev.wmask[0x13] = 0xFF;
    assert_int_equal(pci_bus_register(&bus, 3, &dev), 0);
    io_write(pci_ecam_io, &bus, 3 << 15 | 0x10, 4, 0xFFFFFFFF);
    assert_int_equal(io_read(pci_ecam_io, &bus, 3 << 15 | 0x10, 4), 0xFFFFF000);
    io_write(pci_ecam_io, &bus, 3 << 15 | 0x10, 4, 0xC0001000);
    assert_int_equal(cf8_read(&bus, 3, 0x10, 4), 0xC0001000);

    /* 0xCF9: bit 2 resets, other values do nothing. */
    io_write(pci_cfg_port_io, &bus, 1, 1, 0x02);
    assert_int_equal(resets, 0);
    io_write(pci_cfg_port_io, &bus, 1, 1, RESET_CONTROL_VALUE);
    assert_int_equal(resets, 1);
}

static void i8042_reset(void **state)
{
    (void)state;
    struct i8042 k = {.machine = machine};
    resets = 0;
    assert_int_equal(io_read(i8042_io, &k, 4, 1), 0); /* ready for a command */
    io_write(i8042_io, &k, 4, 1, 0xAD);
    io_write(i8042_io, &k, 0, 1, 0xFE);                 /* data port: not a command */
    assert_int_equal(resets, 0);
    io_write(i8042_io, &k, 4, 1, 0xFE);
    assert_int_equal(resets, 1);
}

static unsigned from_bcd(uint32_t v) { return (v >> 4) * 10 + (v & 15); }

static void rtc_reads_host_time(void **state)
{
    (void)state;
    struct rtc_cmos r;
    rtc_cmos_init(&r);
    time_t before = time(NULL);
    io_write(rtc_cmos_io, &r, 0, 1, 0x80 | 0x09);  /* NMI-mask bit is not part of the index */
    unsigned year = from_bcd(io_read(rtc_cmos_io, &r, 1, 1));
    io_write(rtc_cmos_io, &r, 0, 1, RTC_REG_CENTURY);
    unsigned century = from_bcd(io_read(rtc_cmos_io, &r, 1, 1));
    struct tm tm;
    gmtime_r(&before, &tm);
    assert_int_equal(century * 100 + year, tm.tm_year + 1900);
    io_write(rtc_cmos_io, &r, 0, 1, 0x0D);
    assert_int_equal(io_read(rtc_cmos_io, &r, 1, 1), 0x80); /* valid RAM and time */
    io_write(rtc_cmos_io, &r, 0, 1, 0x0A);
    assert_int_equal(io_read(rtc_cmos_io, &r, 1, 1) & 0x80, 0); /* never "update in progress" */
    /* Free CMOS bytes keep what the guest stores; the clock ignores writes. */
    io_write(rtc_cmos_io, &r, 0, 1, 0x40);
    io_write(rtc_cmos_io, &r, 1, 1, 0x5A);
    assert_int_equal(io_read(rtc_cmos_io, &r, 1, 1), 0x5A);
}

static void noop(void *o, uint64_t off, uint8_t *d, unsigned s, bool w)
{
    (void)o; (void)off; (void)s; (void)w;
    d[0] = 0x42;
}

static void io_bus_dispatch(void **state)
{
    (void)state;
    struct io_bus bus;
    memset(&bus, 0, sizeof(bus));
    assert_int_equal(io_bus_register(&bus, 0x100, 8, noop, NULL), 0);
    assert_int_equal(io_bus_register(&bus, 0x104, 8, noop, NULL), -1);  /* overlap */
    assert_int_equal(io_bus_register(&bus, UINT64_MAX - 2, 8, noop, NULL), -1); /* wraps */
    assert_int_equal(io_bus_register(&bus, 0x200, 0, noop, NULL), -1);
    uint8_t d[4] = {0};
    assert_true(io_bus_access(&bus, 0x107, d, 1, false));
    assert_int_equal(d[0], 0x42);
    /* Straddling the end of a range is nobody's access: reads all ones. */
    assert_false(io_bus_access(&bus, 0x107, d, 2, false));
    assert_int_equal(d[0], 0xFF);
    assert_false(io_bus_access(&bus, 0xFF, d, 4, false));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acpi_power_button_and_s5),
        cmocka_unit_test(pci_config_space),
        cmocka_unit_test(i8042_reset),
        cmocka_unit_test(rtc_reads_host_time),
        cmocka_unit_test(io_bus_dispatch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

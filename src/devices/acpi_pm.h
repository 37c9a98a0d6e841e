/* ACPI fixed-hardware PM1a event and control blocks: the power button, the
 * SCI, and S5 (soft off) entry. */
#ifndef VIREO_DEVICES_ACPI_PM_H
#define VIREO_DEVICES_ACPI_PM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/device.h"

#define ACPI_PM_IO_LEN 6  /* PM1a_EVT (4 bytes) then PM1a_CNT (2 bytes) */

struct acpi_pm {
    pthread_mutex_t lock;
    struct irq_line sci;
    struct machine_ctl machine;
    uint16_t sts, en, cnt;
    bool sci_level;
};

void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, struct machine_ctl machine);
/* io_bus handler for PORT_ACPI_PM1A_EVT .. +ACPI_PM_IO_LEN. */
void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);
/* Presses the fixed-feature power button (PWRBTN_STS), as a person would. */
void acpi_pm_power_button(struct acpi_pm *pm);

#endif

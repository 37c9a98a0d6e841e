#include "devices/acpi_pm.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "x86/layout.h"

#define PM1_TMR_STS     0x0001
#define PM1_PWRBTN_STS  0x0100
#define PM1_WAK_STS     0x8000
#define PM1_STS_MASK    (PM1_TMR_STS | 0x0020 | 0x0100 | 0x0200 | 0x0400 | PM1_WAK_STS)
#define PM1_EN_MASK     (0x0001 | 0x0020 | 0x0100 | 0x0200 | 0x0400)
#define PM1_CNT_SCI_EN  0x0001
#define PM1_CNT_SLP_EN  0x2000
#define PM1_CNT_SLP_TYP_SHIFT 10
#define PM1_CNT_SLP_TYP_MASK  0x7

void acpi_pm_init(struct acpi_pm *pm, struct irq_line sci, struct machine_ctl machine)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->sci = sci;
    pm->machine = machine;
    /* No SMI_CMD: the machine is born in ACPI mode, so SCI_EN reads as set. */
    pm->cnt = PM1_CNT_SCI_EN;
}

static void update_sci_locked(struct acpi_pm *pm)
{
    bool level = (pm->sts & pm->en) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        irq_line_set(&pm->sci, level);
    }
}

/* The 6 bytes as one little register file, so any access width works. */
static uint8_t get_byte(const struct acpi_pm *pm, unsigned off)
{
    uint16_t reg = off < 2 ? pm->sts : off < 4 ? pm->en : pm->cnt;
    return (uint8_t)(reg >> ((off & 1) * 8));
}

void acpi_pm_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct acpi_pm *pm = opaque;
    bool sleep = false;
    unsigned slp_typ = 0;

    pthread_mutex_lock(&pm->lock);
    for (unsigned i = 0; i < size; i++) {
        unsigned off = (unsigned)offset + i;
        if (off >= ACPI_PM_IO_LEN) {
            if (!is_write)
                data[i] = 0xFF;
            continue;
        }
        if (!is_write) {
            data[i] = get_byte(pm, off);
            continue;
        }
        uint16_t v = (uint16_t)(data[i] << ((off & 1) * 8));
        uint16_t keep = (uint16_t)(0xFF00 >> ((off & 1) * 8));
        if (off < 2) {
            pm->sts &= (uint16_t)~(v & PM1_STS_MASK);  /* write 1 to clear */
        } else if (off < 4) {
            pm->en = (uint16_t)((pm->en & keep) | (v & PM1_EN_MASK));
        } else {
            uint16_t cnt = (uint16_t)((pm->cnt & keep) | v);
            if (cnt & PM1_CNT_SLP_EN) {
                sleep = true;
                slp_typ = (cnt >> PM1_CNT_SLP_TYP_SHIFT) & PM1_CNT_SLP_TYP_MASK;
            }
            /* SLP_EN is write-only; SCI_EN stays set. */
            pm->cnt = (uint16_t)((cnt & ~PM1_CNT_SLP_EN) | PM1_CNT_SCI_EN);
        }
    }
    if (is_write)
        update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);

    if (sleep) {
        if (slp_typ == ACPI_S5_SLP_TYP)
            machine_event(&pm->machine, MACHINE_POWEROFF, "ACPI S5 (soft off)");
        else
            vlog_debug("acpi: ignoring sleep request with SLP_TYP %u (only S5 is offered)", slp_typ);
    }
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    pm->sts |= PM1_PWRBTN_STS;
    update_sci_locked(pm);
    pthread_mutex_unlock(&pm->lock);
}

/* What a device model may ask of the machine around it.  Kept as callbacks
 * so the models build and unit-test without a VM. */
#ifndef VIREO_DEVICES_DEVICE_H
#define VIREO_DEVICES_DEVICE_H

#include <stdbool.h>

struct irq_line {
    void (*set)(void *ctx, unsigned gsi, bool level);
    void *ctx;
    unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *l, bool level)
{
    if (l->set)
        l->set(l->ctx, l->gsi, level);
}

enum machine_event {
    MACHINE_POWEROFF,
    MACHINE_RESET,
};

struct machine_ctl {
    void (*event)(void *ctx, enum machine_event ev, const char *why);
    void *ctx;
};

static inline void machine_event(const struct machine_ctl *m, enum machine_event ev, const char *why)
{
    if (m->event)
        m->event(m->ctx, ev, why);
}

#endif

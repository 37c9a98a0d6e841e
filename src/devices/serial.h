/* 16550A UART (COM1): transmit goes to a file descriptor, receive comes
 * from serial_rx_push(). */
#ifndef VIREO_DEVICES_SERIAL_H
#define VIREO_DEVICES_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/device.h"

#define SERIAL_RX_FIFO 64

struct serial {
    pthread_mutex_t lock;
    struct irq_line irq;
    int out_fd;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thr_int_pending;  /* THR became empty and the guest has not seen it yet */
    bool overrun;
    bool irq_level;
    uint8_t rx[SERIAL_RX_FIFO];
    unsigned rx_head, rx_count;
};

void serial_init(struct serial *s, struct irq_line irq, int out_fd);
void serial_destroy(struct serial *s);

/* io_bus handler for the 8 ports at the UART's base. */
void serial_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write);

/* Queues host input for the guest; returns how many bytes fit. */
size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len);

#endif

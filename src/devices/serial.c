#include "devices/serial.h"

#include <string.h>
#include <unistd.h>

/* Register offsets and bits, named as in the 16550 data sheet. */
enum { REG_RBR_THR = 0, REG_IER = 1, REG_IIR_FCR = 2, REG_LCR = 3, REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7 };
#define IER_RDI  0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_RLSI 0x06
#define IIR_FIFO 0xC0
#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR   0x01
#define LSR_OE   0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_CTS  0x10
#define MSR_DSR  0x20
#define MSR_RI   0x40
#define MSR_DCD  0x80

void serial_init(struct serial *s, struct irq_line irq, int out_fd)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->irq = irq;
    s->out_fd = out_fd;
    s->mcr = MCR_OUT2;
    s->dll = 12; /* 9600 baud, as firmware leaves it */
}

void serial_destroy(struct serial *s)
{
    pthread_mutex_destroy(&s->lock);
}

static uint8_t iir_locked(const struct serial *s)
{
    if ((s->ier & IER_RLSI) && s->overrun)
        return IIR_RLSI;
    if ((s->ier & IER_RDI) && s->rx_count)
        return IIR_RDI;
    if ((s->ier & IER_THRI) && s->thr_int_pending)
        return IIR_THRI;
    return IIR_NONE;
}

/* The line mirrors "an interrupt is pending", as a level: the 8250 driver's
 * handler loops until IIR says none, so no edge is ever lost. */
static void update_irq_locked(struct serial *s)
{
    bool level = iir_locked(s) != IIR_NONE;
    if (level != s->irq_level) {
        s->irq_level = level;
        irq_line_set(&s->irq, level);
    }
}

static void rx_put_locked(struct serial *s, uint8_t c)
{
    if (s->rx_count == SERIAL_RX_FIFO) {
        s->overrun = true;
        return;
    }
    s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_FIFO] = c;
    s->rx_count++;
}

/* Returns true when c must go out to out_fd (done after unlocking). */
static bool transmit_locked(struct serial *s, uint8_t c)
{
    s->thr_int_pending = true;
    if (s->mcr & MCR_LOOP) {
        rx_put_locked(s, c);
        return false;
    }
    return s->out_fd >= 0;
}

/* Outside the lock: a console reader that stalls may hold this vCPU back,
 * as a real UART's flow control would, but must not block the main thread
 * (console input) or other vCPUs.  A signal here is the stop kick, so the
 * byte is dropped rather than retried; so is output nobody reads. */
static void emit(const struct serial *s, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(s->out_fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static uint8_t msr_locked(const struct serial *s)
{
    if (s->mcr & MCR_LOOP) {
        /* Loopback wires the modem outputs back to the inputs; Linux's
         * probe checks exactly this. */
        uint8_t m = 0;
        if (s->mcr & MCR_RTS) m |= MSR_CTS;
        if (s->mcr & MCR_DTR) m |= MSR_DSR;
        if (s->mcr & MCR_OUT1) m |= MSR_RI;
        if (s->mcr & MCR_OUT2) m |= MSR_DCD;
        return m;
    }
    return MSR_DCD | MSR_DSR | MSR_CTS;
}

static uint8_t reg_read_locked(struct serial *s, unsigned reg)
{
    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB)
            return s->dll;
        if (s->rx_count) {
            uint8_t c = s->rx[s->rx_head];
            s->rx_head = (s->rx_head + 1) % SERIAL_RX_FIFO;
            s->rx_count--;
            return c;
        }
        return 0;
    case REG_IER:
        return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
    case REG_IIR_FCR: {
        uint8_t iir = iir_locked(s);
        /* Reading IIR acknowledges a THR-empty interrupt. */
        if (iir == IIR_THRI)
            s->thr_int_pending = false;
        return iir | ((s->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
    }
    case REG_LCR:
        return s->lcr;
    case REG_MCR:
        return s->mcr;
    case REG_LSR: {
        uint8_t lsr = LSR_THRE | LSR_TEMT;
        if (s->rx_count)
            lsr |= LSR_DR;
        if (s->overrun)
            lsr |= LSR_OE;
        s->overrun = false;
        return lsr;
    }
    case REG_MSR:
        return msr_locked(s);
    default:
        return s->scr;
    }
}

/* Returns true when v was transmitted to the outside. */
static bool reg_write_locked(struct serial *s, unsigned reg, uint8_t v)
{
    switch (reg) {
    case REG_RBR_THR:
        if (s->lcr & LCR_DLAB) {
            s->dll = v;
            break;
        }
        return transmit_locked(s, v);
    case REG_IER:
        if (s->lcr & LCR_DLAB) {
            s->dlm = v;
        } else {
            /* Enabling THRI while THR is empty raises it at once, as the
             * hardware does; Linux's THRE probe relies on it. */
            if ((v & IER_THRI) && !(s->ier & IER_THRI))
                s->thr_int_pending = true;
            s->ier = v & 0x0F;
        }
        break;
    case REG_IIR_FCR:
        s->fcr = v & (FCR_ENABLE | 0xC0);
        if (v & FCR_CLEAR_RX) {
            s->rx_head = 0;
            s->rx_count = 0;
        }
        break;
    case REG_LCR:
        s->lcr = v;
        break;
    case REG_MCR:
        s->mcr = v & 0x1F;
        break;
    case REG_SCR:
        s->scr = v;
        break;
    default: /* LSR and MSR are read-only */
        break;
    }
    return false;
}

void serial_io(void *opaque, uint64_t offset, uint8_t *data, unsigned size, bool is_write)
{
    struct serial *s = opaque;
    uint8_t out[8];
    size_t nout = 0;
    pthread_mutex_lock(&s->lock);
    /* Wider accesses act on consecutive registers, byte by byte. */
    for (unsigned i = 0; i < size && i < sizeof(out); i++) {
        unsigned reg = (unsigned)((offset + i) & 7);
        if (is_write) {
            if (reg_write_locked(s, reg, data[i]))
                out[nout++] = data[i];
        } else {
            data[i] = reg_read_locked(s, reg);
        }
    }
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
    if (nout)
        emit(s, out, nout);
}

size_t serial_rx_push(struct serial *s, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&s->lock);
    size_t n = 0;
    /* In loopback the guest does not listen to the outside line. */
    if (!(s->mcr & MCR_LOOP)) {
        while (n < len && s->rx_count < SERIAL_RX_FIFO)
            rx_put_locked(s, buf[n++]);
    }
    update_irq_locked(s);
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* The host side of the serial console of `vireo run`: the terminal in raw
 * mode while the guest runs, the Ctrl-A escape (Ctrl-A x quits, Ctrl-A
 * Ctrl-A sends a literal Ctrl-A) as QEMU's -nographic console has it, and
 * the pump that feeds the host's input to the guest's console (the UART,
 * or the virtio console: vm_console_input) on the caller's loop. */
#ifndef VIREO_VM_CONSOLE_H
#define VIREO_VM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "eventloop/event_loop.h"

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */
#define CONSOLE_CHUNK  256

struct console {
    int fd;
    bool raw;
    bool readable;   /* false for a terminal we do not own (started with &) */
    bool escape_seen;
    struct termios saved;

    /* The input pump (console_input_start). */
    struct event_loop *loop;
    size_t (*push)(void *sink, const uint8_t *buf, size_t len);
    void *sink;
    void (*quit)(void *opaque);
    void *opaque;
    uint8_t in[CONSOLE_CHUNK], pending[CONSOLE_CHUNK + 1];
    size_t pending_len, pending_off;
    bool open;       /* input may still come */
    bool watched;
    bool pollable;   /* epoll refuses regular files and /dev/null */
    int timer_fd;    /* retries while the guest's receive side is full */
    struct el_watch w_in, w_timer;
};

/* Raw mode only when fd is a terminal and we are its foreground process
 * group: touching a terminal from the background would stop us (SIGTTOU,
 * SIGTTIN), so there we leave it alone and read no input. */
void console_open(struct console *c, int fd);
void console_restore(struct console *c);

/* Strips escape sequences from in[0..n) into out (at least n bytes, plus
 * one); returns the bytes for the guest and sets *quit on Ctrl-A x. */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

/* Feeds the console's input to the guest through push(sink, ...) (which
 * returns how much the guest took: vm_console_input) from loop (whose owner calls this),
 * in order and no faster than the guest reads it; quit(opaque) on Ctrl-A
 * x.  Input that ends leaves the guest running without it.  -1 with errno
 * when the loop refuses the watches. */
int console_input_start(struct console *c, struct event_loop *loop,
                        size_t (*push)(void *sink, const uint8_t *buf, size_t len), void *sink,
                        void (*quit)(void *opaque), void *opaque);
void console_input_stop(struct console *c);

#endif

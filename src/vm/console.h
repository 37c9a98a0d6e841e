/* The host side of the serial console: the terminal in raw mode while the
 * guest runs, and the Ctrl-A escape (Ctrl-A x quits, Ctrl-A Ctrl-A sends a
 * literal Ctrl-A), as QEMU's -nographic console has it. */
#ifndef VIREO_VM_CONSOLE_H
#define VIREO_VM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#define CONSOLE_ESCAPE 0x01 /* Ctrl-A */

struct console {
    int fd;
    bool raw;
    bool readable;   /* false for a terminal we do not own (started with &) */
    bool escape_seen;
    struct termios saved;
};

/* Raw mode only when fd is a terminal and we are its foreground process
 * group: touching a terminal from the background would stop us (SIGTTOU,
 * SIGTTIN), so there we leave it alone and read no input. */
void console_open(struct console *c, int fd);
void console_restore(struct console *c);

/* Strips escape sequences from in[0..n) into out (at least n bytes, plus
 * one); returns the bytes for the guest and sets *quit on Ctrl-A x. */
size_t console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, bool *quit);

#endif

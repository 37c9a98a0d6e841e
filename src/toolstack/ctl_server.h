/* The VM process's control socket: one JSON object per line each way.
 * A request is {"cmd": NAME, ...}; the reply {"ok": true, ...} or
 * {"ok": false, "error": "..."}.  Two requests change the connection:
 *   "console": after the ok reply the connection carries raw bytes, the
 *              buffered console output first, then the guest's output
 *              live; bytes sent go to the guest's serial port.  One
 *              console client at a time.
 *   "wait":    the reply comes when the guest stops (power-off, reboot,
 *              crash, destroy), as {"ok":true,"event":"stopped",...}.
 * Only the socket's owner (or root) may connect: the directory is 0700,
 * the socket 0600, and each peer's uid is checked (SO_PEERCRED). */
#ifndef VIREO_TOOLSTACK_CTL_SERVER_H
#define VIREO_TOOLSTACK_CTL_SERVER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "iothread/event_loop.h"
#include "toolstack/console_buf.h"

#define CTL_MAX_CLIENTS 16
#define CTL_LINE_MAX    4096

struct ctl_handlers {
    void *opaque;
    /* Fills reply (already holding "ok": true) for cmd; returns -1 with
     * err to answer {"ok": false, "error": err} instead. */
    int (*command)(void *opaque, const char *cmd, struct json_object *req, struct json_object *reply,
                   char *err, size_t errlen);
    /* Console input for the guest; returns how many bytes it took. */
    size_t (*console_input)(void *opaque, const uint8_t *p, size_t n);
    /* NULL when the console can be attached, else why not. */
    const char *(*console_unavailable)(void *opaque);
};

struct ctl_client {
    struct ctl_server *srv;
    int fd;
    struct el_watch w;
    bool used, watched, console, waiting;
    size_t in_len;
    char in[CTL_LINE_MAX];
    uint8_t pending[256];      /* console input the UART had no room for yet */
    size_t pending_len, pending_off;
};

struct ctl_server {
    struct event_loop *loop;
    struct ctl_handlers h;
    int listen_fd, timer_fd;
    struct el_watch w_listen, w_timer;
    char path[4096];
    struct console_buf con;
    struct ctl_client clients[CTL_MAX_CLIENTS];
};

/* Binds PATH (replacing a stale socket) and serves it on loop. */
int ctl_server_open(struct ctl_server *s, const char *path, struct event_loop *loop,
                    const struct ctl_handlers *h, char *err, size_t errlen);
/* Closes every connection (clients see EOF) and the listening socket;
 * unlinks PATH only if unlink_path (a VM process removes its whole run
 * directory first, under the run directory's lock, and must not then
 * unlink the socket of a new VM of the same name). */
void ctl_server_close(struct ctl_server *s, bool unlink_path);
/* Guest console output: kept in the buffer and sent to the console client. */
void ctl_server_console_output(struct ctl_server *s, const uint8_t *p, size_t n);
/* Answers every "wait" with event (which gets "ok" and "event" added). */
void ctl_server_notify_stopped(struct ctl_server *s, struct json_object *event);

#endif

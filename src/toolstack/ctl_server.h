/* The VM process's control socket: one JSON object per line each way, the
 * commands of ctl_proto.h.  Two kinds of command change the connection:
 *   CTL_RAW_CONSOLE ("console"): after the ok reply the connection
 *              carries raw bytes, the buffered console output first, then
 *              the guest's output live; bytes sent go to the guest's
 *              serial port.  One console client at a time.
 *   CTL_REPLY_AT_STOP ("wait"): the reply comes when the guest stops
 *              (power-off, reboot, crash, destroy), as
 *              {"ok":true,"event":"stopped",...}.
 * Only the socket's owner (or root) may connect: the directory is 0700,
 * the socket 0600, and each peer's uid is checked (SO_PEERCRED). */
#ifndef VIREO_TOOLSTACK_CTL_SERVER_H
#define VIREO_TOOLSTACK_CTL_SERVER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "eventloop/event_loop.h"
#include "toolstack/console_buf.h"
#include "toolstack/ctl_proto.h"

#define CTL_MAX_CLIENTS 16
#define CTL_LINE_MAX    4096

struct ctl_handlers {
    void *opaque;                       /* passed to every callback and handler */
    const struct ctl_cmd_def *cmds;     /* ctl_cmds (a test may give a copy with its own handlers) */
    /* 0 when commands that need a running guest may run, else -1 with why. */
    int (*running_or_err)(void *opaque, char *err, size_t errlen);
    /* Console input for the guest; returns how many bytes it took. */
    size_t (*console_input)(void *opaque, const uint8_t *p, size_t n);
    /* A connection ended (the client closed it, died, or the server is
     * closing): what it held (a freeze) is released.  May be NULL. */
    void (*conn_closed)(void *opaque, uint64_t conn);
};

struct ctl_client {
    struct ctl_server *srv;
    int fd;
    struct el_watch w;
    bool used, watched, console, waiting;
    uint64_t conn;             /* this connection's number, never reused */
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
    uid_t owner;               /* who may connect besides root */
    struct console_buf con;
    struct ctl_client clients[CTL_MAX_CLIENTS];
    uint64_t next_conn;
    uint64_t current_conn;     /* the connection whose request runs now; 0 outside handlers */
};

/* Binds PATH (replacing a stale socket) and serves it on loop. */
int ctl_server_open(struct ctl_server *s, const char *path, struct event_loop *loop,
                    const struct ctl_handlers *h, char *err, size_t errlen);
/* Closes every connection (clients see EOF) and the listening socket;
 * unlinks PATH only if unlink_path (a VM process removes its whole run
 * directory first, under the run directory's lock, and must not then
 * unlink the socket of a new VM of the same name). */
void ctl_server_close(struct ctl_server *s, bool unlink_path);
/* Inside a handler: the number of the connection that sent the request
 * (a command that holds something until its connection ends, as freeze
 * does, remembers it; ctl_handlers.conn_closed gets it back). */
uint64_t ctl_server_current_conn(const struct ctl_server *s);
/* Guest console output: kept in the buffer and sent to the console client. */
void ctl_server_console_output(struct ctl_server *s, const uint8_t *p, size_t n);
/* Answers every "wait" with event (which gets "ok" and "event" added). */
void ctl_server_notify_stopped(struct ctl_server *s, struct json_object *event);

#endif

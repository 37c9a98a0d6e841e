/* The control protocol between the commands and a VM process, defined
 * once.  On the wire: one JSON object per line each way; a request is
 * {"cmd": NAME, ARGS...}, a reply {"ok": true, FIELDS...} or
 * {"ok": false, "error": "..."}.
 *
 * ctl_cmds[] is the protocol: every command's wire name, whether it needs
 * a running guest, what the connection does after it, the VM process's
 * handler, and the members every ok reply has.  The commands' side
 * (ctl_client.c) sends a command by its id and checks replies against the
 * row; the VM process's side (ctl_server.c) finds the row by name, refuses
 * a command that needs a running guest when there is none, runs the
 * handler and answers as the row says.  A new command is one row here
 * plus its handler (vm_commands.c). */
#ifndef VIREO_TOOLSTACK_CTL_PROTO_H
#define VIREO_TOOLSTACK_CTL_PROTO_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

enum ctl_cmd {
    CTL_INFO,
    CTL_SHUTDOWN,
    CTL_REBOOT,
    CTL_DESTROY,
    CTL_PAUSE,
    CTL_UNPAUSE,
    CTL_VCPU_LIST,
    CTL_VCPU_PIN,
    CTL_BLOCK_LIST,
    CTL_NETWORK_LIST,
    CTL_WAIT,
    CTL_CONSOLE,
    CTL_FREEZE,
    CTL_THAW,
    CTL_CONFIG,
    CTL_BLOCK_STATS,
    CTL_NET_STATS,
    CTL_STATS,
    CTL_MEM_SET,
    CTL_MEM_MAX,
    CTL_NCMDS
};

/* What the server does once the handler accepted a request. */
enum ctl_after {
    CTL_REPLY,           /* answers at once */
    CTL_REPLY_AT_STOP,   /* answers when the guest stops (ctl_server_notify_stopped) */
    CTL_RAW_CONSOLE,     /* answers, then the connection carries console bytes both ways */
};

enum ctl_type { CTL_T_END, CTL_T_STR, CTL_T_NUM, CTL_T_BOOL, CTL_T_OBJ, CTL_T_ARR };

/* A member every ok reply of a command has (null is not allowed). */
struct ctl_field {
    const char *key;
    enum ctl_type type;
};

/* The VM process's side of a command: fills reply (which already holds
 * "ok": true) from req; returns -1 with err to answer {"ok": false,
 * "error": err} instead.  vm is the server's opaque (the VM process). */
typedef int ctl_handler(void *vm, struct json_object *req, struct json_object *reply, char *err, size_t errlen);

struct ctl_cmd_def {
    const char *name;                /* on the wire */
    bool needs_running;              /* refused, saying why, unless the guest runs */
    enum ctl_after after;
    ctl_handler *handler;            /* NULL: nothing to do beyond `after` */
    const char *args;                /* the request's members, for people */
    const struct ctl_field *reply;   /* checked by the client; ends with CTL_T_END */
};

extern const struct ctl_cmd_def ctl_cmds[CTL_NCMDS];

/* The command named name in table (ctl_cmds, or a test's copy), or -1. */
int ctl_cmd_lookup(const struct ctl_cmd_def *table, const char *name);

/* 0 if reply has every member the row of cmd promises, else -1 with err
 * naming the first that is missing or of the wrong type. */
int ctl_reply_check(enum ctl_cmd cmd, struct json_object *reply, char *err, size_t errlen);

#endif

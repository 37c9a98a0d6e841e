/* The commands' side of a VM's control socket (ctl_server.h has the
 * protocol). */
#ifndef VIREO_TOOLSTACK_CTL_CLIENT_H
#define VIREO_TOOLSTACK_CTL_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>

#define CTL_TIMEOUT_MS 10000
#define CTL_REPLY_MAX  (1024 * 1024)

/* Connects to VM NAME's control socket; -1 with err ("no VM named ...",
 * permission denied) otherwise. */
int ctl_open(const char *name, char *err, size_t errlen);
int ctl_send(int fd, const char *cmd, struct json_object *args);
/* One reply line; NULL on EOF, timeout (timeout_ms < 0: none) or bad JSON,
 * with err. */
struct json_object *ctl_recv(int fd, int timeout_ms, char *err, size_t errlen);
/* open + send + recv; returns the reply only if it says ok, else NULL with
 * the VM's error (or the transport's) in err.  args may be NULL; it is
 * not consumed. */
struct json_object *ctl_call(const char *name, const char *cmd, struct json_object *args, char *err,
                             size_t errlen);

/* Reading replies: o[k] as text (dflt when absent or null), as a number
 * (0 when absent). */
const char *ctl_str(struct json_object *o, const char *k, const char *dflt);
double ctl_num(struct json_object *o, const char *k);

#endif

/* The commands' side of a VM's control socket (ctl_proto.h has the
 * protocol). */
#ifndef VIREO_TOOLSTACK_CTL_CLIENT_H
#define VIREO_TOOLSTACK_CTL_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "toolstack/ctl_proto.h"

#define CTL_TIMEOUT_MS 10000
#define CTL_REPLY_MAX  (1024 * 1024)

/* Connects to VM NAME's control socket; -1 with err ("no VM named ...",
 * permission denied) otherwise. */
int ctl_open(const char *name, char *err, size_t errlen);
int ctl_send(int fd, enum ctl_cmd cmd, struct json_object *args);
/* One reply line; NULL on EOF, timeout (timeout_ms < 0: none) or bad JSON,
 * with err. */
struct json_object *ctl_recv(int fd, int timeout_ms, char *err, size_t errlen);
/* The reply to cmd if it says ok and has what ctl_cmds[cmd] promises;
 * else NULL with the VM's error (or what is wrong) in err, r consumed. */
struct json_object *ctl_reply_ok(enum ctl_cmd cmd, struct json_object *r, char *err, size_t errlen);
/* open + send + recv + ctl_reply_ok.  args may be NULL; it is not
 * consumed. */
struct json_object *ctl_call(const char *name, enum ctl_cmd cmd, struct json_object *args, char *err,
                             size_t errlen);
/* The same, waiting at most timeout_ms for the answer. */
struct json_object *ctl_call_timeout(const char *name, enum ctl_cmd cmd, struct json_object *args, int timeout_ms,
                                     char *err, size_t errlen);

/* Reading replies: o[k] as text (dflt when absent or null), as a number
 * (0 when absent). */
const char *ctl_str(struct json_object *o, const char *k, const char *dflt);
double ctl_num(struct json_object *o, const char *k);
/* A count from a VM process's reply (untrusted: any double): within
 * [0, max], else 0; converting a negative or huge double to an integer
 * type would be undefined, and a huge one would wrap sums around. */
uint64_t ctl_count(struct json_object *o, const char *k, uint64_t max);

#endif

/* The vhost-user requests the back-end serves, as one table (the shape of
 * libvhost-user's vu_process_message -> vu_*_exec): what each request's
 * payload and fds must be, whether it has a reply of its own, and the one
 * function that carries it out.  vu_backend_handle() (backend.h) checks a
 * message against its entry, then runs the handler. */
#ifndef VIREO_VHOST_USER_REQUESTS_H
#define VIREO_VHOST_USER_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vhost_user/protocol.h"

struct vu_backend;

/* A message being handled. */
struct vu_msg_ctx {
    struct vu_backend *b;
    const struct vhost_user_msg *m;
    const int *fds;
    unsigned nfds;
    bool fds_taken;            /* the handler kept them; else they are closed */
    struct vhost_user_msg *reply;
    char *why;                 /* room for a formatted reason */
    size_t why_len;
};

/* The payload's size is the handler's to check (it depends on the payload). */
#define VU_SIZE_VARIABLE UINT32_MAX

struct vu_request {
    const char *name;          /* the spec's name, without VHOST_USER_ */
    uint32_t size;             /* payload bytes, or VU_SIZE_VARIABLE */
    bool reply;                /* answers with data of its own (never an ack) */
    uint8_t max_fds;           /* fds it may carry (the handler checks the exact count) */
    /* NULL when done; else why the request was refused (a literal, or
     * formatted into c->why). */
    const char *(*exec)(struct vu_msg_ctx *c);
};

/* The entry for request number req; NULL for requests not served. */
const struct vu_request *vu_request_find(uint32_t req);
/* One past the largest request number in the table. */
uint32_t vu_request_limit(void);

#endif

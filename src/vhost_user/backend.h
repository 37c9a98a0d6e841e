/* A vhost-user back-end for any virtio device model (virtio/virtio.h):
 * the same device code that sits behind virtio-pci in the VMM, driven by a
 * front-end over a UNIX socket.  One front-end at a time; after it
 * disconnects the socket accepts the next.  Runs on the caller's event
 * loop; the device's queues run on its own threads. */
#ifndef VIREO_VHOST_USER_BACKEND_H
#define VIREO_VHOST_USER_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "eventloop/event_loop.h"
#include "util/unix_sock.h"
#include "vhost_user/mem_table.h"
#include "vhost_user/protocol.h"
#include "virtio/virtio.h"

#define VU_MAX_QUEUES 64

struct vu_queue {
    uint16_t num;
    uint16_t base;
    struct vhost_user_addr addr;
    bool addr_set;
    bool enabled;
    bool started;
    int kick_fd;
    pthread_mutex_t fd_lock;   /* call/err fds change while the queue runs */
    int call_fd;
    int err_fd;
    struct vq vq;
};

struct vu_backend {
    struct virtio_dev *dev;
    struct event_loop *loop;
    struct unix_listener listener;
    uid_t owner;               /* who may connect besides root: our uid at init */
    int conn_fd;
    struct el_watch w_listen, w_conn;
    int fault_fd;              /* eventfd: a region's file shrank (sigbus_guard.h) */
    struct el_watch w_fault;
    uint64_t features;
    uint64_t protocol_features;
    struct vu_mem mem;
    struct vu_queue q[VU_MAX_QUEUES];
    unsigned long messages;
    char why[160];             /* why the last message was refused; "" if it was not */
    /* What the front-end makes us log, counted per connection (any thread). */
    atomic_ulong complaints;
    atomic_ulong refusals;     /* peers refused, over the back-end's life */
    atomic_bool broken_logged; /* since the last ring start */
};

/* Listens on a new socket file at path, mode 0600 from its creation; a
 * stale socket file (nobody listening) is replaced, a live one or anything
 * else refused (util/unix_sock.h).  -1 with err on failure.  path NULL: no
 * socket, messages come only through vu_backend_handle (the fuzz target). */
int vu_backend_init(struct vu_backend *b, struct virtio_dev *dev, struct event_loop *loop,
                    const char *path, char *err, size_t errlen);
/* Stops the queues, drops the connection, closes the socket and removes
 * its file (if it is still ours). */
void vu_backend_destroy(struct vu_backend *b);

/* Handles one received message (exposed for unit tests and fuzzing) as
 * its entry in the request table says (requests.h): consumes fds; fills
 * reply and returns 1 if one must be sent, 0 if not, -1 if the connection
 * must be dropped; b->why says why a message was refused. */
int vu_backend_handle(struct vu_backend *b, struct vhost_user_msg *m, int *fds, unsigned nfds,
                      struct vhost_user_msg *reply);
/* Forgets the front-end's state (disconnect). */
void vu_backend_reset(struct vu_backend *b);

/* For the back-end's own files: logs a line the front-end caused ("vhost-
 * user: " + fmt), within its budget of VU_LOG_LINES per connection; the
 * rest are counted and their number logged when it leaves.  Any thread. */
#define VU_LOG_LINES 8
void vu_complain(struct vu_backend *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

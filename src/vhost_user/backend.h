/* A vhost-user back-end for any virtio device model (virtio/virtio.h):
 * the same device code that sits behind virtio-pci in the VMM, driven by a
 * front-end over a UNIX socket.  One front-end at a time; after it
 * disconnects the socket accepts the next.  Runs on the caller's event
 * loop; the device's queues run on its own threads. */
#ifndef VIREO_VHOST_USER_BACKEND_H
#define VIREO_VHOST_USER_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "iothread/event_loop.h"
#include "vhost_user/protocol.h"
#include "virtio/memmap.h"
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

struct vu_region {
    uint64_t uva, size;
    uint8_t *host;
    void *map;
    size_t map_len;
};

struct vu_backend {
    struct virtio_dev *dev;
    struct event_loop *loop;
    int listen_fd, conn_fd;
    struct el_watch w_listen, w_conn;
    uint64_t features;
    uint64_t protocol_features;
    struct memmap map;
    unsigned nregions;
    struct vu_region regions[VHOST_USER_MAX_REGIONS];
    struct vu_queue q[VU_MAX_QUEUES];
    unsigned long messages;
};

/* Listens on path (replacing a stale socket file); -1 with err on failure. */
int vu_backend_init(struct vu_backend *b, struct virtio_dev *dev, struct event_loop *loop,
                    const char *path, char *err, size_t err_len);
/* Stops the queues, drops the connection, closes the socket. */
void vu_backend_destroy(struct vu_backend *b);

/* Handles one received message (exposed for unit tests and fuzzing):
 * consumes fds; fills reply and returns 1 if one must be sent, 0 if not,
 * -1 if the connection must be dropped. */
int vu_backend_handle(struct vu_backend *b, struct vhost_user_msg *m, int *fds, unsigned nfds,
                      struct vhost_user_msg *reply);
/* Forgets the front-end's state (disconnect). */
void vu_backend_reset(struct vu_backend *b);

#endif

/* The host end of a guest NIC: a TAP device, one file descriptor per
 * queue pair, frames prefixed with a virtio-net header in both directions
 * so that checksum and segmentation offloads pass through untouched. */
#ifndef VIREO_NET_TAP_H
#define VIREO_NET_TAP_H

#include <stdbool.h>
#include <stddef.h>

#define TAP_MAX_QUEUES 16
#define TAP_VNET_HDR_LEN 12   /* struct virtio_net_hdr_v1 (with num_buffers) */

struct tap {
    char ifname[16];
    unsigned nqueues;
    int fds[TAP_MAX_QUEUES];   /* -1 past nqueues */
    bool created;              /* by tap_create: the kernel deletes it with the last fd */
    bool multi_queue;          /* IFF_MULTI_QUEUE: queues can be detached */
    bool detached[TAP_MAX_QUEUES];
};

/* Creates TAP `ifname` (NULL or empty: the kernel picks a free "vireo%d",
 * written back to t->ifname) with nqueues queues (IFF_MULTI_QUEUE when
 * > 1).  Refuses a name already in use.  The TAP is not persistent, so it
 * goes away with the last fd: at tap_close, or when the VMM dies however
 * it dies.  fds are non-blocking and close-on-exec.  -1 with a message
 * naming the fix in err. */
int tap_create(struct tap *t, const char *ifname, unsigned nqueues, char *err, size_t errlen);
/* Opens nqueues queues of the existing TAP `ifname` (--net tap=NAME), with
 * the same flags and header size; never creates one.  It must be a TAP
 * (not a TUN, not another kind of link), multi_queue if nqueues > 1. */
int tap_attach(struct tap *t, const char *ifname, unsigned nqueues, char *err, size_t errlen);
/* TUNSETOFFLOAD with TUN_F_* flags: which offloaded frames (partial
 * checksums, TSO/USO super-frames) the guest accepts on receive.  -1 and
 * errno (EINVAL for a flag this kernel does not know). */
int tap_set_offload(struct tap *t, unsigned tun_flags);
/* Attaches (on) or detaches queue q (TUNSETQUEUE), so that the kernel
 * steers no frames to the queues of pairs the guest has not enabled.  A
 * no-op when q already is so, and on a single-queue TAP.  -1 and errno. */
int tap_enable_queue(struct tap *t, unsigned q, bool on);
/* Back to how it was opened, for the next guest of a VM restarted in
 * place: every queue attached, no offloads (those are negotiated by each
 * guest's driver).  Needs no privilege: TUNSETQUEUE and TUNSETOFFLOAD on
 * our own fds.  -1 and errno. */
int tap_reset(struct tap *t);
/* Closes the fds; a created TAP then disappears.  Safe to call twice. */
void tap_close(struct tap *t);

#endif

/* Sending and receiving one vhost-user message with its descriptors. */
#ifndef VIREO_VHOST_USER_MSG_H
#define VIREO_VHOST_USER_MSG_H

#include "vhost_user/protocol.h"

/* Reads one whole message; fds (up to VHOST_USER_MAX_FDS) are returned
 * in fds/nfds and belong to the caller.  0 on success, -1 on EOF or a
 * malformed message (payload larger than any request's; errno EPROTO). */
int vu_msg_recv(int sock, struct vhost_user_msg *m, int *fds, unsigned *nfds);
/* Sends header + hdr.size payload bytes, with nfds descriptors. */
int vu_msg_send(int sock, const struct vhost_user_msg *m, const int *fds, unsigned nfds);

#endif

/* UNIX stream sockets only their owner may use: the peer rule for accepted
 * connections (the control socket, vhost-user), and a listening socket
 * that is never group- or world-accessible, never takes the place of a
 * live one, and is removed only while it is still ours. */
#ifndef VIREO_UTIL_UNIX_SOCK_H
#define VIREO_UTIL_UNIX_SOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Whether the peer of a connected UNIX socket may use it: a process of the
 * owner's uid, or root.  The owner is whoever started the server, recorded
 * before it gave up its privileges (a VM process then runs as an
 * unprivileged user that other VMs share, and those must not get in).
 * *cr gets the peer's credentials (pid 0, uid and gid -1 when the kernel
 * cannot tell). */
bool unix_peer_allowed(int fd, uid_t owner, struct ucred *cr);

struct unix_listener {
    int fd;                    /* -1: closed */
    bool own;                  /* path is the socket file we created ... */
    dev_t dev;                 /* ... this one */
    ino_t ino;
    char path[108];
};

/* Listens on a new socket file at path, mode 0600 from its creation
 * whatever the umask (the mode is set on the socket before bind creates
 * the file).  A socket file nobody listens on (a killed server's) is
 * replaced; a live one is refused ("in use by pid N"), and so is anything
 * else at path.  -1 with err ("PATH: why") on failure, nothing changed. */
int unix_listen_private(struct unix_listener *l, const char *path, int backlog, char *err, size_t errlen);
/* Closes the socket and removes its file, if the file at path is still
 * the one we created (not a later server's). */
void unix_listener_close(struct unix_listener *l);

#endif

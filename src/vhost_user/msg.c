#include "vhost_user/msg.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_full(int sock, void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = recv(sock, (uint8_t *)buf + done, len - done, 0);
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Aligned for struct cmsghdr. */
union control {
    char buf[CMSG_SPACE(VHOST_USER_MAX_FDS * sizeof(int))];
    struct cmsghdr align;
};

int vu_msg_recv(int sock, struct vhost_user_msg *m, int *fds, unsigned *nfds)
{
    union control control;
    struct iovec iov = {&m->hdr, sizeof(m->hdr)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf)};
    *nfds = 0;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        errno = ECONNRESET;
    if (n <= 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        unsigned k = (unsigned)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int got[VHOST_USER_MAX_FDS];
        memcpy(got, CMSG_DATA(c), k * sizeof(int));
        for (unsigned i = 0; i < k; i++) {
            if (*nfds < VHOST_USER_MAX_FDS)
                fds[(*nfds)++] = got[i];
            else
                close(got[i]);
        }
    }
    int bad = (mh.msg_flags & MSG_CTRUNC) ? -1 : 0;
    if (!bad && (size_t)n < sizeof(m->hdr))
        bad = read_full(sock, (uint8_t *)&m->hdr + n, sizeof(m->hdr) - (size_t)n);
    if (!bad && m->hdr.size > sizeof(m->p)) {
        errno = EPROTO;
        bad = -1;
    }
    if (!bad && m->hdr.size)
        bad = read_full(sock, &m->p, m->hdr.size);
    if (bad) {
        for (unsigned i = 0; i < *nfds; i++)
            close(fds[i]);
        *nfds = 0;
        return -1;
    }
    return 0;
}

int vu_msg_send(int sock, const struct vhost_user_msg *m, const int *fds, unsigned nfds)
{
    union control control;
    if (nfds > VHOST_USER_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    struct iovec iov[2] = {{(void *)&m->hdr, sizeof(m->hdr)}, {(void *)&m->p, m->hdr.size}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = m->hdr.size ? 2 : 1};
    if (m->hdr.size > sizeof(m->p)) {
        errno = EINVAL;
        return -1;
    }
    if (nfds) {
        memset(&control, 0, sizeof(control));
        mh.msg_control = control.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)(sizeof(m->hdr) + m->hdr.size) ? 0 : -1;
}

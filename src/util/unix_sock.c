#include "util/unix_sock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

bool unix_peer_allowed(int fd, uid_t owner, struct ucred *cr)
{
    socklen_t len = sizeof(*cr);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cr, &len) < 0 || len != sizeof(*cr)) {
        *cr = (struct ucred){0, (uid_t)-1, (gid_t)-1};
        return false;
    }
    return cr->uid == 0 || cr->uid == owner;
}

static const char *kind(mode_t m)
{
    return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link"
         : S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : "not a socket";
}

/* Whether a server listens on sa: 1 (its pid in *pid, 0 if the kernel
 * does not say), 0 (nobody: connection refused), -1 with errno. */
static int listening(const struct sockaddr_un *sa, pid_t *pid)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0)
        return -1;
    int r = -1;
    *pid = 0;
    if (connect(s, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
        /* The peer's credentials are the listener's, as of its listen(). */
        struct ucred cr;
        socklen_t len = sizeof(cr);
        if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0 && len == sizeof(cr))
            *pid = cr.pid;
        r = 1;
    } else if (errno == EAGAIN) {
        r = 1;   /* alive, its backlog full */
    } else if (errno == ECONNREFUSED) {
        r = 0;
    }
    int e = errno;
    close(s);
    errno = e;
    return r;
}

/* Makes room at path for our socket: nothing there, or a stale socket
 * (removed).  0, or -1 with err. */
static int clear_path(const char *path, const struct sockaddr_un *sa, char *err, size_t errlen)
{
    struct stat st, again;
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a socket (%s)", path, kind(st.st_mode));
        return -1;
    }
    pid_t pid;
    int r = listening(sa, &pid);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot tell whether the socket there is in use: %s", path, strerror(errno));
        return -1;
    }
    if (r > 0) {
        if (pid > 0)
            snprintf(err, errlen, "%s: in use by pid %d", path, (int)pid);
        else
            snprintf(err, errlen, "%s: in use", path);
        return -1;
    }
    /* Stale: remove it, unless it is no longer the file we looked at. */
    if (lstat(path, &again) == 0 && (again.st_dev != st.st_dev || again.st_ino != st.st_ino)) {
        snprintf(err, errlen, "%s: replaced while we looked at it", path);
        return -1;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        snprintf(err, errlen, "%s: cannot remove the stale socket there: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int unix_listen_private(struct unix_listener *l, const char *path, int backlog, char *err, size_t errlen)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(err, errlen, "%s: path too long (at most %zu bytes)", path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    strcpy(sa.sun_path, path);
    snprintf(l->path, sizeof(l->path), "%s", path);
    if (clear_path(path, &sa, err, errlen) < 0)
        return -1;
    /* bind() creates the file with the socket's own mode less the umask:
     * 0600 here, so it is at no moment open to others (a chmod after bind
     * would leave a window under a loose umask). */
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || fchmod(l->fd, 0600) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        /* Someone bound it between our look and now. */
        snprintf(err, errlen, "%s: %s", path, errno == EADDRINUSE ? "in use" : strerror(errno));
        goto fail;
    }
    struct stat st;
    if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
        l->own = true;
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (listen(l->fd, backlog) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unix_listener_close(l);
        return -1;
    }
    return 0;
fail:
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    return -1;
}

void unix_listener_close(struct unix_listener *l)
{
    if (l->fd < 0)
        return;
    close(l->fd);
    l->fd = -1;
    struct stat st;
    if (l->own && lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
        unlink(l->path);
    l->own = false;
}

#include "toolstack/ctl_client.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/ctl_server.h"
#include "toolstack/rundir.h"

int ctl_open(const char *name, char *err, size_t errlen)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (rundir_path(a.sun_path, sizeof(a.sun_path), name, "control") < 0) {
        snprintf(err, errlen, "'%s' is not a VM name (too long, empty, with '/' or a leading '.')", name);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
        snprintf(err, errlen, "no VM named '%s' is running (vireo list shows those that are)", name);
    else if (e == EACCES || e == EPERM)
        snprintf(err, errlen, "%s: permission denied (VMs belong to the user who created them; root sees all)",
                 a.sun_path);
    else
        snprintf(err, errlen, "%s: %s", a.sun_path, strerror(e));
    return -1;
}

int ctl_send(int fd, enum ctl_cmd cmd, struct json_object *args)
{
    struct json_object *req = json_object_new_object();
    json_object_object_add(req, "cmd", json_object_new_string(ctl_cmds[cmd].name));
    if (args) {
        json_object_object_foreach(args, k, v)
            json_object_object_add(req, k, json_object_get(v));
    }
    const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    size_t n = strlen(s);
    char line[CTL_LINE_MAX];
    int r = -1;
    if (n + 1 < sizeof(line)) {
        memcpy(line, s, n);
        line[n] = '\n';
        r = send(fd, line, n + 1, MSG_NOSIGNAL) == (ssize_t)(n + 1) ? 0 : -1;
    }
    json_object_put(req);
    return r;
}

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

struct json_object *ctl_recv(int fd, int timeout_ms, char *err, size_t errlen)
{
    /* Replies grow with the VM (vcpu-list of 64 vCPUs, a long cmdline):
     * unlike requests, they are not held to CTL_LINE_MAX. */
    size_t cap = 4096, n = 0;
    char *line = malloc(cap);
    struct json_object *o = NULL;
    long long deadline = now_ms() + timeout_ms;
    if (!line) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* After a "console" reply the raw stream follows: none of it may be
     * swallowed here, so nothing past the newline is taken. */
    for (;;) {
        if (n + 1 == cap) {
            char *bigger = cap < CTL_REPLY_MAX ? realloc(line, cap * 2) : NULL;
            if (!bigger) {
                snprintf(err, errlen, "answer from the VM process too long");
                break;
            }
            line = bigger;
            cap *= 2;
        }
        int left = timeout_ms < 0 ? -1 : (int)(deadline - now_ms());
        if (timeout_ms >= 0 && left <= 0) {
            snprintf(err, errlen, "no answer within %d s", timeout_ms / 1000);
            break;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        /* Looked at before it is taken, and taken up to the newline only:
         * a large reply (stats) in a few calls, not one per byte. */
        ssize_t r = recv(fd, line + n, cap - 1 - n, MSG_PEEK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "the VM process closed the connection");
            break;
        }
        char *nl = memchr(line + n, '\n', (size_t)r);
        size_t take = nl ? (size_t)(nl - (line + n)) + 1 : (size_t)r;
        if (recv(fd, line + n, take, 0) != (ssize_t)take) {
            snprintf(err, errlen, "the VM process closed the connection");
            break;
        }
        n += take;
        if (!nl)
            continue;
        line[--n] = 0;
        o = json_tokener_parse(line);
        if (!o || !json_object_is_type(o, json_type_object)) {
            json_object_put(o);
            o = NULL;
            snprintf(err, errlen, "bad answer from the VM process: %.200s", line);
        }
        break;
    }
    free(line);
    return o;
}

const char *ctl_str(struct json_object *o, const char *k, const char *dflt)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && v ? json_object_get_string(v) : dflt;
}

double ctl_num(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_double(v) : 0;
}

uint64_t ctl_count(struct json_object *o, const char *k, uint64_t max)
{
    double d = ctl_num(o, k);
    return d >= 0 && d <= (double)max ? (uint64_t)d : 0;   /* NaN fails both */
}

struct json_object *ctl_reply_ok(enum ctl_cmd cmd, struct json_object *r, char *err, size_t errlen)
{
    struct json_object *ok, *e;
    if (!r)
        return NULL;
    if (!json_object_object_get_ex(r, "ok", &ok) || !json_object_get_boolean(ok))
        snprintf(err, errlen, "%s", json_object_object_get_ex(r, "error", &e) ? json_object_get_string(e)
                                                                              : "the VM refused");
    else if (ctl_reply_check(cmd, r, err, errlen) == 0)
        return r;
    json_object_put(r);
    return NULL;
}

struct json_object *ctl_call(const char *name, enum ctl_cmd cmd, struct json_object *args, char *err,
                             size_t errlen)
{
    return ctl_call_timeout(name, cmd, args, CTL_TIMEOUT_MS, err, errlen);
}

struct json_object *ctl_call_timeout(const char *name, enum ctl_cmd cmd, struct json_object *args, int timeout_ms,
                                     char *err, size_t errlen)
{
    int fd = ctl_open(name, err, errlen);
    if (fd < 0)
        return NULL;
    struct json_object *r = NULL;
    if (ctl_send(fd, cmd, args) < 0)
        snprintf(err, errlen, "sending to VM '%s': %s", name, strerror(errno));
    else
        r = ctl_recv(fd, timeout_ms, err, errlen);
    close(fd);
    return ctl_reply_ok(cmd, r, err, errlen);
}

#include "toolstack/ctl_server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/unix_sock.h"

#define INPUT_RETRY_NS (10 * 1000 * 1000)

static void client_close(struct ctl_client *c)
{
    struct ctl_server *s = c->srv;
    uint64_t conn = c->conn;
    if (c->watched)
        event_loop_del(c->srv->loop, &c->w);
    close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (s && conn && s->h.conn_closed)
        s->h.conn_closed(s->h.opaque, conn);
}

/* Replies are small; a client that does not read them loses them. */
static void send_all(struct ctl_client *c, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(c->fd, b, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w <= 0)
            return;
        b += w;
        n -= (size_t)w;
    }
}

static void send_json(struct ctl_client *c, struct json_object *o)
{
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    send_all(c, s, strlen(s));
    send_all(c, "\n", 1);
}

static void send_error(struct ctl_client *c, const char *msg)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(0));
    json_object_object_add(o, "error", json_object_new_string(msg));
    send_json(c, o);
    json_object_put(o);
}

static void arm_retry(struct ctl_server *s)
{
    struct itimerspec t = {.it_value = {.tv_nsec = INPUT_RETRY_NS}};
    timerfd_settime(s->timer_fd, 0, &t, NULL);
}

/* Feeds held-back console input to the guest; true when all went in. */
static bool flush_input(struct ctl_client *c)
{
    if (c->pending_off < c->pending_len)
        c->pending_off += c->srv->h.console_input(c->srv->h.opaque, c->pending + c->pending_off,
                                                  c->pending_len - c->pending_off);
    if (c->pending_off < c->pending_len) {
        arm_retry(c->srv);
        return false;
    }
    c->pending_len = c->pending_off = 0;
    return true;
}

/* reply: the console command's, "ok" already in it. */
static void start_console(struct ctl_client *c, struct json_object *reply)
{
    struct ctl_server *s = c->srv;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        if (s->clients[i].used && s->clients[i].console) {
            send_error(c, "the console is already attached by another `vireo console`");
            return;
        }
    }
    json_object_object_add(reply, "buffered", json_object_new_int64((int64_t)s->con.len));
    send_json(c, reply);
    c->console = true;
    const uint8_t *ptr[2];
    size_t len[2];
    int k = console_buf_pieces(&s->con, ptr, len);
    for (int i = 0; i < k; i++)
        send_all(c, ptr[i], len[i]);
}

/* Runs one request as its row in the protocol table says. */
static void run(struct ctl_client *c, const struct ctl_cmd_def *d, struct json_object *req)
{
    struct ctl_server *s = c->srv;
    char err[512] = "";
    if (d->needs_running && s->h.running_or_err(s->h.opaque, err, sizeof(err)) < 0) {
        send_error(c, err);
        return;
    }
    struct json_object *reply = json_object_new_object();
    json_object_object_add(reply, "ok", json_object_new_boolean(1));
    s->current_conn = c->conn;
    int r = d->handler ? d->handler(s->h.opaque, req, reply, err, sizeof(err)) : 0;
    s->current_conn = 0;
    if (r < 0) {
        send_error(c, err);
    } else {
        switch (d->after) {
        case CTL_REPLY: send_json(c, reply); break;
        case CTL_REPLY_AT_STOP: c->waiting = true; break;
        case CTL_RAW_CONSOLE: start_console(c, reply); break;
        }
    }
    json_object_put(reply);
}

static void handle_line(struct ctl_client *c, char *line)
{
    struct ctl_server *s = c->srv;
    enum json_tokener_error jerr;
    struct json_object *req = json_tokener_parse_verbose(line, &jerr);
    struct json_object *cmd;
    if (!req || !json_object_is_type(req, json_type_object) || !json_object_object_get_ex(req, "cmd", &cmd) ||
        !json_object_is_type(cmd, json_type_string)) {
        send_error(c, req ? "expected an object with a \"cmd\" string" : json_tokener_error_desc(jerr));
        json_object_put(req);
        return;
    }
    const char *name = json_object_get_string(cmd);
    int id = ctl_cmd_lookup(s->h.cmds, name);
    if (id < 0) {
        char msg[CTL_LINE_MAX + 32];
        snprintf(msg, sizeof(msg), "unknown command '%s'", name);
        send_error(c, msg);
    } else {
        run(c, &s->h.cmds[id], req);
    }
    json_object_put(req);
}

static void on_console_bytes(struct ctl_client *c, uint32_t events)
{
    if (c->pending_off < c->pending_len) {
        /* Input is off while the timer feeds what is held back, but a
         * hang-up is reported regardless and would fire again and again. */
        if (events & (EPOLLHUP | EPOLLERR))
            client_close(c);
        return;
    }
    ssize_t r = recv(c->fd, c->pending, sizeof(c->pending), MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        client_close(c);
        return;
    }
    if (r > 0) {
        c->pending_len = (size_t)r;
        c->pending_off = 0;
        if (!flush_input(c))
            event_loop_mod(c->srv->loop, &c->w, 0);   /* until the UART has room */
    }
}

static void on_client(void *opaque, uint32_t events)
{
    struct ctl_client *c = opaque;
    if (c->console) {
        on_console_bytes(c, events);
        return;
    }
    ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        client_close(c);
        return;
    }
    if (r < 0)
        return;
    c->in_len += (size_t)r;
    char *nl;
    while (c->used && !c->console && (nl = memchr(c->in, '\n', c->in_len))) {
        *nl = 0;
        size_t used = (size_t)(nl - c->in) + 1;
        handle_line(c, c->in);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
    }
    /* What followed "console" in the same read is already console input. */
    if (c->used && c->console && c->in_len) {
        size_t n = c->in_len < sizeof(c->pending) ? c->in_len : sizeof(c->pending);
        memcpy(c->pending, c->in, n);
        c->pending_len = n;
        c->pending_off = 0;
        c->in_len = 0;
        if (!flush_input(c))
            event_loop_mod(c->srv->loop, &c->w, 0);
    }
    if (c->used && !c->console && c->in_len == sizeof(c->in)) {
        send_error(c, "request line too long");
        client_close(c);
    }
}

static void on_timer(void *opaque, uint32_t events)
{
    (void)events;
    struct ctl_server *s = opaque;
    uint64_t v;
    (void)!read(s->timer_fd, &v, sizeof(v));
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        struct ctl_client *c = &s->clients[i];
        if (c->used && c->console && c->pending_len && flush_input(c))
            event_loop_mod(s->loop, &c->w, EPOLLIN);
    }
}

static void on_accept(void *opaque, uint32_t events)
{
    (void)events;
    struct ctl_server *s = opaque;
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    struct ucred cr;
    /* The 0600 socket in a 0700 directory already keeps others out; this
     * holds even if someone loosens those modes. */
    if (!unix_peer_allowed(fd, s->owner, &cr)) {
        const char msg[] = "{\"ok\":false,\"error\":\"permission denied: not the VM's owner\"}\n";
        (void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
        return;
    }
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        struct ctl_client *c = &s->clients[i];
        if (c->used)
            continue;
        memset(c, 0, sizeof(*c));
        c->srv = s;
        c->fd = fd;
        c->used = true;
        c->conn = ++s->next_conn;
        if (event_loop_add(s->loop, &c->w, fd, EPOLLIN, on_client, c) < 0) {
            client_close(c);
            return;
        }
        c->watched = true;
        return;
    }
    const char msg[] = "{\"ok\":false,\"error\":\"too many control connections\"}\n";
    (void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
}

int ctl_server_open(struct ctl_server *s, const char *path, struct event_loop *loop,
                    const struct ctl_handlers *h, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->h = *h;
    s->owner = geteuid();   /* before the VM process becomes its unprivileged user */
    s->listen_fd = s->timer_fd = -1;
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        s->clients[i].fd = -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(a.sun_path)) {
        snprintf(err, errlen, "control socket path too long: %s", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    snprintf(s->path, sizeof(s->path), "%s", path);
    if (console_buf_init(&s->con, CONSOLE_BUF_DEFAULT) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (s->listen_fd < 0 || s->timer_fd < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        return -1;
    }
    unlink(path);
    mode_t old = umask(0177);   /* created 0600, with no window at a wider mode */
    int r = bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a));
    umask(old);
    if (r < 0 || listen(s->listen_fd, 16) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (event_loop_add(loop, &s->w_listen, s->listen_fd, EPOLLIN, on_accept, s) < 0 ||
        event_loop_add(loop, &s->w_timer, s->timer_fd, EPOLLIN, on_timer, s) < 0) {
        snprintf(err, errlen, "epoll: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void ctl_server_close(struct ctl_server *s, bool unlink_path)
{
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (s->clients[i].used)
            client_close(&s->clients[i]);
    if (s->listen_fd >= 0) {
        event_loop_del(s->loop, &s->w_listen);
        close(s->listen_fd);
        if (unlink_path)
            unlink(s->path);
    }
    if (s->timer_fd >= 0) {
        event_loop_del(s->loop, &s->w_timer);
        close(s->timer_fd);
    }
    console_buf_free(&s->con);
    s->listen_fd = s->timer_fd = -1;
}

uint64_t ctl_server_current_conn(const struct ctl_server *s)
{
    return s->current_conn;
}

void ctl_server_console_output(struct ctl_server *s, const uint8_t *p, size_t n)
{
    console_buf_append(&s->con, p, n);
    for (int i = 0; i < CTL_MAX_CLIENTS; i++)
        if (s->clients[i].used && s->clients[i].console)
            send_all(&s->clients[i], p, n);
}

void ctl_server_notify_stopped(struct ctl_server *s, struct json_object *event)
{
    json_object_object_add(event, "ok", json_object_new_boolean(1));
    json_object_object_add(event, "event", json_object_new_string("stopped"));
    for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
        struct ctl_client *c = &s->clients[i];
        if (c->used && c->waiting) {
            send_json(c, event);
            c->waiting = false;
        }
    }
}

/* The control socket (server and client in one process, the loop run by
 * hand) and the run directory's claims, stale entries and IDs. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "toolstack/ctl_client.h"
#include "toolstack/ctl_server.h"
#include "toolstack/rundir.h"
#include "toolstack/vm_commands.h"
#include "toolstack/vm_process_impl.h"

struct fake {
    const char *unavailable;
    const char *not_running;
    unsigned calls;    /* handlers run */
    uint8_t input[256];
    size_t input_len;
    size_t take_max;   /* console bytes accepted per call, as a UART FIFO with little room */
    struct ctl_server *srv;
    uint64_t held[4];  /* the connection of each "freeze" */
    unsigned nheld;
    uint64_t closed[8];
    unsigned nclosed;
};

/* The real protocol table with these handlers in place of the VM
 * process's. */
static struct ctl_cmd_def fake_cmds[CTL_NCMDS];

static int fake_info(void *opaque, struct json_object *req, struct json_object *reply, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    ((struct fake *)opaque)->calls++;
    json_object_object_add(reply, "name", json_object_new_string("t"));
    return 0;
}

/* A reply larger than any request may be, and without the "disks" the
 * protocol promises. */
static int fake_big(void *opaque, struct json_object *req, struct json_object *reply, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    ((struct fake *)opaque)->calls++;
    static char s[3 * CTL_LINE_MAX];
    memset(s, 'b', sizeof(s) - 1);
    json_object_object_add(reply, "big", json_object_new_string(s));
    return 0;
}

static int fake_refuse(void *opaque, struct json_object *req, struct json_object *reply, char *err, size_t errlen)
{
    (void)req, (void)reply;
    ((struct fake *)opaque)->calls++;
    snprintf(err, errlen, "refused by the fake");
    return -1;
}

static int fake_console(void *opaque, struct json_object *req, struct json_object *reply, char *err, size_t errlen)
{
    (void)req, (void)reply;
    struct fake *f = opaque;
    f->calls++;
    if (!f->unavailable)
        return 0;
    snprintf(err, errlen, "%s", f->unavailable);
    return -1;
}

/* Remembers which connection asked, as the VM process's freeze does. */
static int fake_hold(void *opaque, struct json_object *req, struct json_object *reply, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    struct fake *f = opaque;
    f->held[f->nheld++] = ctl_server_current_conn(f->srv);
    json_object_object_add(reply, "disks", json_object_new_array());
    json_object_object_add(reply, "paused_before", json_object_new_boolean(0));
    return 0;
}

static void fake_closed(void *opaque, uint64_t conn)
{
    struct fake *f = opaque;
    if (f->nclosed < 8)
        f->closed[f->nclosed++] = conn;
}

static int fake_running(void *opaque, char *err, size_t errlen)
{
    struct fake *f = opaque;
    if (!f->not_running)
        return 0;
    snprintf(err, errlen, "%s", f->not_running);
    return -1;
}

static size_t fake_input(void *opaque, const uint8_t *p, size_t n)
{
    struct fake *f = opaque;
    if (n > f->take_max)
        n = f->take_max;
    memcpy(f->input + f->input_len, p, n);
    f->input_len += n;
    return n;
}

struct env {
    char dir[64];
    struct event_loop loop;
    struct ctl_server srv;
    struct fake fake;
};

static int setup(void **state)
{
    static struct env e;
    memset(&e, 0, sizeof(e));
    strcpy(e.dir, "/tmp/vireo-test-ctl-XXXXXX");
    if (!mkdtemp(e.dir))
        return -1;
    setenv("VIREO_RUN_DIR", e.dir, 1);
    char path[256], err[256];
    snprintf(path, sizeof(path), "%s/t", e.dir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/t/control", e.dir);
    e.fake.take_max = 1000;
    memcpy(fake_cmds, ctl_cmds, sizeof(fake_cmds));
    for (int i = 0; i < CTL_NCMDS; i++)
        fake_cmds[i].handler = fake_refuse;
    fake_cmds[CTL_INFO].handler = fake_info;
    fake_cmds[CTL_BLOCK_LIST].handler = fake_big;
    fake_cmds[CTL_CONSOLE].handler = fake_console;
    fake_cmds[CTL_WAIT].handler = NULL;
    fake_cmds[CTL_FREEZE].handler = fake_hold;
    e.fake.srv = &e.srv;
    struct ctl_handlers h = {.opaque = &e.fake, .cmds = fake_cmds, .running_or_err = fake_running,
                             .console_input = fake_input, .conn_closed = fake_closed};
    if (event_loop_init(&e.loop) < 0)
        return -1;
    event_loop_set_owner(&e.loop);
    if (ctl_server_open(&e.srv, path, &e.loop, &h, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    *state = &e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    ctl_server_close(&e->srv, true);
    event_loop_destroy(&e->loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    return system(cmd);
}

static void spin(struct env *e, int rounds)
{
    for (int i = 0; i < rounds; i++)
        event_loop_run_once(&e->loop, 20);
}

/* Sends raw bytes and returns the one reply line. */
static struct json_object *raw(struct env *e, int fd, const char *bytes)
{
    assert_int_equal(send(fd, bytes, strlen(bytes), 0), (ssize_t)strlen(bytes));
    spin(e, 3);
    char err[256];
    return ctl_recv(fd, 1000, err, sizeof(err));
}

static const char *get(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void requests_and_errors(void **state)
{
    struct env *e = *state;
    char err[256];
    int fd = ctl_open("t", err, sizeof(err));
    assert_true(fd >= 0);
    spin(e, 2);   /* accept */
    struct json_object *r = raw(e, fd, "{\"cmd\":\"info\"}\n");
    assert_non_null(r);
    assert_string_equal(get(r, "ok"), "true");
    assert_string_equal(get(r, "name"), "t");
    json_object_put(r);
    r = raw(e, fd, "{\"cmd\":\"block-list\"}\n");
    assert_non_null(r);
    assert_int_equal(strlen(get(r, "big")), 3 * CTL_LINE_MAX - 1);
    json_object_put(r);
    r = raw(e, fd, "{\"cmd\":\"frobnicate\"}\n");
    assert_string_equal(get(r, "ok"), "false");
    assert_string_equal(get(r, "error"), "unknown command 'frobnicate'");
    json_object_put(r);
    r = raw(e, fd, "[1,2]\n");
    assert_string_equal(get(r, "error"), "expected an object with a \"cmd\" string");
    json_object_put(r);
    r = raw(e, fd, "{\"cmd\": 5}\n");
    assert_string_equal(get(r, "error"), "expected an object with a \"cmd\" string");
    json_object_put(r);
    r = raw(e, fd, "{\"cmd\":\n");
    assert_string_equal(get(r, "ok"), "false");
    json_object_put(r);
    /* Two requests in one write, answered in order. */
    assert_int_equal(send(fd, "{\"cmd\":\"info\"}\n{\"cmd\":\"x\"}\n", 28, 0), 28);
    spin(e, 3);
    r = ctl_recv(fd, 1000, err, sizeof(err));
    assert_string_equal(get(r, "name"), "t");
    json_object_put(r);
    r = ctl_recv(fd, 1000, err, sizeof(err));
    assert_string_equal(get(r, "error"), "unknown command 'x'");
    json_object_put(r);
    close(fd);
    /* ctl_call: the reply's error becomes err. */
    int pid = fork();
    if (pid == 0) {   /* the server must run while the client blocks */
        r = ctl_call("t", CTL_PAUSE, NULL, err, sizeof(err));
        _exit(r == NULL && !strcmp(err, "refused by the fake") ? 0 : 1);
    }
    int st = 0;
    for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
        spin(e, 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* ... and an ok reply without what the protocol promises is an error. */
    pid = fork();
    if (pid == 0) {
        r = ctl_call("t", CTL_BLOCK_LIST, NULL, err, sizeof(err));
        _exit(r == NULL && !strcmp(err, "bad answer from the VM process to 'block-list': \"disks\" is not an array")
                  ? 0 : 1);
    }
    st = 0;
    for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
        spin(e, 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A command that needs a running guest is refused, saying why, before its
 * handler runs; the others still run. */
static void needs_running(void **state)
{
    struct env *e = *state;
    char err[256];
    int fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    e->fake.not_running = "the VM is not running (shutdown)";
    static const char *const need[] = {"shutdown", "reboot", "pause", "unpause", "vcpu-pin"};
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        char line[64];
        snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}\n", need[i]);
        struct json_object *r = raw(e, fd, line);
        assert_string_equal(get(r, "error"), "the VM is not running (shutdown)");
        json_object_put(r);
    }
    assert_int_equal(e->fake.calls, 0);
    struct json_object *r = raw(e, fd, "{\"cmd\":\"info\"}\n");
    assert_string_equal(get(r, "name"), "t");
    json_object_put(r);
    r = raw(e, fd, "{\"cmd\":\"destroy\"}\n");
    assert_string_equal(get(r, "error"), "refused by the fake");   /* its handler ran */
    json_object_put(r);
    assert_int_equal(e->fake.calls, 2);
    close(fd);
}

static void long_line_closes(void **state)
{
    struct env *e = *state;
    char err[256];
    int fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    static char big[CTL_LINE_MAX + 10];
    memset(big, 'a', sizeof(big) - 1);
    send(fd, big, sizeof(big) - 1, 0);
    spin(e, 4);
    struct json_object *r = ctl_recv(fd, 1000, err, sizeof(err));
    assert_string_equal(get(r, "error"), "request line too long");
    json_object_put(r);
    assert_null(ctl_recv(fd, 1000, err, sizeof(err)));   /* closed */
    assert_string_equal(err, "the VM process closed the connection");
    close(fd);
}

static void wait_gets_the_stop(void **state)
{
    struct env *e = *state;
    char err[256];
    int fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    assert_int_equal(ctl_send(fd, CTL_WAIT, NULL), 0);
    spin(e, 3);
    assert_null(ctl_recv(fd, 100, err, sizeof(err)));   /* nothing yet */
    struct json_object *ev = json_object_new_object();
    json_object_object_add(ev, "reason", json_object_new_string("guest powered off"));
    ctl_server_notify_stopped(&e->srv, ev);
    json_object_put(ev);
    struct json_object *r = ctl_recv(fd, 1000, err, sizeof(err));
    assert_non_null(r);
    assert_string_equal(get(r, "event"), "stopped");
    assert_string_equal(get(r, "reason"), "guest powered off");
    json_object_put(r);
    close(fd);
}

static void console_replays_and_feeds(void **state)
{
    struct env *e = *state;
    char err[256], buf[128];
    ctl_server_console_output(&e->srv, (const uint8_t *)"boot log\n", 9);
    int fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    struct json_object *r = raw(e, fd, "{\"cmd\":\"console\"}\n");
    assert_string_equal(get(r, "ok"), "true");
    json_object_put(r);
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "boot log\n", 9);
    ctl_server_console_output(&e->srv, (const uint8_t *)"live", 4);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 4);
    /* A second client is refused while the first is attached. */
    int fd2 = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    r = raw(e, fd2, "{\"cmd\":\"console\"}\n");
    assert_string_equal(get(r, "error"), "the console is already attached by another `vireo console`");
    json_object_put(r);
    close(fd2);
    /* Input that the UART takes a little at a time all arrives, in order. */
    e->fake.take_max = 3;
    assert_int_equal(send(fd, "0123456789", 10, 0), 10);
    for (int i = 0; i < 50 && e->fake.input_len < 10; i++)
        spin(e, 1);
    assert_int_equal(e->fake.input_len, 10);
    assert_memory_equal(e->fake.input, "0123456789", 10);
    close(fd);
    spin(e, 2);
    /* After the first detaches, another may attach; the history is kept. */
    fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    r = raw(e, fd, "{\"cmd\":\"console\"}\n");
    assert_string_equal(get(r, "ok"), "true");
    json_object_put(r);
    assert_int_equal(recv(fd, buf, sizeof(buf), 0), 13);
    assert_memory_equal(buf, "boot log\nlive", 13);
    close(fd);
    spin(e, 2);
    e->fake.unavailable = "no console here";
    fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    r = raw(e, fd, "{\"cmd\":\"console\"}\n");
    assert_string_equal(get(r, "error"), "no console here");
    json_object_put(r);
    close(fd);
}

/* Every name is found at its own row, and the VM process's own handlers
 * answer what the table promises (a VM between boots, or preserved after
 * its stop: no struct vm). */
static void vm_process_keeps_the_protocol(void **state)
{
    struct env *e = *state;
    for (int i = 0; i < CTL_NCMDS; i++)
        assert_int_equal(ctl_cmd_lookup(ctl_cmds, ctl_cmds[i].name), i);
    assert_int_equal(ctl_cmd_lookup(ctl_cmds, "frobnicate"), -1);
    static const char cfg_text[] = "name = \"p\"\nkernel = \"/k\"\nvcpus = 2\n"
                                   "disk = ['/img,raw,xvda,rw']\nserial = \"file:/tmp/x\"\n";
    static struct vm_config cfg;
    char err[512];
    assert_int_equal(vm_config_parse(cfg_text, sizeof(cfg_text) - 1, "p.cfg", &cfg, err, sizeof(err)), 0);
    static struct vm_process_args a;
    a.cfg = &cfg;
    a.claim.domid = 7;
    static struct vmp p;
    memset(&p, 0, sizeof(p));
    p.a = &a;
    p.cfg = &cfg;
    p.state = VMP_SHUTDOWN;
    strcpy(p.last_stop, "guest powered off");
    assert_int_equal(vmp_running_or_err(&p, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM is not running (shutdown)");
    for (int i = 0; i < CTL_NCMDS; i++) {
        const struct ctl_cmd_def *d = &ctl_cmds[i];
        if (d->needs_running || d->after != CTL_REPLY)
            continue;
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "ok", json_object_new_boolean(1));
        if (d->handler(&p, NULL, r, err, sizeof(err)) < 0 || ctl_reply_check(i, r, err, sizeof(err)) < 0)
            fail_msg("%s: %s", d->name, err);
        if (i == CTL_INFO)
            assert_string_equal(get(r, "last_stop"), "guest powered off");
        json_object_put(r);
    }
    assert_int_equal(ctl_cmds[CTL_CONSOLE].handler(&p, NULL, NULL, err, sizeof(err)), -1);
    assert_string_equal(err, "the console goes to a file (serial=\"file:...\" in the config)");
    /* The answer to "wait", through the server. */
    int fd = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    assert_int_equal(ctl_send(fd, CTL_WAIT, NULL), 0);
    spin(e, 3);
    struct json_object *ev = vmp_stop_event(&p, 0, VM_ACTION_DESTROY);
    ctl_server_notify_stopped(&e->srv, ev);
    json_object_put(ev);
    struct json_object *r = ctl_reply_ok(CTL_WAIT, ctl_recv(fd, 1000, err, sizeof(err)), err, sizeof(err));
    if (!r)
        fail_msg("%s", err);
    assert_string_equal(get(r, "then"), "destroy");
    json_object_put(r);
    close(fd);
    vm_config_free(&cfg);
}

/* A command that holds something for its connection learns which one it
 * is, and hears when that connection ends; handlers outside see none. */
static void connections_are_told_apart(void **state)
{
    struct env *e = *state;
    char err[256];
    int a = ctl_open("t", err, sizeof(err)), b = ctl_open("t", err, sizeof(err));
    spin(e, 2);
    assert_int_equal(ctl_send(a, CTL_FREEZE, NULL), 0);
    spin(e, 3);
    struct json_object *r = ctl_reply_ok(CTL_FREEZE, ctl_recv(a, 1000, err, sizeof(err)), err, sizeof(err));
    assert_non_null(r);
    json_object_put(r);
    assert_int_equal(ctl_send(b, CTL_FREEZE, NULL), 0);
    spin(e, 3);
    json_object_put(ctl_recv(b, 1000, err, sizeof(err)));
    assert_int_equal(e->fake.nheld, 2);
    assert_true(e->fake.held[0] && e->fake.held[1] && e->fake.held[0] != e->fake.held[1]);
    assert_int_equal(ctl_server_current_conn(&e->srv), 0);
    unsigned before = e->fake.nclosed;
    close(a);
    spin(e, 3);
    assert_int_equal(e->fake.nclosed, before + 1);
    assert_int_equal(e->fake.closed[before], e->fake.held[0]);
    close(b);
    spin(e, 3);
    assert_int_equal(e->fake.closed[before + 1], e->fake.held[1]);
}

/* The VM process's freeze bookkeeping without a VM: a freeze whose
 * connection ends is lifted, and its thaw then says why; nobody else's
 * thaw passes. */
static void freeze_lifted_when_its_command_goes(void **state)
{
    (void)state;
    static struct vmp p;
    memset(&p, 0, sizeof(p));
    vmp_freeze_init(&p);
    char err[512];
    struct json_object *r = json_object_new_object();
    p.ctl.current_conn = 5;
    assert_int_equal(vmp_cmd_thaw(&p, NULL, r, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM is not frozen");
    p.freeze.active = true;
    p.freeze.conn = 5;
    p.ctl.current_conn = 6;
    assert_int_equal(vmp_cmd_thaw(&p, NULL, r, err, sizeof(err)), -1);
    assert_string_equal(err, "the VM was frozen by another command; only it may thaw it");
    assert_int_equal(vmp_cmd_unpause(&p, NULL, r, err, sizeof(err)), -1);
    vmp_freeze_conn_closed(&p, 6);   /* not the holder: nothing happens */
    assert_true(p.freeze.active);
    vmp_freeze_conn_closed(&p, 5);
    assert_false(p.freeze.active);
    p.ctl.current_conn = 5;
    assert_int_equal(vmp_cmd_thaw(&p, NULL, r, err, sizeof(err)), -1);
    assert_string_equal(err, "the freeze was lifted before thaw: the command that froze the VM went away; the guest "
                             "ran on, so what was taken may not be of one instant");
    json_object_put(r);
    vmp_freeze_fini(&p);
}

static void no_vm_named(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ctl_open("absent", err, sizeof(err)), -1);
    assert_string_equal(err, "no VM named 'absent' is running (vireo list shows those that are)");
}

static void rundir_claims(void **state)
{
    (void)state;
    char dir[] = "/tmp/vireo-test-rundir-XXXXXX", err[256];
    assert_non_null(mkdtemp(dir));
    setenv("VIREO_RUN_DIR", dir, 1);
    struct rundir_claim a, b, c;
    assert_int_equal(rundir_claim("web", &a, err, sizeof(err)), 0);
    assert_int_equal(a.domid, 1);
    assert_int_equal(rundir_set_pid(&a, 4242), 0);
    assert_int_equal(rundir_claim("web", &b, err, sizeof(err)), -1);
    assert_string_equal(err, "a VM named 'web' is already running (pid 4242); names are unique");
    assert_int_equal(rundir_pid("web"), 4242);
    char found[72];
    assert_int_equal(rundir_find_id(1, found), 0);   /* `vireo destroy 1` */
    assert_string_equal(found, "web");
    assert_int_equal(rundir_find_id(9, found), -1);
    assert_int_equal(rundir_claim("db", &c, err, sizeof(err)), 0);
    assert_int_equal(c.domid, 2);
    char names[8][72];
    assert_int_equal(rundir_list(names, 8, err, sizeof(err)), 2);
    assert_string_equal(names[0], "db");
    assert_string_equal(names[1], "web");
    /* The holder dies: the entry is stale, list drops it, the name is free. */
    close(a.lock_fd);
    assert_int_equal(rundir_pid("web"), 0);
    assert_int_equal(rundir_list(names, 8, err, sizeof(err)), 1);
    assert_string_equal(names[0], "db");
    char path[256];
    snprintf(path, sizeof(path), "%s/web", dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(rundir_claim("web", &b, err, sizeof(err)), 0);
    assert_int_equal(b.domid, 3);   /* IDs are not reused */
    close(b.lock_fd);
    close(c.lock_fd);
    rundir_release("web");
    rundir_release("db");
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

/* A process other than the caller tries the create lock without waiting:
 * 1 if it got it. */
static int probe_create_lock(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(path, O_RDWR);
        struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
        _exit(fd >= 0 && fcntl(fd, F_SETLK, &l) == 0 ? 1 : 0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void create_lock_serializes(void **state)
{
    (void)state;
    char dir[] = "/tmp/vireo-test-rundir-XXXXXX", err[256], path[256];
    assert_non_null(mkdtemp(dir));
    setenv("VIREO_RUN_DIR", dir, 1);
    snprintf(path, sizeof(path), "%s/.create-lock", dir);
    int fd = rundir_create_lock(err, sizeof(err));
    assert_true(fd >= 0);
    /* The VM process, forked while the lock is held, keeps the descriptor
     * but must not keep the lock. */
    pid_t vm = fork();
    if (vm == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(probe_create_lock(path), 0);
    rundir_create_unlock(fd);
    assert_int_equal(probe_create_lock(path), 1);
    kill(vm, SIGKILL);
    waitpid(vm, NULL, 0);
    snprintf(path, sizeof(path), "rm -rf %s", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(requests_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(needs_running, setup, teardown),
        cmocka_unit_test_setup_teardown(long_line_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_gets_the_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(console_replays_and_feeds, setup, teardown),
        cmocka_unit_test_setup_teardown(vm_process_keeps_the_protocol, setup, teardown),
        cmocka_unit_test_setup_teardown(no_vm_named, setup, teardown),
        cmocka_unit_test_setup_teardown(connections_are_told_apart, setup, teardown),
        cmocka_unit_test(freeze_lifted_when_its_command_goes),
        cmocka_unit_test(rundir_claims),
        cmocka_unit_test(create_lock_serializes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

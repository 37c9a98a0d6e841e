/* The control socket (server and client in one process, the loop run by
 * hand) and the run directory's claims, stale entries and IDs. */
#include <setjmp.h>
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

struct fake {
    const char *unavailable;
    uint8_t input[256];
    size_t input_len;
    size_t take_max;   /* console bytes accepted per call, as a UART FIFO with little room */
};

static int fake_command(void *opaque, const char *cmd, struct json_object *req, struct json_object *reply,
                        char *err, size_t errlen)
{
    (void)opaque;
    (void)req;
    if (!strcmp(cmd, "info")) {
        json_object_object_add(reply, "name", json_object_new_string("t"));
        return 0;
    }
    if (!strcmp(cmd, "big")) {   /* larger than any request may be */
        static char s[3 * CTL_LINE_MAX];
        memset(s, 'b', sizeof(s) - 1);
        json_object_object_add(reply, "big", json_object_new_string(s));
        return 0;
    }
    snprintf(err, errlen, "unknown command '%s'", cmd);
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

static const char *fake_unavailable(void *opaque)
{
    return ((struct fake *)opaque)->unavailable;
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
    struct ctl_handlers h = {.opaque = &e.fake, .command = fake_command, .console_input = fake_input,
                             .console_unavailable = fake_unavailable};
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
    r = raw(e, fd, "{\"cmd\":\"big\"}\n");
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
        r = ctl_call("t", "nope", NULL, err, sizeof(err));
        _exit(r == NULL && !strcmp(err, "unknown command 'nope'") ? 0 : 1);
    }
    int st = 0;
    for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
        spin(e, 1);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
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
    assert_int_equal(ctl_send(fd, "wait", NULL), 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(requests_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(long_line_closes, setup, teardown),
        cmocka_unit_test_setup_teardown(wait_gets_the_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(console_replays_and_feeds, setup, teardown),
        cmocka_unit_test_setup_teardown(no_vm_named, setup, teardown),
        cmocka_unit_test(rundir_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

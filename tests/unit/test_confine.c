/* The confinement (src/confine): each kind of thread under its seccomp
 * filter is stopped at a forbidden call with the line naming it, and
 * keeps the calls it needs; privileges are dropped for good; the jail
 * shows no host file; the cgroup is refused where the host cannot give
 * one; io_uring rings carry only the engine's operations.  Each case runs
 * in a child process, which a filter may kill. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <liburing.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "block/aio_impl.h"
#include "confine/cgroup.h"
#include "confine/jail.h"
#include "confine/privs.h"
#include "confine/seccomp.h"
#include "confine/seccomp_bpf.h"
#include "confine/seccomp_prebuilt.h"
#include "bootloader/sandbox.h"
#include "util/procfs.h"

/* ---- running a case in a child ---- */

struct outcome {
    int status;          /* waitpid's */
    char out[4096];      /* what the child wrote to stderr */
};

/* The child's end: no atexit handlers, no sanitizer exit hooks (a leak
 * check would make calls its filter forbids). */
static void leave(int code)
{
    syscall(SYS_exit_group, code);
    _exit(code);
}

static void run_child(void (*fn)(void *), void *arg, struct outcome *o)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], STDERR_FILENO);
        close(p[1]);
        fn(arg);
        leave(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof(o->out) - 1 && (r = read(p[0], o->out + n, sizeof(o->out) - 1 - n)) > 0)
        n += (size_t)r;
    o->out[n] = 0;
    close(p[0]);
    assert_int_equal(waitpid(pid, &o->status, 0), pid);
}

static void expect_sigsys(const struct outcome *o, const char *line)
{
    if (!WIFSIGNALED(o->status) || WTERMSIG(o->status) != SIGSYS)
        fail_msg("expected death by SIGSYS, got status 0x%x; stderr: %s", o->status, o->out);
    if (!strstr(o->out, line))
        fail_msg("stderr lacks '%s': %s", line, o->out);
}

static void expect_exit0(const struct outcome *o)
{
    if (!WIFEXITED(o->status) || WEXITSTATUS(o->status) != 0)
        fail_msg("expected exit 0, got status 0x%x; stderr: %s", o->status, o->out);
}

/* ---- seccomp ---- */

struct sc_case {
    enum confine_process process;
    bool boot_helper;
    enum confine_kind kind;    /* the thread that acts (CONFINE_MAIN: main itself) */
    void (*act)(void);
};

static void confine_or_die(const struct sc_case *c)
{
    char err[256];
    struct confine_policy pol = {.process = c->process, .boot_helper = c->boot_helper, .proc_fd = -1};
    if (confine_seccomp_prepare(&pol, err, sizeof(err)) < 0 || confine_seccomp_enter_main(err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        leave(3);
    }
}

static void *thread_body(void *arg)
{
    const struct sc_case *c = arg;
    static const char *const names[CONFINE_NKINDS] = {"t-main", "t-vcpu", "t-io", "t-aio"};
    confine_thread(c->kind, names[c->kind]);
    c->act();
    return NULL;
}

static void sc_child(void *arg)
{
    const struct sc_case *c = arg;
    confine_or_die(c);
    if (c->kind == CONFINE_MAIN) {
        c->act();
        return;
    }
    /* Created after main's filter, as every VM thread is: it runs under
     * main's and its own. */
    pthread_t t;
    if (pthread_create(&t, NULL, thread_body, (void *)c) != 0)
        leave(4);
    pthread_join(t, NULL);
}

static struct outcome run_sc(enum confine_process process, bool boot_helper, enum confine_kind kind, void (*act)(void))
{
    struct sc_case c = {process, boot_helper, kind, act};
    struct outcome o;
    run_child(sc_child, &c, &o);
    return o;
}

static void do_socket(void) { syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }
static void do_epoll_create(void) { epoll_create1(EPOLL_CLOEXEC); }
static void do_kvm_create_vm(void) { ioctl(-1, KVM_CREATE_VM, 0); }
static void do_openat_dirfd(void) { syscall(SYS_openat, 0, "passwd", O_RDONLY); }
static void do_openat_write(void) { syscall(SYS_openat, AT_FDCWD, "/tmp/x", O_WRONLY | O_CREAT | O_CLOEXEC, 0600); }
/* What glibc's malloc does when a thread's arena first shrinks: the open
 * fails (EACCES) and the thread goes on. */
static void do_openat_path(void)
{
    long r = syscall(SYS_openat, AT_FDCWD, "/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
    leave(r == -1 && errno == EACCES ? 0 : 3);
}
static void do_exec_mapping(void) { mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
static void do_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        leave(0);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

/* A call no filter allows, in every kind of thread. */
static void forbidden_in_every_kind(void **state)
{
    (void)state;
    static const char *const lines[CONFINE_NKINDS] = {
        "the main thread main made the system call socket (41), which its filter forbids",
        "the vCPU thread t-vcpu made the system call socket (41), which its filter forbids",
        "the I/O thread t-io made the system call socket (41), which its filter forbids",
        "the aio worker thread t-aio made the system call socket (41), which its filter forbids",
    };
    for (int k = 0; k < CONFINE_NKINDS; k++) {
        struct outcome o = run_sc(CONFINE_PROCESS_VM, false, (enum confine_kind)k, do_socket);
        expect_sigsys(&o, lines[k]);
    }
}

/* Calls main's filter allows but a thread kind's does not: the thread's own
 * filter narrows main's (filters stack). */
static void each_kind_narrows_main(void **state)
{
    (void)state;
    struct outcome o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_VCPU, do_epoll_create);
    expect_sigsys(&o, "the vCPU thread t-vcpu made the system call epoll_create1 (291)");
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_IOTHREAD, do_kvm_create_vm);
    expect_sigsys(&o, "the I/O thread t-io made the system call ioctl (16)");
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_AIO_WORKER, do_epoll_create);
    expect_sigsys(&o, "the aio worker thread t-aio made the system call epoll_create1 (291)");
    /* No file is opened through a directory descriptor once confined,
     * not even by main (its /proc descriptor aside). */
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_MAIN, do_openat_dirfd);
    expect_sigsys(&o, "the main thread main made the system call openat (257)");
    /* Only glibc's read-only pattern fails quietly (path_opens_fail_quietly). */
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_IOTHREAD, do_openat_write);
    expect_sigsys(&o, "the I/O thread t-io made the system call openat (257)");
    /* `vireo disk serve` has no KVM. */
    o = run_sc(CONFINE_PROCESS_DISK_SERVE, false, CONFINE_MAIN, do_kvm_create_vm);
    expect_sigsys(&o, "the main thread main made the system call ioctl (16)");
}

/* A path opened from the working directory fails in every kind of
 * thread, without killing the process. */
static void path_opens_fail_quietly(void **state)
{
    (void)state;
    for (int k = 0; k < CONFINE_NKINDS; k++) {
        struct outcome o = run_sc(CONFINE_PROCESS_VM, false, (enum confine_kind)k, do_openat_path);
        expect_exit0(&o);
    }
}

/* Memory is never made executable, in any thread. */
static void no_executable_memory(void **state)
{
    (void)state;
    for (int k = 0; k < CONFINE_NKINDS; k++) {
        struct outcome o = run_sc(CONFINE_PROCESS_VM, false, (enum confine_kind)k, do_exec_mapping);
        expect_sigsys(&o, "made the system call mmap (9)");
    }
}

/* Processes only for the boot loader's child: fork is refused otherwise. */
static void fork_only_with_the_boot_helper(void **state)
{
    (void)state;
    struct outcome o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_MAIN, do_fork);
    expect_sigsys(&o, "the main thread main made the system call clone (56)");
    o = run_sc(CONFINE_PROCESS_VM, true, CONFINE_MAIN, do_fork);
    expect_exit0(&o);
}

/* The boot loader's sandbox started by a confined VM's main thread (as
 * --boot disk does, inside vm_create): its address-space limit is measured
 * through the confinement's /proc/self descriptor, never by path (an
 * openat of /proc/self/statm by path killed every confined --boot disk VM). */
static int sandbox_says_ok(void *ctx, int out_fd)
{
    (void)ctx;
    return write(out_fd, "ok", 2) == 2 ? 0 : 1;
}

static void boot_sandbox_under_main(void *arg)
{
    (void)arg;
    int proc = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0)
        leave(5);
    procfs_set_self(proc);
    char err[256];
    struct confine_policy pol = {.process = CONFINE_PROCESS_VM, .boot_helper = true, .proc_fd = proc};
    if (confine_seccomp_prepare(&pol, err, sizeof(err)) < 0 || confine_seccomp_enter_main(err, sizeof(err)) < 0) {
        fprintf(stderr, "setup: %s\n", err);
        leave(3);
    }
    struct sandbox sb;
    struct sandbox_limits lim = {.mem_bytes = 256u << 20, .timeout_ms = 10000};
    char got[3] = {0};
    if (sandbox_start(&sb, NULL, 0, &lim, sandbox_says_ok, NULL, err, sizeof(err)) < 0 ||
        sandbox_read(&sb, got, 2, err, sizeof(err)) != 0 || sandbox_finish(&sb, false, err, sizeof(err)) < 0) {
        fprintf(stderr, "sandbox: %s\n", err);
        leave(6);
    }
    leave(strcmp(got, "ok") ? 7 : 0);
}

static void boot_sandbox_in_a_confined_vm(void **state)
{
    (void)state;
    struct outcome o;
    run_child(boot_sandbox_under_main, NULL, &o);
    expect_exit0(&o);
}

/* What each kind needs passes its filter (the kernel answers: a bad
 * descriptor, not SIGSYS). */
static void vcpu_allowed(void)
{
    if (write(STDERR_FILENO, "", 0) != 0 || ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF ||
        ioctl(-1, KVM_IRQ_LINE, 0) != -1 || ioctl(-1, TUNSETOFFLOAD, 0) != -1)
        leave(11);
    void *m = malloc(1 << 20);   /* mmap, munmap */
    free(m);
}

static void io_allowed(void)
{
    struct epoll_event ev;
    if (epoll_wait(-1, &ev, 1, 0) != -1 || errno != EBADF || syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0) != -1 ||
        errno != EBADF || pread(-1, &ev, 1, 0) != -1 || fdatasync(-1) != -1)
        leave(12);
}

/* A VM's I/O threads also serve virtio-net's control queue. */
static void vm_io_allowed(void)
{
    io_allowed();
    if (ioctl(-1, TUNSETQUEUE, 0) != -1 || ioctl(-1, TUNSETOFFLOAD, 0) != -1)
        leave(15);
}

static void aio_allowed(void)
{
    char b;
    if (pread(-1, &b, 1, 0) != -1 || errno != EBADF || pwrite(-1, &b, 1, 0) != -1 || fdatasync(-1) != -1 ||
        fallocate(-1, 0, 0, 1) != -1 || write(STDERR_FILENO, "", 0) != 0)
        leave(13);
}

static void main_allowed(void)
{
    int efd = epoll_create1(EPOLL_CLOEXEC);
    if (efd < 0 || ioctl(-1, KVM_CREATE_VM, 0) != -1 || errno != EBADF || accept4(-1, NULL, NULL, 0) != -1)
        leave(14);
    close(efd);
}

static void allowed_calls_pass(void **state)
{
    (void)state;
    struct outcome o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_VCPU, vcpu_allowed);
    expect_exit0(&o);
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_IOTHREAD, vm_io_allowed);
    expect_exit0(&o);
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_AIO_WORKER, aio_allowed);
    expect_exit0(&o);
    o = run_sc(CONFINE_PROCESS_VM, false, CONFINE_MAIN, main_allowed);
    expect_exit0(&o);
    o = run_sc(CONFINE_PROCESS_DISK_SERVE, false, CONFINE_IOTHREAD, io_allowed);
    expect_exit0(&o);
    o = run_sc(CONFINE_PROCESS_DISK_SERVE, false, CONFINE_IOTHREAD, vm_io_allowed);   /* no TAP there */
    expect_sigsys(&o, "the I/O thread t-io made the system call ioctl (16)");
}

/* The programs compiled at build time, with the run-time /proc/self
 * descriptor written in, are the very programs libseccomp makes for the
 * same policy now: for both processes, with and without the boot helper,
 * without /proc/self and with descriptors of several sizes, for this
 * process's pid and others. */
static void prebuilt_equals_libseccomp(void **state)
{
    (void)state;
    static const int fds[] = {-1, 0, 3, 9, 77, 255, 1023, 65535};
    unsigned checked = 0;
    for (int proc = 0; proc < 2; proc++)
        for (int bh = 0; bh < 2; bh++)
            for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
                for (int k = 0; k < CONFINE_NKINDS; k++) {
                    struct confine_policy p = {
                        .process = proc, .boot_helper = bh, .proc_fd = fds[i], .pid = i % 2 ? 0 : 4194304 - i,
                    };
                    const struct confine_prebuilt *b = confine_prebuilt_find(&p, (enum confine_kind)k);
                    assert_non_null(b);
                    struct sock_fprog mine, ref;
                    assert_int_equal(confine_prebuilt_program(b, &p, &mine), 0);
                    scmp_filter_ctx f = confine_policy_build((enum confine_kind)k, &p);
                    assert_non_null(f);
                    assert_int_equal(confine_bpf_export(f, &ref), 0);
                    seccomp_release(f);
                    if (mine.len != ref.len || memcmp(mine.filter, ref.filter, ref.len * sizeof(*ref.filter))) {
                        fail_msg("process %d boot helper %d proc fd %d kind %s: the prebuilt program (%u "
                                 "instructions) is not libseccomp's (%u)", proc, bh, fds[i],
                                 confine_kind_name(k), mine.len, ref.len);
                    }
                    free(mine.filter);
                    free(ref.filter);
                    checked++;
                }
    assert_int_equal(checked, 2 * 2 * 8 * CONFINE_NKINDS);
    /* main's filter of a VM names the descriptor: the substitution is live */
    struct confine_policy p = {.process = CONFINE_PROCESS_VM, .proc_fd = 5};
    const struct confine_prebuilt *b = confine_prebuilt_find(&p, CONFINE_MAIN);
    unsigned fd_at = 0;
    for (unsigned i = 0; i < b->npatch; i++)
        fd_at += b->patch[i].what == CONFINE_PATCH_PROC_FD;
    assert_true(fd_at > 0 && fd_at < b->npatch);
    /* the names the SIGSYS line uses */
    assert_string_equal(confine_call_names[SYS_socket], "socket");
    assert_string_equal(confine_call_names[SYS_openat], "openat");
}

static void violation_line(void **state)
{
    (void)state;
    char buf[320];
    confine_violation_line(buf, sizeof(buf), "vCPU", "vireo-vcpu3", 100000);
    assert_string_equal(buf, "vireo: seccomp: the vCPU thread vireo-vcpu3 made the system call 100000, which its filter "
                             "forbids: the process stops (--seccomp=off or seccomp = 0 turns the filters off, for "
                             "debugging)\n");
    confine_violation_line(buf, 40, "vCPU", "x", 1);   /* cut, terminated */
    assert_int_equal(strlen(buf), 39);
}

#ifdef VIREO_TEST_HOOKS
static void hook_child(void *arg)
{
    setenv("VIREO_TEST_SECCOMP_VIOLATE", arg, 1);
    struct sc_case c = {CONFINE_PROCESS_VM, false, CONFINE_IOTHREAD, do_epoll_create};
    if (!strcmp(arg, "main"))
        c.kind = CONFINE_MAIN;
    confine_or_die(&c);
    if (c.kind != CONFINE_MAIN) {
        pthread_t t;
        pthread_create(&t, NULL, thread_body, &c);
        pthread_join(t, NULL);
    }
}
#endif

/* The integration tests' hook makes the chosen kind of thread break its
 * filter as soon as it has it. */
static void test_hook(void **state)
{
    (void)state;
#ifdef VIREO_TEST_HOOKS
    struct outcome o;
    run_child(hook_child, "io", &o);
    expect_sigsys(&o, "the I/O thread t-io made the system call socket (41)");
    run_child(hook_child, "main", &o);
    expect_sigsys(&o, "the main thread main made the system call socket (41)");
#else
    skip();
#endif
}

/* ---- privileges ---- */

static bool status_line(const char *key, char *val, size_t len)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        size_t k = strlen(key);
        if (!strncmp(line, key, k) && line[k] == ':') {
            const char *v = line + k + 1;
            v += strspn(v, " \t");
            snprintf(val, len, "%.*s", (int)strcspn(v, "\n"), v);
            found = true;
        }
    }
    fclose(f);
    return found;
}

static void drop_child(void *arg)
{
    (void)arg;
    char err[512], v[128];
    struct confine_user u;
    if (confine_user_resolve("nobody", &u, err, sizeof(err)) < 0 || !u.change ||
        confine_privs_drop(&u, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        leave(20);
    }
    char want[64];
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)u.uid, (unsigned)u.uid, (unsigned)u.uid, (unsigned)u.uid);
    if (!status_line("Uid", v, sizeof(v)) || strcmp(v, want))
        leave(21);
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)u.gid, (unsigned)u.gid, (unsigned)u.gid, (unsigned)u.gid);
    if (!status_line("Gid", v, sizeof(v)) || strcmp(v, want))
        leave(22);
    if (!status_line("Groups", v, sizeof(v)) || v[0])
        leave(23);
    static const char *const sets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++)
        if (!status_line(sets[i], v, sizeof(v)) || strcmp(v, "0000000000000000")) {
            fprintf(stderr, "%s %s\n", sets[i], v);
            leave(24);
        }
    if (!status_line("NoNewPrivs", v, sizeof(v)) || strcmp(v, "1"))
        leave(25);
    /* No way back. */
    if (setuid(0) == 0 || open("/etc/shadow", O_RDONLY | O_CLOEXEC) >= 0)
        leave(26);
}

static void drop_to_an_unprivileged_user(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct outcome o;
    run_child(drop_child, NULL, &o);
    expect_exit0(&o);
}

static void resolve_users(void **state)
{
    (void)state;
    struct confine_user u;
    char err[512];
    assert_int_equal(confine_user_resolve("no-such-user-vireo-test", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "user 'no-such-user-vireo-test': no such user");
    assert_int_equal(confine_user_resolve("12:x", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "user '12:x': expected a user name or UID:GID (numbers)");
    assert_int_equal(confine_user_resolve("4294967295:1", &u, err, sizeof(err)), -1);
    if (geteuid() != 0)
        return;
    assert_int_equal(confine_user_resolve("0:0", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "user '0:0' has uid 0: that is root (say root to keep root's privileges)");
    assert_int_equal(confine_user_resolve("1234:5678", &u, err, sizeof(err)), 0);
    assert_true(u.change);
    assert_int_equal(u.uid, 1234);
    assert_int_equal(u.gid, 5678);
    assert_int_equal(confine_user_resolve("root", &u, err, sizeof(err)), 0);
    assert_true(u.keep_root);
    assert_false(u.change);
    /* The default, whether this host has its user or not. */
    int r = confine_user_resolve(NULL, &u, err, sizeof(err));
    if (getpwnam(CONFINE_DEFAULT_USER)) {
        assert_int_equal(r, 0);
        assert_true(u.change);
        assert_string_equal(u.name, CONFINE_DEFAULT_USER);
    } else {
        assert_int_equal(r, -1);
        assert_non_null(strstr(err, "there is no such user: create it (useradd --system"));
    }
}

static void unprivileged_child(void *arg)
{
    (void)arg;
    char err[512];
    struct confine_user u;
    if (confine_user_resolve("nobody", &u, err, sizeof(err)) < 0 || confine_privs_drop(&u, err, sizeof(err)) < 0)
        leave(30);
    /* Now as nobody: no other user, no root, the default is ourselves. */
    if (confine_user_resolve("daemon", &u, err, sizeof(err)) != -1 || !strstr(err, "changing user needs root"))
        leave(31);
    if (confine_user_resolve("root", &u, err, sizeof(err)) != -1)
        leave(32);
    if (confine_user_resolve(NULL, &u, err, sizeof(err)) < 0 || u.change || u.keep_root ||
        confine_privs_drop(&u, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        leave(33);
    }
}

static void unprivileged_caller(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct outcome o;
    run_child(unprivileged_child, NULL, &o);
    expect_exit0(&o);
}

/* ---- the jail ---- */

static void jail_child(void *arg)
{
    (void)arg;
    char err[512];
    int proc_fd;
    const char *how;
    if (confine_jail_enter(&proc_fd, &how, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        leave(40);
    }
    fprintf(stderr, "jail by %s\n", how);
    struct stat st;
    if (stat("/etc/passwd", &st) == 0 || errno != ENOENT || stat("/dev/null", &st) == 0)
        leave(41);
    if (mkdir("/x", 0700) == 0 || errno != EROFS)
        leave(42);
    if (proc_fd < 0) {
        fprintf(stderr, "no proc instance (a kernel before 5.8?)\n");
        leave(43);
    }
    int fd = openat(proc_fd, "status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        leave(44);
    close(fd);
    struct confine_user u;
    if (confine_user_resolve("nobody", &u, err, sizeof(err)) < 0 || confine_privs_drop(&u, err, sizeof(err)) < 0)
        leave(45);
    /* hidepid=invisible: the process itself, nobody else (pid 1 here). */
    fd = openat(proc_fd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        leave(46);
    close(fd);
    if (openat(proc_fd, "../1/status", O_RDONLY | O_CLOEXEC) >= 0 || errno != ENOENT)
        leave(47);
    if (openat(proc_fd, "../sys/kernel/hostname", O_RDONLY | O_CLOEXEC) >= 0)   /* subset=pid */
        leave(48);
}

static void jail_holds_nothing(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    struct outcome o;
    run_child(jail_child, NULL, &o);
    expect_exit0(&o);
}

/* ---- cgroup ---- */

static char tmpdir[256];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A host without the controllers (cgroup v1 or hybrid, as the project's
 * build machines): 0 and why, nothing created. */
static void cgroup_unavailable(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/vireo-cg-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char path[512], err[512], file[512];
    struct confine_cgroup_limits l = {256 << 20, 64};
    setenv("VIREO_CGROUP_ROOT", tmpdir, 1);
    assert_int_equal(confine_cgroup_join("vm-x", &l, path, sizeof(path), err, sizeof(err)), 0);
    assert_non_null(strstr(err, "cgroup.controllers"));
    snprintf(file, sizeof(file), "%s/cgroup.controllers", tmpdir);
    write_text(file, "cpuset cpu io hugetlb\n");
    assert_int_equal(confine_cgroup_join("vm-x", &l, path, sizeof(path), err, sizeof(err)), 0);
    assert_non_null(strstr(err, "lacks the memory controller"));
    write_text(file, "cpu io memory hugetlb\n");
    assert_int_equal(confine_cgroup_join("vm-x", &l, path, sizeof(path), err, sizeof(err)), 0);
    assert_non_null(strstr(err, "lacks the pids controller"));
    snprintf(file, sizeof(file), "%s/%s", tmpdir, CONFINE_CGROUP_SLICE);
    assert_int_equal(access(file, F_OK), -1);
    unsetenv("VIREO_CGROUP_ROOT");
    snprintf(file, sizeof(file), "%s/cgroup.controllers", tmpdir);
    unlink(file);
    rmdir(tmpdir);
}

/* The real thing, where this host has it (the test host does; the
 * integration suite checks a running VM's limits there). */
static void cgroup_child(void *arg)
{
    (void)arg;
    char path[512], err[512], leaf[32], v[64];
    snprintf(leaf, sizeof(leaf), "run-%d", (int)getpid());
    struct confine_cgroup_limits l = {300ULL << 20, 77};
    if (confine_cgroup_join(leaf, &l, path, sizeof(path), err, sizeof(err)) != 1) {
        fprintf(stderr, "%s\n", err);
        leave(50);
    }
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f || !fgets(v, sizeof(v), f) || !strstr(v, leaf))
        leave(51);
    fclose(f);
    char file[600];
    snprintf(file, sizeof(file), "%s/memory.max", path);
    f = fopen(file, "re");
    if (!f || !fgets(v, sizeof(v), f) || strtoull(v, NULL, 10) != 300ULL << 20)
        leave(52);
    fclose(f);
    snprintf(file, sizeof(file), "%s/pids.max", path);
    f = fopen(file, "re");
    if (!f || !fgets(v, sizeof(v), f) || atoi(v) != 77)
        leave(53);
    fclose(f);
}

static void cgroup_limits(void **state)
{
    (void)state;
    char buf[256] = "";
    FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
    if (f) {
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = 0;
        fclose(f);
    }
    if (geteuid() != 0 || !strstr(buf, "memory") || !strstr(buf, "pids")) {
        fprintf(stderr, "# no cgroup v2 memory and pids controllers on this host: skipped\n");
        skip();
    }
    struct outcome o;
    run_child(cgroup_child, NULL, &o);
    expect_exit0(&o);
}

/* ---- io_uring ---- */

static void uring_restricted(void **state)
{
    (void)state;
    struct event_loop loop;
    assert_int_equal(event_loop_init(&loop), 0);
    event_loop_set_owner(&loop);
    char why[256];
    struct aio_engine *e = aio_engine_new(&loop, AIO_IO_URING, 32, why, sizeof(why));
    if (!e) {
        fprintf(stderr, "# io_uring unavailable here (%s): skipped\n", why);
        event_loop_destroy(&loop);
        skip();
    }
    assert_true(aio_uring_restricted(e));
    /* Not among the engine's four: refused by the ring itself. */
    assert_int_equal(aio_uring_try_opcode(e, IORING_OP_OPENAT), -EACCES);
    assert_int_equal(aio_uring_try_opcode(e, IORING_OP_CONNECT), -EACCES);
    assert_int_equal(aio_uring_try_opcode(e, IORING_OP_NOP), -EACCES);
    /* One of them: it goes through and fails on its (absent) file. */
    assert_int_equal(aio_uring_try_opcode(e, IORING_OP_READV), -EBADF);
    assert_int_equal(aio_uring_try_opcode(e, IORING_OP_FSYNC), -EBADF);
    aio_engine_free(e);
    event_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forbidden_in_every_kind),
        cmocka_unit_test(each_kind_narrows_main),
        cmocka_unit_test(path_opens_fail_quietly),
        cmocka_unit_test(no_executable_memory),
        cmocka_unit_test(fork_only_with_the_boot_helper),
        cmocka_unit_test(boot_sandbox_in_a_confined_vm),
        cmocka_unit_test(allowed_calls_pass),
        cmocka_unit_test(prebuilt_equals_libseccomp),
        cmocka_unit_test(violation_line),
        cmocka_unit_test(test_hook),
        cmocka_unit_test(drop_to_an_unprivileged_user),
        cmocka_unit_test(resolve_users),
        cmocka_unit_test(unprivileged_caller),
        cmocka_unit_test(jail_holds_nothing),
        cmocka_unit_test(cgroup_unavailable),
        cmocka_unit_test(cgroup_limits),
        cmocka_unit_test(uring_restricted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

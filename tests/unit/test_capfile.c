/* util/capfile: files root appends to for the guest (the VM log, a serial
 * file): planted links and special files are refused, and endless
 * writing keeps the file and its one rotation under the cap. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "toolstack/vm_log.h"
#include "util/capfile.h"
#include "util/log.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/vireo-test-capfile-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static const char *at(const char *name)
{
    static char paths[4][256];
    static int i;
    char *p = paths[i++ % 4];
    snprintf(p, 256, "%s/%s", dir, name);
    return p;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 ? st.st_size : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    static char buf[3 << 20];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void refuses_what_was_planted(void **state)
{
    (void)state;
    struct capfile f;
    char err[512];
    write_file(at("precious"), "precious\n");
    /* A symbolic link (also a dangling one: it would create its target). */
    assert_int_equal(symlink(at("precious"), at("link")), 0);
    assert_int_equal(capfile_open(&f, at("link"), 4096, 0600, err, sizeof(err)), -1);
    assert_int_equal(errno, ELOOP);
    char want[512];
    snprintf(want, sizeof(want), "%s: is a symbolic link; refusing to follow it (it could name any file)", at("link"));
    assert_string_equal(err, want);
    assert_int_equal(symlink(at("nowhere"), at("dangling")), 0);
    assert_int_equal(capfile_open(&f, at("dangling"), 4096, 0600, err, sizeof(err)), -1);
    assert_int_equal(size_of(at("nowhere")), -1);
    /* A FIFO: refused at once, not waited on for a reader. */
    assert_int_equal(mkfifo(at("fifo"), 0600), 0);
    assert_int_equal(capfile_open(&f, at("fifo"), 4096, 0600, err, sizeof(err)), -1);
    assert_int_equal(errno, EINVAL);
    assert_non_null(strstr(err, "not a regular file"));
    /* A device. */
    assert_int_equal(capfile_open(&f, "/dev/null", 4096, 0600, err, sizeof(err)), -1);
    assert_int_equal(errno, EINVAL);
    /* A hard link to another file. */
    assert_int_equal(link(at("precious"), at("hard")), 0);
    assert_int_equal(capfile_open(&f, at("hard"), 4096, 0600, err, sizeof(err)), -1);
    assert_int_equal(errno, EMLINK);
    assert_non_null(strstr(err, "has 2 hard links"));
    assert_string_equal(read_file(at("precious")), "precious\n");
    /* A plain new file is made with the mode asked for, close-on-exec. */
    assert_int_equal(capfile_open(&f, at("new"), 4096, 0600, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(at("new"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(fcntl(f.fd, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(f.fd, F_GETFL) & O_NONBLOCK);
    capfile_close(&f);
}

/* 10 MiB written 4 KiB at a time (a guest printing without end): the file
 * and PATH.1 each stay within the cap, and hold the latest output. */
static void endless_writing_stays_under_the_cap(void **state)
{
    (void)state;
    static const uint64_t caps[] = {CAPFILE_MIN_MAX, 64 << 10, CAPFILE_DEFAULT_MAX};
    for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
        struct capfile f;
        char err[512], name[32];
        snprintf(name, sizeof(name), "flood%zu", k);
        const char *path = at(name);
        char old[300];
        snprintf(old, sizeof(old), "%s.1", path);
        write_file(old, "an older rotation\n");
        assert_int_equal(capfile_open(&f, path, caps[k], 0600, err, sizeof(err)), 0);
        char chunk[4096];
        unsigned n = 0;
        for (uint64_t total = 0; total < (10u << 20); total += sizeof(chunk)) {
            memset(chunk, 'a' + (char)(n % 26), sizeof(chunk));
            int m = snprintf(chunk, sizeof(chunk), "chunk %u\n", n++);
            chunk[m] = '-';   /* no NUL in the file */
            chunk[sizeof(chunk) - 1] = '\n';
            capfile_write(&f, chunk, sizeof(chunk));
            assert_true((uint64_t)size_of(path) <= caps[k]);
        }
        assert_true((uint64_t)size_of(old) <= caps[k]);
        assert_true(f.rotations >= (10u << 20) / caps[k] - 1);
        char last[32];
        snprintf(last, sizeof(last), "chunk %u\n", n - 1);
        assert_non_null(strstr(read_file(path), last));   /* the newest output is kept */
        capfile_close(&f);
    }
    /* A write larger than the cap keeps only what fits. */
    struct capfile f;
    char err[512];
    assert_int_equal(capfile_open(&f, at("big"), CAPFILE_MIN_MAX, 0600, err, sizeof(err)), 0);
    static char big[3 * CAPFILE_MIN_MAX];
    memset(big, 'x', sizeof(big));
    capfile_write(&f, big, sizeof(big));
    assert_int_equal(size_of(at("big")), CAPFILE_MIN_MAX);
    capfile_close(&f);
}

/* A file already over the cap is rotated by its first write. */
static void existing_file_over_the_cap(void **state)
{
    (void)state;
    static char big[2 * CAPFILE_MIN_MAX];
    memset(big, 'y', sizeof(big) - 1);
    write_file(at("old"), big);
    struct capfile f;
    char err[512];
    assert_int_equal(capfile_open(&f, at("old"), CAPFILE_MIN_MAX, 0600, err, sizeof(err)), 0);
    capfile_write(&f, "new\n", 4);
    assert_string_equal(read_file(at("old")), "new\n");
    assert_int_equal(size_of(at("old.1")), (off_t)sizeof(big) - 1);
    capfile_close(&f);
}

/* Someone swaps PATH and PATH.1 for symlinks while the files are open: a
 * rotation resolves no path, so it neither follows nor moves them; it
 * goes on in the files opened at the start, wherever they are now. */
static void swapped_for_a_symlink(void **state)
{
    (void)state;
    write_file(at("precious"), "precious\n");
    struct capfile f;
    char err[512];
    assert_int_equal(capfile_open(&f, at("log"), CAPFILE_MIN_MAX, 0600, err, sizeof(err)), 0);
    assert_int_equal(size_of(at("log.1")), 0);   /* created at the start */
    assert_int_equal(rename(at("log"), at("moved")), 0);
    assert_int_equal(rename(at("log.1"), at("moved.1")), 0);
    assert_int_equal(symlink(at("precious"), at("log")), 0);
    assert_int_equal(symlink(at("precious"), at("log.1")), 0);
    static char line[1024];
    for (int i = 0; i < 20; i++) {
        memset(line, 'a' + i, sizeof(line));
        capfile_write(&f, line, sizeof(line));
    }
    assert_false(f.stopped);
    assert_true(f.rotations >= 4);
    assert_string_equal(read_file(at("precious")), "precious\n");
    char readlink_buf[256] = "";
    assert_true(readlink(at("log"), readlink_buf, sizeof(readlink_buf) - 1) > 0);
    assert_string_equal(readlink_buf, at("precious"));
    assert_true(readlink(at("log.1"), readlink_buf, sizeof(readlink_buf) - 1) > 0);
    assert_true(size_of(at("moved")) <= CAPFILE_MIN_MAX);
    assert_true(size_of(at("moved.1")) <= CAPFILE_MIN_MAX && size_of(at("moved.1")) > 0);
    assert_non_null(strchr(read_file(at("moved")), 'a' + 19));   /* the newest output */
    capfile_close(&f);
}

/* A link planted at PATH.1 is refused at the start like one at PATH: a
 * rotation would otherwise copy the log over whatever it names. */
static void planted_old_file_refused(void **state)
{
    (void)state;
    write_file(at("precious"), "precious\n");
    assert_int_equal(symlink(at("precious"), at("p.log.1")), 0);
    struct capfile f;
    char err[512];
    assert_int_equal(capfile_open(&f, at("p.log"), CAPFILE_MIN_MAX, 0600, err, sizeof(err)), -1);
    assert_int_equal(errno, ELOOP);
    assert_non_null(strstr(err, "p.log.1: is a symbolic link; refusing to follow it"));
    assert_string_equal(read_file(at("precious")), "precious\n");
}

/* With onto_stdio, fds 1 and 2 follow the file across rotations (what a
 * sanitizer writes to fd 2 lands in the current log). */
static void stdio_follows_rotation(void **state)
{
    (void)state;
    pid_t pid = fork();
    if (pid == 0) {
        struct capfile f;
        char err[512];
        if (capfile_open(&f, at("std"), CAPFILE_MIN_MAX, 0600, err, sizeof(err)) < 0)
            _exit(1);
        capfile_onto_stdio(&f);
        static char line[1024];
        memset(line, 's', sizeof(line));
        for (int i = 0; i < 10; i++)
            capfile_write(&f, line, sizeof(line));
        struct stat a, b;
        if (fstat(STDERR_FILENO, &a) < 0 || stat(at("std"), &b) < 0 || a.st_ino != b.st_ino || f.rotations < 2)
            _exit(2);
        (void)!write(STDERR_FILENO, "direct\n", 7);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_non_null(strstr(read_file(at("std")), "direct\n"));
}

/* The VM process's log (toolstack/vm_log.c): stdio goes to the caller's
 * stderr until the log starts, then through the cap; a planted link is
 * refused with a warning while stderr is still the caller's. */
static void vm_log_caps_stdio(void **state)
{
    (void)state;
    write_file(at("precious"), "precious\n");
    assert_int_equal(symlink(at("precious"), at("planted.log")), 0);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);   /* the create command's stderr */
        setenv("VIREO_LOG_MAX", "8K", 1);
        if (vm_log_max() != 8192)
            _exit(1);
        vm_log_init();
        vm_log_open(at("planted.log"));
        vlog_info("before the start");
        vm_log_open(at("vm.log"));
        vm_log_start();
        for (int i = 0; i < 2000; i++)
            vlog_err("guest-triggered message %d", i);
        printf("stdout too\n");
        _exit(0);
    }
    close(pipefd[1]);
    char out[4096] = "";
    size_t n = 0;
    ssize_t r;
    while ((r = read(pipefd[0], out + n, sizeof(out) - 1 - n)) > 0)
        n += (size_t)r;
    close(pipefd[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char want[512];
    snprintf(want, sizeof(want), "vireo: warning: VM log %s: is a symbolic link; refusing to follow it (it could "
                                 "name any file); the VM logs nowhere\nvireo: before the start\n", at("planted.log"));
    assert_string_equal(out, want);
    assert_string_equal(read_file(at("precious")), "precious\n");
    assert_true(size_of(at("vm.log")) <= 8192);
    assert_true(size_of(at("vm.log.1")) <= 8192 && size_of(at("vm.log.1")) > 4096);
    char *log = read_file(at("vm.log"));
    assert_non_null(strstr(log, "vireo: guest-triggered message 1999\nstdout too\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(refuses_what_was_planted, setup, teardown),
        cmocka_unit_test_setup_teardown(endless_writing_stays_under_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(existing_file_over_the_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(swapped_for_a_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(planted_old_file_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(stdio_follows_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(vm_log_caps_stdio, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

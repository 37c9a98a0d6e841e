#include "bootloader/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/err.h"
#include "util/procfs.h"
#include "util/sanitized.h"

/* The address space this process has now (VmSize), which the child
 * inherits and may grow from by mem_bytes. */
static uint64_t current_vsize(void)
{
    /* Through the confinement's /proc/self where there is one: a confined
     * VM process has no /proc path and may open nothing else. */
    int fd = procfs_open_self("statm");
    if (fd < 0)
        return 0;
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    return strtoull(buf, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int load_filter(pid_t self, const int *in, unsigned nin, int out)
{
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (!f)
        return -1;
    int r = 0;
    for (unsigned i = 0; i < nin; i++) {
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(read), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)in[i], 0));
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(pread64), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)in[i], 0));
    }
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)out, 0));
    /* /dev/null (a sanitizer's report in sanitizer builds): the qcow2 code
     * says on stderr why an image is corrupt before failing the read. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(write), 1, SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO, 0));
    if (SANITIZED) {
        /* The alternate stack its abort() handling asks about. */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 0);
    }
    /* Memory, never executable: a parser bug cannot become new code.  (The
     * unused second datum of each comparison is given: clang's
     * -Wmissing-field-initializers sees libseccomp's macros.) */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(munmap), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mremap), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(brk), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(madvise), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(exit), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(exit_group), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigreturn), 0);
    /* What libc may call on its own: its clock (the vDSO's fallback) and
     * futex in its locks, which only this single thread takes. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clock_gettime), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(futex), 0);
    /* abort() (a failed assertion in a library): SIGABRT to itself, so a
     * crash reads as one rather than as a forbidden call. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigprocmask), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(getpid), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(gettid), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self, 0),
                          SCMP_A2(SCMP_CMP_EQ, SIGABRT, 0));
    if (r == 0)
        r = seccomp_load(f);
    seccomp_release(f);
    return r ? -1 : 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return x < y ? -1 : x > y;
}

static bool kept(const int *in, unsigned nin, int fd)
{
    for (unsigned i = 0; i < nin; i++)
        if (in[i] == fd)
            return true;
    return false;
}

static void child(const int *in, unsigned nin, int out_fd, uint64_t as_limit, unsigned timeout_ms, sandbox_fn fn,
                  void *ctx)
{
    /* Die with the parent; never outlive a VM process killed meanwhile. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent's handlers (a test framework's, a sanitizer's) would run
     * forbidden calls: every signal does what it does by default. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The inputs stay where they are (what the parent set up over them
     * names them so); the pipe goes above all of them. */
    int keep[SANDBOX_MAX_IN + 4], nk = 0, top = 2;
    for (unsigned i = 0; i < nin; i++)
        top = in[i] > top ? in[i] : top;
    int out = fcntl(out_fd, F_DUPFD_CLOEXEC, top + 1);
    if (out < 0)
        _exit(125);
    /* stdin, stdout and stderr close like the rest (a write to them fails
     * harmlessly): nothing to open in their place, since a confined VM
     * process can open no path (no /dev/null in its jail, no open in its
     * filter).  A sanitizer keeps stderr for its report. */
    if (SANITIZED && !kept(in, nin, STDERR_FILENO))
        keep[nk++] = STDERR_FILENO;
    for (unsigned i = 0; i < nin; i++)
        keep[nk++] = in[i];
    keep[nk++] = out;
    qsort(keep, (size_t)nk, sizeof(int), cmp_int);
    /* Everything else closes: the gaps between the kept ones. */
    int from = 0;
    for (int i = 0; i < nk; i++) {
        if (keep[i] > from && close_range((unsigned)from, (unsigned)keep[i] - 1, 0) < 0)
            _exit(125);
        from = keep[i] + 1;
    }
    if (close_range((unsigned)from, ~0U, 0) < 0)
        _exit(125);
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    setrlimit(RLIMIT_FSIZE, &zero);
    struct rlimit cpu = {timeout_ms / 1000 + 1, timeout_ms / 1000 + 2};
    setrlimit(RLIMIT_CPU, &cpu);
    if (as_limit) {
        struct rlimit as = {as_limit, as_limit};
        if (setrlimit(RLIMIT_AS, &as) < 0)
            _exit(125);
    }
    prctl(PR_SET_DUMPABLE, 0);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || load_filter(getpid(), in, nin, out) < 0)
        _exit(125);
    /* The raw system call: neither atexit handlers nor a sanitizer's exit
     * hook (a leak check that stops the world) may run in here. */
    syscall(SYS_exit_group, fn(ctx, out));
    _exit(125);
}

int sandbox_start(struct sandbox *sb, const int *in_fds, unsigned nin, const struct sandbox_limits *l, sandbox_fn fn,
                  void *ctx, char *err, size_t errlen)
{
    memset(sb, 0, sizeof(*sb));
    sb->pid = -1;
    sb->rd = -1;
    if (nin > SANDBOX_MAX_IN)
        return err_fail(err, errlen, "%u descriptors for the parser (at most %d)", nin, SANDBOX_MAX_IN);
    for (unsigned i = 0; i < nin; i++)
        if (in_fds[i] < 0)
            return err_fail(err, errlen, "a bad descriptor for the parser");
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return err_fail(err, errlen, "pipe: %s", strerror(errno));
    fcntl(p[0], F_SETPIPE_SZ, 1 << 20);
    uint64_t as = 0;
    if (!SANITIZED && l->mem_bytes) {
        uint64_t now = current_vsize();
        as = now && now < UINT64_MAX - l->mem_bytes ? now + l->mem_bytes : 0;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return err_fail(err, errlen, "fork: %s", strerror(e));
    }
    if (pid == 0) {
        close(p[0]);
        child(in_fds, nin, p[1], as, l->timeout_ms, fn, ctx);
    }
    close(p[1]);
    sb->pid = pid;
    sb->rd = p[0];
    sb->timeout_ms = l->timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &sb->deadline);
    sb->deadline.tv_sec += l->timeout_ms / 1000;
    sb->deadline.tv_nsec += (long)(l->timeout_ms % 1000) * 1000000L;
    if (sb->deadline.tv_nsec >= 1000000000L) {
        sb->deadline.tv_sec++;
        sb->deadline.tv_nsec -= 1000000000L;
    }
    return 0;
}

static int ms_left(const struct sandbox *sb)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ms = (int64_t)(sb->deadline.tv_sec - now.tv_sec) * 1000 + (sb->deadline.tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int sandbox_read(struct sandbox *sb, void *buf, size_t len, char *err, size_t errlen)
{
    uint8_t *p = buf;
    while (len) {
        int left = ms_left(sb);
        struct pollfd pfd = {.fd = sb->rd, .events = POLLIN};
        int r = left ? poll(&pfd, 1, left) : 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_fail(err, errlen, "poll: %s", strerror(errno));
        if (r == 0) {
            sb->timed_out = true;
            return err_fail(err, errlen, "no answer within %u s: the parser was stopped (a disk that takes this long "
                        "to read is hostile or broken)", sb->timeout_ms / 1000);
        }
        ssize_t n = read(sb->rd, p, len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0)
            return err_fail(err, errlen, "reading from the parser: %s", strerror(errno));
        if (n == 0)
            return 1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sandbox_finish(struct sandbox *sb, bool kill_it, char *err, size_t errlen)
{
    if (sb->pid <= 0)
        return err_fail(err, errlen, "no parser was started");
    if (sb->rd >= 0) {
        close(sb->rd);
        sb->rd = -1;
    }
    int st = 0;
    pid_t r;
    if (kill_it || sb->timed_out) {
        kill(sb->pid, SIGKILL);
        do
            r = waitpid(sb->pid, &st, 0);
        while (r < 0 && errno == EINTR);
    } else {
        /* It closed the pipe: it is exiting.  Still bounded by the deadline. */
        for (;;) {
            r = waitpid(sb->pid, &st, WNOHANG);
            if (r != 0 || ms_left(sb) == 0)
                break;
            struct timespec ten_ms = {0, 10000000L};
            nanosleep(&ten_ms, NULL);
        }
        if (r == 0) {
            sb->timed_out = true;
            kill(sb->pid, SIGKILL);
            do
                r = waitpid(sb->pid, &st, 0);
            while (r < 0 && errno == EINTR);
        }
    }
    sb->pid = -1;
    if (r < 0)
        return err_fail(err, errlen, "waitpid: %s", strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !sb->timed_out)
        return 0;
    if (sb->timed_out)
        return err_fail(err, errlen, "stopped after %u s without an answer (a disk that takes this long to read is "
                    "hostile or broken)", sb->timeout_ms / 1000);
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS)
        return err_fail(err, errlen, "the parser made a system call its seccomp filter forbids, and was killed");
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGXCPU)
        return err_fail(err, errlen, "the parser used more than %u s of CPU time, and was killed", sb->timeout_ms / 1000);
    if (WIFSIGNALED(st))
        return err_fail(err, errlen, "the parser crashed (signal %d, %s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    if (WEXITSTATUS(st) == 125)
        return err_fail(err, errlen, "the parser's sandbox could not be set up");
    return err_fail(err, errlen, "the parser failed (exit status %d)", WEXITSTATUS(st));
}

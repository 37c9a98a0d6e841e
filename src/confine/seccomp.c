#include "confine/seccomp.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "confine/seccomp_prebuilt.h"
#include "util/log.h"

static struct {
    bool on;
    struct sock_fprog prog[CONFINE_NKINDS];
    int violate;               /* test hook: the kind that makes a forbidden call, or -1 */
} st = {.violate = -1};

static __thread const char *t_kind;
static __thread char t_name[16];

bool confine_seccomp_on(void)
{
    return st.on;
}

#if defined(__SANITIZE_ADDRESS__)
#define LSAN_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LSAN_HOOK 1
#endif
#endif
#ifdef LSAN_HOOK
/* LeakSanitizer's check at exit stops the world with a ptrace tracer (a
 * process cloned from main, reading /proc): under the filters that is a
 * forbidden call, and widening them for it would test other filters than
 * the ones shipped.  So a sanitizer build under seccomp skips the leak
 * check (the runtime asks this hook), and the integration tests that look
 * for leaks run with --seccomp=off / seccomp = 0. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return st.on;
}
#endif

/* Async-signal-safe string building for the handler. */
static size_t put(char *buf, size_t len, size_t at, const char *s)
{
    while (*s && at + 1 < len)
        buf[at++] = *s++;
    buf[at < len ? at : len - 1] = 0;
    return at;
}

static size_t put_num(char *buf, size_t len, size_t at, int v)
{
    char d[16];
    int n = 0;
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    do
        d[n++] = (char)('0' + u % 10);
    while ((u /= 10) && n < 15);
    if (v < 0)
        d[n++] = '-';
    char s[17];
    for (int i = 0; i < n; i++)
        s[i] = d[n - 1 - i];
    s[n] = 0;
    return put(buf, len, at, s);
}

size_t confine_violation_line(char *buf, size_t len, const char *kind, const char *thread, int nr)
{
    size_t at = put(buf, len, 0, "vireo: seccomp: the ");
    at = put(buf, len, at, kind ? kind : "unconfined");
    at = put(buf, len, at, " thread ");
    at = put(buf, len, at, thread && thread[0] ? thread : "?");
    at = put(buf, len, at, " made the system call ");
    /* Larger numbers are shown as a number only. */
    if (nr >= 0 && nr < CONFINE_NAMED_CALLS && confine_call_names[nr][0]) {
        at = put(buf, len, at, confine_call_names[nr]);
        at = put(buf, len, at, " (");
        at = put_num(buf, len, at, nr);
        at = put(buf, len, at, ")");
    } else {
        at = put_num(buf, len, at, nr);
    }
    at = put(buf, len, at, ", which its filter forbids: the process stops "
                           "(--seccomp=off or seccomp = 0 turns the filters off, for debugging)\n");
    return at;
}

/* Runs on the thread that made the call, with SIGSYS blocked.  After the
 * line, SIGSYS goes back to its default action (death) and is sent again;
 * it is delivered as the handler returns.  Should a call in here be
 * forbidden too, the kernel kills the process at once: SIGSYS is blocked,
 * so it forces the default action.  Either way the process dies of
 * SIGSYS, and never goes on after a forbidden call. */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)uc;
    char line[320];
    size_t n = confine_violation_line(line, sizeof(line), t_kind, t_name, si->si_syscall);
    (void)!write(STDERR_FILENO, line, n);
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigaction(sig, &dfl, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), sig);
}

static int test_hook_kind(void)
{
#ifdef VIREO_TEST_HOOKS
    /* The integration tests' way to show that each kind of thread is
     * stopped: that kind makes a forbidden call once its filter is on. */
    static const char *const kinds[CONFINE_NKINDS] = {
        [CONFINE_MAIN] = "main", [CONFINE_VCPU] = "vcpu", [CONFINE_IOTHREAD] = "io",
        [CONFINE_AIO_WORKER] = "aio",
    };
    const char *e = getenv("VIREO_TEST_SECCOMP_VIOLATE");
    for (int k = 0; e && k < CONFINE_NKINDS; k++)
        if (!strcmp(e, kinds[k]))
            return k;
#endif
    return -1;
}

int confine_seccomp_prepare(const struct confine_policy *p, char *err, size_t errlen)
{
    if (st.on)
        return 0;
    /* glibc reads the time zone (/etc/localtime) at the first time
     * conversion, which may come on any thread (the RTC's gmtime_r on a
     * vCPU): now, while files may be opened. */
    tzset();
    /* The boot loader's child builds its own filter with libseccomp, which
     * probes the kernel's seccomp features at its first use with calls
     * main's filter forbids: probe now, and the child inherits the answer. */
    if (p->boot_helper)
        (void)seccomp_api_get();
    for (int k = 0; k < CONFINE_NKINDS; k++) {
        const struct confine_prebuilt *b = confine_prebuilt_find(p, (enum confine_kind)k);
        int r = b ? confine_prebuilt_program(b, p, &st.prog[k]) : -ENOENT;
        if (r < 0) {
            snprintf(err, errlen, "seccomp: cannot build the %s threads' filter: %s", confine_kind_name(k),
                     strerror(-r));
            return -1;
        }
    }
    struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    /* Filters need it (or CAP_SYS_ADMIN); threads started from here on
     * inherit it. */
    if (sigaction(SIGSYS, &sa, NULL) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        snprintf(err, errlen, "seccomp: %s", strerror(errno));
        return -1;
    }
    st.violate = test_hook_kind();
    t_kind = confine_kind_name(CONFINE_MAIN);
    snprintf(t_name, sizeof(t_name), "main");
    st.on = true;
    return 0;
}

static int load(enum confine_kind kind)
{
    /* SIGSYS must reach the handler: a blocked one kills without a word. */
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS);
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    t_kind = confine_kind_name(kind);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &st.prog[kind]) < 0)
        return -1;
    if ((int)kind == st.violate)
        syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
    return 0;
}

int confine_seccomp_enter_main(char *err, size_t errlen)
{
    if (!st.on) {
        snprintf(err, errlen, "seccomp: not prepared");
        return -1;
    }
    if (load(CONFINE_MAIN) < 0) {
        snprintf(err, errlen, "seccomp: cannot load the main thread's filter: %s", strerror(errno));
        return -1;
    }
    return 0;
}

void confine_thread(enum confine_kind kind, const char *name)
{
    snprintf(t_name, sizeof(t_name), "%s", name);
    /* From inside: naming another thread goes through /proc, which a
     * confined process does not have. */
    prctl(PR_SET_NAME, t_name, 0, 0, 0);
    if (!st.on)
        return;
    if (load(kind) < 0) {
        vlog_err("seccomp: the %s thread %s cannot load its filter (%s): stopping", confine_kind_name(kind), t_name,
                 strerror(errno));
        _exit(1);
    }
}

#include "confine/seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/sanitized.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

const char *confine_kind_name(enum confine_kind kind)
{
    static const char *const names[CONFINE_NKINDS] = {
        [CONFINE_MAIN] = "main", [CONFINE_VCPU] = "vCPU", [CONFINE_IOTHREAD] = "I/O",
        [CONFINE_AIO_WORKER] = "aio worker",
    };
    return (unsigned)kind < CONFINE_NKINDS ? names[kind] : "?";
}

/* Every thread: memory (never executable), locks, time, its own end, the
 * log (any thread may log, and rotating the log is fd-only: see
 * util/capfile.c), and what the SIGSYS handler uses. */
static const int base_calls[] = {
    SCMP_SYS(read), SCMP_SYS(write), SCMP_SYS(readv), SCMP_SYS(writev),
    SCMP_SYS(munmap), SCMP_SYS(madvise), SCMP_SYS(brk), SCMP_SYS(mremap),
    SCMP_SYS(futex), SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),
    SCMP_SYS(gettimeofday), SCMP_SYS(sched_yield),
    SCMP_SYS(getpid), SCMP_SYS(gettid), SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
    SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask), SCMP_SYS(restart_syscall),
    SCMP_SYS(exit), SCMP_SYS(exit_group),
    /* The capped log: fstat for its size, copy and truncate to rotate. */
    SCMP_SYS(fstat), SCMP_SYS(ftruncate), SCMP_SYS(copy_file_range), SCMP_SYS(pread64), SCMP_SYS(pwrite64),
    SCMP_SYS(lseek),
};

/* vCPU threads: KVM_RUN, and what the device models do on the vCPU that
 * made the register access: interrupt lines, MSI-X routes and irqfds,
 * ioeventfds when a BAR moves, eventfd signals, a queue started on its
 * I/O thread (event_loop_call), TAP offloads and queues negotiated by the
 * driver, guest output to the console or its pipe. */
static const unsigned long vcpu_ioctls[] = {
    KVM_RUN, KVM_IRQ_LINE, KVM_SET_GSI_ROUTING, KVM_IRQFD, KVM_IOEVENTFD, TUNSETOFFLOAD, TUNSETQUEUE,
    /* the registers logged when the guest crashes (vm_vcpu.c), read-only */
    KVM_GET_REGS, KVM_GET_SREGS,
};
static const int vcpu_calls[] = {
    SCMP_SYS(poll), SCMP_SYS(ppoll),
};

/* I/O threads: their event loop, io_uring (submissions restricted to
 * reads, writes, fsync and fallocate on the ring itself: aio_uring.c),
 * the inline path and metadata reads (p*v), engine teardown (close,
 * io_uring_register to drop the registered file), the control queue's
 * TAP queue changes, vhost-net's rings started and stopped on the pair's
 * loop (virtio/net_vhost.c: SET_OWNER and GET_FEATURES were done before
 * the filters, and nothing opens /dev/vhost-net afterwards). */
static const unsigned long io_ioctls[] = {
    TUNSETOFFLOAD, TUNSETQUEUE, VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM,
    VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE, VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK,
    VHOST_SET_VRING_CALL, VHOST_SET_VRING_ERR, VHOST_NET_SET_BACKEND,
};
static const int io_calls[] = {
    SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(epoll_ctl),
    SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register),
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2),
    SCMP_SYS(pwritev2), SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fallocate), SCMP_SYS(close),
    SCMP_SYS(poll), SCMP_SYS(ppoll),
};

/* aio=threads workers: blocking file I/O, and the eventfd write that hands
 * a result back (write is in base). */
static const int aio_calls[] = {
    SCMP_SYS(pread64), SCMP_SYS(pwrite64), SCMP_SYS(preadv), SCMP_SYS(pwritev), SCMP_SYS(preadv2),
    SCMP_SYS(pwritev2), SCMP_SYS(fdatasync), SCMP_SYS(fsync), SCMP_SYS(fallocate),
};

/* The VM's main thread, besides the union of the above: building a VM at
 * each (re)start (KVM's VM and vCPU ioctls, guest RAM, eventfds, epoll,
 * io_uring rings, threads), its loop (signalfd, timerfds, the console's
 * terminal), the control socket (accept, messages, peer credentials, the
 * pid file's lock released at the end), vCPU pinning and statistics. */
static const unsigned long main_ioctls[] = {
    KVM_CHECK_EXTENSION, KVM_GET_API_VERSION, KVM_GET_VCPU_MMAP_SIZE, KVM_GET_SUPPORTED_CPUID,
    KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_SET_CPUID2, KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_REGS,
    KVM_SET_FPU, KVM_SET_MSRS, KVM_GET_LAPIC, KVM_SET_LAPIC, KVM_SET_USER_MEMORY_REGION,
    KVM_SET_TSS_ADDR, KVM_SET_IDENTITY_MAP_ADDR, KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2,
    /* Each vCPU's binary statistics (kvm_stats.c), opened with the vCPU. */
    KVM_GET_STATS_FD,
    /* `vireo run`'s terminal: raw mode and back (tcgetattr/tcsetattr). */
    TCGETS, TCSETS, TCSETSW, TCSETSF,
};
static const int main_calls[] = {
    SCMP_SYS(epoll_create1), SCMP_SYS(eventfd2), SCMP_SYS(signalfd4), SCMP_SYS(timerfd_create),
    SCMP_SYS(timerfd_settime), SCMP_SYS(pipe2), SCMP_SYS(dup), SCMP_SYS(dup2), SCMP_SYS(dup3),
    SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg), SCMP_SYS(sendto),
    SCMP_SYS(sendmsg), SCMP_SYS(shutdown),
    SCMP_SYS(io_uring_setup),
    /* An image in memory is served inline (aio.c asks its file system). */
    SCMP_SYS(fstatfs),
    /* pthread_create: stacks (mmap is below), the new thread's own start
     * (robust futex list, rseq, its mask), CPU affinity set by the creator. */
    SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_setaffinity), SCMP_SYS(sched_getaffinity),
    SCMP_SYS(rt_sigaction), SCMP_SYS(getrusage), SCMP_SYS(mincore), SCMP_SYS(getrandom),
};

static int allow_all(scmp_filter_ctx f, const int *calls, size_t n)
{
    int r = 0;
    for (size_t i = 0; i < n; i++)
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, calls[i], 0);
    return r;
}

static int allow_ioctls(scmp_filter_ctx f, const unsigned long *reqs, size_t n)
{
    int r = 0;
    /* glibc passes the request as an unsigned long; the kernel looks at 32
     * bits of it, so compare those. */
    for (size_t i = 0; i < n; i++)
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, reqs[i] & 0xffffffffUL));
    return r;
}

/* Memory, never executable: a bug in a device model cannot become new
 * code (the data any exploit writes can never be made executable). */
static int allow_memory(scmp_filter_ctx f)
{
    int r = 0;
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    return r;
}

/* Signals only to this process's own threads (pthread_kill: the vCPU kick,
 * raise/abort): tgkill with our pid. */
static int allow_own_signals(scmp_filter_ctx f, int pid)
{
    return seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                            SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)(pid ? pid : getpid()), 0));
}

static int allow_base(scmp_filter_ctx f, int pid)
{
    int r = allow_all(f, base_calls, N(base_calls)) | allow_memory(f) | allow_own_signals(f, pid);
    /* fstat is newfstatat(fd, "", AT_EMPTY_PATH) in glibc 2.33 and later. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                          SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
    if (SANITIZED)   /* the runtime's alternate signal stacks */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(sigaltstack), 0);
    /* A path opened for reading from the working directory (glibc's own
     * pattern: O_RDONLY | O_CLOEXEC) fails with EACCES instead of killing
     * the process: glibc's malloc opens
     * /proc/sys/vm/overcommit_memory the first time a thread's arena
     * shrinks, at a moment nobody chooses, and copes with the failure
     * (seen killing a VM's I/O thread mid-boot).  Nothing could be opened
     * anyway: the jail's root is empty.  Every filter has the rule, since
     * stacked filters take the strictest answer. */
    r |= seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(openat), 2,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, 0xffffffffUL, (scmp_datum_t)(uint32_t)AT_FDCWD),
                          SCMP_A2(SCMP_CMP_MASKED_EQ, ~(scmp_datum_t)O_LARGEFILE & 0xffffffffUL,
                                  O_RDONLY | O_CLOEXEC));
    return r;
}

/* Threads, never processes; clone3's flags are behind a pointer seccomp
 * cannot read, so it answers ENOSYS and glibc falls back to clone, whose
 * flags it can. */
static int allow_threads(scmp_filter_ctx f, bool processes_too)
{
    int r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (processes_too)
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
    else
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
    return r;
}

static int allow_prctl(scmp_filter_ctx f, int option)
{
    return seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)option, 0));
}

static int allow_fcntl(scmp_filter_ctx f, int cmd)
{
    return seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1, SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)cmd, 0));
}

/* What main needs of its own on top of every thread kind's list. */
static int allow_main(scmp_filter_ctx f, const struct confine_policy *p)
{
    int r = allow_all(f, main_calls, N(main_calls));
    r |= allow_threads(f, p->boot_helper);
    /* Threads name themselves and load their own filter at their start,
     * still under main's. */
    r |= allow_prctl(f, PR_SET_NAME);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
                          SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER, 0));
    r |= allow_fcntl(f, F_GETFL) | allow_fcntl(f, F_SETFL) | allow_fcntl(f, F_GETFD) | allow_fcntl(f, F_SETFD);
    /* Peer credentials of a control connection (only the owner and root). */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 2, SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET, 0),
                          SCMP_A2(SCMP_CMP_EQ, SO_PEERCRED, 0));
    /* The pid file's lock, let go at the end so the name is free. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(flock), 1, SCMP_A1(SCMP_CMP_EQ, LOCK_UN, 0));
    if (p->proc_fd >= 0)   /* vCPU statistics: task/TID/stat under a /proc/self of its own */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)p->proc_fd, 0),
                              SCMP_A2(SCMP_CMP_MASKED_EQ, ~(scmp_datum_t)O_LARGEFILE & 0xffffffffUL,
                                      O_RDONLY | O_CLOEXEC));
    if (p->boot_helper) {
        /* The boot loader's child: forked, waited for (and killed at its
         * deadline), and its own set-up before its own filter (limits, fds
         * 3 and 4, no new privileges, death with its parent); its filter
         * comes from libseccomp (prctl(NO_NEW_PRIVS) again, then seccomp). */
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A1(SCMP_CMP_EQ, SIGKILL, 0));
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(wait4), 0);
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 0);
        r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(close_range), 0);
        r |= allow_fcntl(f, F_DUPFD_CLOEXEC) | allow_fcntl(f, F_SETPIPE_SZ);
        r |= allow_prctl(f, PR_SET_PDEATHSIG) | allow_prctl(f, PR_SET_DUMPABLE) | allow_prctl(f, PR_SET_NO_NEW_PRIVS);
    }
    return r;
}

/* `vireo disk serve`'s main thread: the vhost-user socket (messages with
 * fds, peer credentials), the front-end's memory mapped from its fds,
 * the SIGBUS guard's handler installed with the first region, and at the
 * end its socket file removed if still its own (stat, unlink). */
static int allow_disk_serve_main(scmp_filter_ctx f)
{
    static const int calls[] = {
        SCMP_SYS(accept), SCMP_SYS(accept4), SCMP_SYS(recvmsg), SCMP_SYS(sendmsg), SCMP_SYS(recvfrom),
        SCMP_SYS(sendto), SCMP_SYS(shutdown), SCMP_SYS(rt_sigaction), SCMP_SYS(newfstatat), SCMP_SYS(unlink),
        SCMP_SYS(eventfd2), SCMP_SYS(epoll_create1), SCMP_SYS(getrandom),
    };
    int r = allow_all(f, calls, N(calls));
    r |= allow_threads(f, false);
    r |= allow_prctl(f, PR_SET_NAME);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(seccomp), 1,
                          SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER, 0));
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(set_robust_list), 0);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(rseq), 0);
    /* A new thread's start under the sanitizers' runtime (pthread_getattr_np
     * reads the affinity), as the VM's main allows. */
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(sched_getaffinity), 0);
    r |= allow_fcntl(f, F_GETFL) | allow_fcntl(f, F_SETFL) | allow_fcntl(f, F_GETFD) | allow_fcntl(f, F_SETFD);
    r |= seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(getsockopt), 2, SCMP_A1(SCMP_CMP_EQ, SOL_SOCKET, 0),
                          SCMP_A2(SCMP_CMP_EQ, SO_PEERCRED, 0));
    return r;
}

scmp_filter_ctx confine_policy_build(enum confine_kind kind, const struct confine_policy *p)
{
    /* TRAP, not KILL: seccomp.c's SIGSYS handler names the call first. */
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_TRAP);
    if (!f)
        return NULL;
    int r = allow_base(f, p->pid);
    bool main = kind == CONFINE_MAIN;
    bool vm = p->process == CONFINE_PROCESS_VM;
    if ((kind == CONFINE_VCPU || main) && vm)
        r |= allow_all(f, vcpu_calls, N(vcpu_calls)) | allow_ioctls(f, vcpu_ioctls, N(vcpu_ioctls));
    if (kind == CONFINE_IOTHREAD || main)
        r |= allow_all(f, io_calls, N(io_calls)) | allow_ioctls(f, io_ioctls, vm ? N(io_ioctls) : 0);
    if (kind == CONFINE_AIO_WORKER || main)
        r |= allow_all(f, aio_calls, N(aio_calls));
    if (main && vm)
        r |= allow_ioctls(f, main_ioctls, N(main_ioctls)) | allow_main(f, p);
    if (main && !vm)
        r |= allow_disk_serve_main(f);
    if (r) {
        seccomp_release(f);
        return NULL;
    }
    return f;
}

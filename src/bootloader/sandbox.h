/* A function run in a confined child process (pygrub's CVE-2007-4993 is
 * why: the guest writes the disk the boot-entry finder parses).  The child
 * holds its inputs (the descriptors the parent names: a raw disk's file, a
 * qcow2 image's and its backing files', read-only, at the numbers they
 * have in the parent, so what was set up over them before the fork works
 * as it is), a pipe back to the parent, and /dev/null as standard input,
 * output and error; nothing else.  It runs under a seccomp filter
 * (libseccomp) allowing read/pread of its inputs, write to the pipe and to
 * standard error (/dev/null; the qcow2 code reports a corrupt image
 * there), memory allocation without PROT_EXEC, exit, and raising SIGABRT
 * on itself (abort()); anything else kills it (SIGSYS).  Its
 * address space may grow by a bounded amount (RLIMIT_AS), it gets no core
 * file, no new privileges, and it dies with its parent.  The parent reads
 * the pipe against a deadline and kills the child when it passes. */
#ifndef VIREO_BOOTLOADER_SANDBOX_H
#define VIREO_BOOTLOADER_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The most input descriptors a child keeps (a backing chain's files). */
#define SANDBOX_MAX_IN 40

struct sandbox_limits {
    uint64_t mem_bytes;        /* address space the child may add to what it inherits */
    unsigned timeout_ms;       /* wall clock from start to the end of its reply */
};

/* Runs in the child, out_fd the pipe back; its return value is the
 * child's exit status. */
typedef int (*sandbox_fn)(void *ctx, int out_fd);

struct sandbox {
    pid_t pid;
    int rd;                    /* the pipe's read end */
    struct timespec deadline;  /* CLOCK_MONOTONIC */
    unsigned timeout_ms;
    bool timed_out;
};

/* Starts fn(ctx) in a child keeping the nin descriptors in_fds (at most
 * SANDBOX_MAX_IN); -1 with err when the child could not be started. */
int sandbox_start(struct sandbox *sb, const int *in_fds, unsigned nin, const struct sandbox_limits *l, sandbox_fn fn,
                  void *ctx, char *err, size_t errlen);

/* Exactly len bytes from the child before the deadline: 0; 1 when the
 * child closed the pipe first (it ended: sandbox_finish says how); -1
 * with err on timeout or a read error. */
int sandbox_read(struct sandbox *sb, void *buf, size_t len, char *err, size_t errlen);

/* Reaps the child, killing it first when kill_it is set or the deadline
 * has passed.  0 when it exited with status 0; -1 with how it ended in
 * err ("killed by its seccomp filter: it made a forbidden system call"). */
int sandbox_finish(struct sandbox *sb, bool kill_it, char *err, size_t errlen);

#endif

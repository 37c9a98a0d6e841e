/* fakevm: a process that looks like a Vireo VM to `vireo microscope` on a
 * machine that cannot run one (the build machines' KVM cannot boot a
 * guest): it claims a name in the toolstack's run directory with the
 * toolstack's own code (VIREO_RUN_DIR), and does O_DIRECT I/O from threads
 * named as a VM's are, so `--by vm` can be checked against what it did.
 *
 *   fakevm NAME DEVICE SECONDS
 *
 * Threads: the main thread (renamed "vireo", as the VM process is), vcpu0
 * and vcpu1 (4 KiB reads), vireo-io0 (16 KiB writes), vireo-net0 (idle).
 * Prints "ready PID" once the run directory names it and its threads run,
 * and at the end one line per thread: "NAME TID READ_BYTES WRITE_BYTES". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "toolstack/rundir.h"

#define SPAN (32ull << 20) /* offsets wrap within the device's first 32 MiB */

struct worker {
    const char *name;
    size_t io;   /* bytes per request; 0: idle */
    int write;
    int fd;
    pid_t tid;
    uint64_t rd, wr;
    pthread_t thread;
};

static uint64_t deadline;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run(struct worker *w)
{
    w->tid = (pid_t)syscall(SYS_gettid);
    prctl(PR_SET_NAME, w->name);
    void *buf = NULL;
    if (w->io && posix_memalign(&buf, 4096, w->io))
        return;
    if (buf)
        memset(buf, 0x5a, w->io);
    uint64_t off = (uint64_t)w->tid * 1048576 % SPAN / 4096 * 4096;
    while (now_ns() < deadline) {
        if (!w->io) {
            usleep(10000);
            continue;
        }
        ssize_t n = w->write ? pwrite(w->fd, buf, w->io, (off_t)off) : pread(w->fd, buf, w->io, (off_t)off);
        if (n != (ssize_t)w->io) {
            fprintf(stderr, "fakevm: %s: %s\n", w->name, n < 0 ? strerror(errno) : "short I/O");
            exit(1);
        }
        *(w->write ? &w->wr : &w->rd) += w->io;
        off = (off + 7 * w->io) % (SPAN - w->io) / 4096 * 4096;
        usleep(500); /* a steady stream, not a flood */
    }
    free(buf);
}

static void *thread_main(void *arg)
{
    run(arg);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: fakevm NAME DEVICE SECONDS\n");
        return 2;
    }
    int fd = open(argv[2], O_RDWR | O_DIRECT);
    if (fd < 0) {
        fprintf(stderr, "fakevm: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    struct rundir_claim claim;
    char err[256];
    if (rundir_claim(argv[1], &claim, err, sizeof(err)) < 0 || rundir_set_pid(&claim, getpid()) < 0) {
        fprintf(stderr, "fakevm: %s\n", err);
        return 1;
    }
    deadline = now_ns() + (uint64_t)(atof(argv[3]) * 1e9);
    struct worker w[] = {
        {"vireo", 4096, 0, fd, 0, 0, 0, 0},      {"vcpu0", 4096, 0, fd, 0, 0, 0, 0},
        {"vcpu1", 4096, 0, fd, 0, 0, 0, 0},      {"vireo-io0", 16384, 1, fd, 0, 0, 0, 0},
        {"vireo-net0", 0, 0, fd, 0, 0, 0, 0},
    };
    size_t n = sizeof(w) / sizeof(w[0]);
    for (size_t i = 1; i < n; i++)
        if (pthread_create(&w[i].thread, NULL, thread_main, &w[i])) {
            fprintf(stderr, "fakevm: cannot start a thread\n");
            return 1;
        }
    printf("ready %d\n", (int)getpid());
    fflush(stdout);
    run(&w[0]);
    for (size_t i = 1; i < n; i++)
        pthread_join(w[i].thread, NULL);
    for (size_t i = 0; i < n; i++)
        printf("%s %d %llu %llu\n", w[i].name, (int)w[i].tid, (unsigned long long)w[i].rd,
               (unsigned long long)w[i].wr);
    rundir_release(argv[1]);
    return 0;
}

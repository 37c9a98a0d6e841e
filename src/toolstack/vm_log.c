#include "toolstack/vm_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "util/capfile.h"
#include "util/size.h"

static struct capfile log_file = {.fd = -1, .old_fd = -1};
static int null_fd = -1;       /* no log: /dev/null, opened before the jail */
static atomic_bool started;

uint64_t vm_log_max(void)
{
    const char *s = getenv("VIREO_LOG_MAX");
    uint64_t v;
    if (s && *s && parse_size(s, &v) && v >= CAPFILE_MIN_MAX)
        return v;
    return CAPFILE_DEFAULT_MAX;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static ssize_t stream_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    if (atomic_load(&started) && log_file.fd >= 0)
        capfile_write(&log_file, buf, n);
    else
        write_all(STDERR_FILENO, buf, n);
    return (ssize_t)n;
}

void vm_log_init(void)
{
    cookie_io_functions_t io = {.write = stream_write};
    FILE *s = fopencookie(NULL, "w", io);
    if (!s)
        return;   /* stdio then writes to fds 1 and 2, uncapped */
    /* Unbuffered: one write per message (a line comes whole, as vlog
     * builds it first), nothing held back when the process dies. */
    setvbuf(s, NULL, _IONBF, 0);
    fflush(stdout);
    fflush(stderr);
    stdout = stderr = s;
}

void vm_log_open(const char *path)
{
    char err[512];
    if (capfile_open(&log_file, path, vm_log_max(), 0600, err, sizeof(err)) == 0)
        return;
    if (errno == ELOOP || errno == EINVAL || errno == EMLINK)
        fprintf(stderr, "vireo: warning: VM log %s; the VM logs nowhere\n", err);
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
}

void vm_log_start(void)
{
    fflush(stdout);
    if (log_file.fd >= 0) {
        capfile_onto_stdio(&log_file);
        atomic_store(&started, true);
        return;
    }
    if (null_fd >= 0) {
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
        close(null_fd);
        null_fd = -1;
    }
}

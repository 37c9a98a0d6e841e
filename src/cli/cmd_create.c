#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "toolstack/rundir.h"
#include "toolstack/vm_config.h"
#include "toolstack/vm_config_json.h"
#include "toolstack/vm_process.h"
#include "util/file.h"
#include "util/log.h"

#define CONFIG_MAX (1024 * 1024)

static const char usage[] =
    "usage: vireo create [-c] [-p] [-n] FILE [KEY=VALUE...]\n"
    "Starts the VM FILE (an xl.cfg file) describes, as its own process, and\n"
    "returns once it runs.  KEY=VALUE settings replace the file's ('+=' appends).\n"
    "  -c  attach to the console afterwards (Ctrl-] detaches)\n"
    "  -p  leave the vCPUs paused (vireo unpause NAME starts them)\n"
    "  -n  dry run: print the configuration (JSON) and start nothing\n";

static int load(const char *path, char *const *over, int nover, struct vm_config *cfg)
{
    uint64_t size;
    int fd = open_input(path, "config file", &size);
    if (fd < 0)
        return -1;
    if (size > CONFIG_MAX) {
        vlog_err("%s: %llu bytes is too large for a config file", path, (unsigned long long)size);
        close(fd);
        return -1;
    }
    char *buf = malloc(size + 1);
    int r = -1;
    char err[512];
    if (buf && read_full_at(fd, buf, size, 0) == 0) {
        r = vm_config_load(buf, size, path, (const char *const *)over, (size_t)nover, cfg, err, sizeof(err));
        if (r < 0)
            vlog_err("%s", err);
    } else {
        vlog_err("%s: %s", path, strerror(errno));
    }
    free(buf);
    close(fd);
    return r;
}

/* Checks what vm_config leaves to the host; the VM process checks the
 * rest (kernel, disks) before `create` returns. */
static int supported(const char *path, const struct vm_config *c)
{
    for (unsigned i = 0; i < c->nvifs; i++) {
        if (c->vifs[i].mtu) {
            vlog_err("%s: vif %u: mtu= is not supported (the TAP takes its bridge's MTU)", path, i);
            return -1;
        }
    }
    for (unsigned i = 0; i < c->ndisks; i++) {
        if (!c->disks[i].discard) {
            vlog_err("%s: disk %s: no-discard is not supported (vireo's disks always offer discard)", path,
                     c->disks[i].vdev);
            return -1;
        }
    }
    return 0;
}

static int wait_ready(int rd, pid_t child, const struct vm_config *c, unsigned domid)
{
    char buf[4] = {0};
    ssize_t n;
    do
        n = read(rd, buf, 3);
    while (n < 0 && errno == EINTR);
    close(rd);
    if (n == 3 && !memcmp(buf, "ok\n", 3)) {
        fprintf(stderr, "vireo: VM '%s' started (id %u, pid %d)\n", c->name, domid, (int)child);
        return 0;
    }
    /* It printed why on our stderr; collect it so no zombie is left. */
    int st;
    if (waitpid(child, &st, 0) == child && WIFSIGNALED(st))
        vlog_err("create: the VM process died of signal %d (%s) while starting", WTERMSIG(st),
                 strsignal(WTERMSIG(st)));
    return -1;
}

int cmd_create(int argc, char *const argv[])
{
    bool console = false, paused = false, dry = false;
    int opt;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "+cpnh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': console = true; break;
        case 'p': paused = true; break;
        case 'n': dry = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        vlog_err("create: expected a config FILE");
        fputs(usage, stderr);
        return 2;
    }
    const char *path = argv[optind];
    static struct vm_config cfg;
    if (load(path, argv + optind + 1, argc - optind - 1, &cfg) < 0)
        return 1;
    for (unsigned i = 0; i < cfg.nwarnings; i++)
        fprintf(stderr, "warning: %s\n", cfg.warnings[i]);
    int rc = 1;
    struct vm_process_args a = {.cfg = &cfg, .paused = paused, .ready_fd = -1};
    char err[512], log_path[4096];
    if (supported(path, &cfg) < 0)
        goto out;
    if (dry) {
        struct json_object *j = vm_config_json(&cfg);
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        rc = 0;
        goto out;
    }
    mkdir(logdir_base(), 0750);
    snprintf(log_path, sizeof(log_path), "%s/%s.log", logdir_base(), cfg.name);
    a.log_path = log_path;
    if (rundir_claim(cfg.name, &a.claim, err, sizeof(err)) < 0) {
        vlog_err("create: %s", err);
        goto out;
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        vlog_err("pipe: %s", strerror(errno));
        rundir_release(cfg.name);
        goto out;
    }
    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        vlog_err("fork: %s", strerror(errno));
        rundir_release(cfg.name);
        goto out;
    }
    if (child == 0) {
        close(pipefd[0]);
        /* `create` may be gone (Ctrl-C, a timeout) before it reads "ok";
         * writing to the pipe must then not kill the new VM. */
        signal(SIGPIPE, SIG_IGN);
        setsid();   /* outlives this command and its terminal */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, STDIN_FILENO);
            close(null);
        }
        rundir_set_pid(&a.claim, getpid());
        a.ready_fd = pipefd[1];
        int status = vm_process_main(&a);
        vm_config_free(&cfg);
        exit(status);
    }
    close(pipefd[1]);
    close(a.claim.lock_fd);   /* the VM process holds the lock now */
    if (wait_ready(pipefd[0], child, &cfg, a.claim.domid) < 0)
        goto out;
    rc = console ? console_attach(cfg.name) : 0;
out:
    vm_config_free(&cfg);
    return rc;
}

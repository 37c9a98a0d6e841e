#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/rundir.h"
#include "util/log.h"

struct target {
    const char *name;
    int fd;
    bool done, failed, await_eof;
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Sends the request (after "wait" when waiting, so the stop cannot be
 * missed) and reads its answer. */
static void request(struct target *t, enum ctl_cmd cmd, bool wait, bool all)
{
    char err[512] = "";
    t->fd = ctl_open(t->name, err, sizeof(err));
    if (t->fd < 0 && all && !rundir_pid(t->name)) {
        t->done = true;   /* it ended between the listing and now: nothing to do */
        return;
    }
    struct json_object *r = NULL;
    if (t->fd >= 0 && (!wait || ctl_send(t->fd, CTL_WAIT, NULL) == 0) && ctl_send(t->fd, cmd, NULL) == 0)
        r = ctl_reply_ok(cmd, ctl_recv(t->fd, CTL_TIMEOUT_MS, err, sizeof(err)), err, sizeof(err));
    if (r) {
        json_object_put(r);
        return;
    }
    vlog_err("%s: %s", t->name, err[0] ? err : strerror(errno));
    t->failed = true;
}

/* Until each waited-for VM reports its stop (or its process ends). */
static void wait_all(struct target *t, int n, int timeout_s)
{
    long long deadline = now_ms() + (long long)timeout_s * 1000;
    for (;;) {
        struct pollfd p[VM_NAMES_MAX];
        int idx[VM_NAMES_MAX], k = 0;
        for (int i = 0; i < n; i++)
            if (!t[i].failed && !t[i].done) {
                p[k] = (struct pollfd){.fd = t[i].fd, .events = POLLIN};
                idx[k++] = i;
            }
        long long left = deadline - now_ms();
        if (!k || left <= 0)
            return;
        if (poll(p, (nfds_t)k, (int)left) < 0 && errno != EINTR)
            return;
        for (int j = 0; j < k; j++) {
            if (!p[j].revents)
                continue;
            char err[256];
            struct json_object *ev = ctl_recv(p[j].fd, CTL_TIMEOUT_MS, err, sizeof(err));
            /* A VM that ends with its guest is waited for until its
             * process has gone (EOF), with its TAPs and image locks. */
            if (ev && !strcmp(ctl_str(ev, "then", ""), "destroy"))
                t[idx[j]].await_eof = true;
            else
                t[idx[j]].done = true;   /* EOF, or a VM that restarts or stays (preserve) */
            json_object_put(ev);
        }
    }
}

/* shutdown and reboot. */
int cmd_shutdown(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool all = false, wait = false;
    int timeout_s = SHUTDOWN_DEFAULT_WAIT_S, opt;
    static const struct option longopts[] = {{"all", no_argument, NULL, 'a'}, {"wait", no_argument, NULL, 'w'},
                                             {"timeout", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    static const char optstring[] = "awt:h";
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'a': all = true; break;
        case 'w': wait = true; break;
        case 't':
            timeout_s = (int)strtol(optarg, &end, 10);
            if (*end || end == optarg || timeout_s < 1 || timeout_s > 86400) {
                return cli_usage_error(self->name, "-t %s: expected seconds, 1 to 86400", optarg);
            }
            break;
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (all == (optind < argc))
        return cli_usage_error(self->name, "expected VM names or -a (not both)");
    static char names[VM_NAMES_MAX][72];
    int n = vm_names_select(argc - optind, argv + optind, all, 0, names);
    if (n < 0)
        return 1;
    static struct target t[VM_NAMES_MAX];
    for (int i = 0; i < n; i++) {
        t[i] = (struct target){.name = names[i], .fd = -1};
        request(&t[i], self->ctl, wait, all);
    }
    if (wait)
        wait_all(t, n, timeout_s);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].failed)
            rc = 1;
        else if (wait && !t[i].done) {
            vlog_err("%s: did not power off within %d s (vireo destroy %s stops it hard)", t[i].name, timeout_s,
                     t[i].name);
            rc = 1;
        }
        if (t[i].fd >= 0)
            close(t[i].fd);
    }
    return rc;
}

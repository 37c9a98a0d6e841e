#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/rundir.h"
#include "util/log.h"

#define DESTROY_WAIT_MS 10000

static bool alive(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* Gives the VM process (pid, as its run directory named it) time to exit;
 * if it does not, SIGKILLs it.  Its directory is then stale, and is
 * removed here or by the next list or create. */
static int kill_hard(const char *name, pid_t pid, int grace_ms)
{
    for (int t = 0; t < grace_ms && alive(pid); t += 10)
        usleep(10000);
    if (alive(pid)) {
        vlog_info("destroy: VM '%s' does not answer; killing its process %d", name, (int)pid);
        if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
            vlog_err("destroy: kill %d: %s", (int)pid, strerror(errno));
            return 1;
        }
        for (int i = 0; i < 200 && alive(pid); i++)
            usleep(10000);
    }
    rundir_remove_stale(name);
    return 0;
}

int cmd_destroy(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 1, &status))
        return status;
    char buf[72];
    const char *name = vm_name_arg(argv[1], buf);
    char err[512] = "";
    pid_t pid = rundir_pid(name);
    int fd = ctl_open(name, err, sizeof(err));
    if (fd < 0) {
        if (pid)
            return kill_hard(name, pid, 0);
        vlog_err("destroy: %s", err);
        return 1;
    }
    struct json_object *r = NULL;
    if (ctl_send(fd, self->ctl, NULL) == 0)
        r = ctl_recv(fd, DESTROY_WAIT_MS, err, sizeof(err));
    json_object_put(r);
    /* The process ends right after the VM: wait for the connection to close. */
    struct json_object *more;
    while ((more = ctl_recv(fd, DESTROY_WAIT_MS, err, sizeof(err))))
        json_object_put(more);
    close(fd);
    /* Returns once the process is gone, not only its VM. */
    return kill_hard(name, pid, DESTROY_WAIT_MS);
}

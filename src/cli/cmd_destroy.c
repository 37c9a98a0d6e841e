#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "toolstack/rundir.h"
#include "util/log.h"

#define DESTROY_WAIT_MS 10000

static const char usage[] =
    "usage: vireo destroy NAME\n"
    "Stops the VM at once, like pulling the plug (the guest is not asked);\n"
    "returns when its process is gone.\n";

/* Gives the process time to finish (it closes the socket a moment
 * before it exits); if it does not, SIGKILLs it.  Its directory is then
 * stale, and the next list or create removes it. */
static int kill_hard(const char *name, int grace_ms)
{
    for (int t = 0; t < grace_ms && rundir_pid(name); t += 20)
        usleep(20000);
    pid_t pid = rundir_pid(name);
    if (!pid)
        return 0;
    vlog_info("destroy: VM '%s' does not answer; killing its process %d", name, (int)pid);
    if (kill(pid, SIGKILL) < 0 && errno != ESRCH) {
        vlog_err("destroy: kill %d: %s", (int)pid, strerror(errno));
        return 1;
    }
    for (int i = 0; i < 100 && rundir_pid(name); i++)
        usleep(20000);
    rundir_remove_stale(name);
    return 0;
}

int cmd_destroy(int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(argc, argv, 1, usage, &status))
        return status;
    char buf[72];
    const char *name = vm_name_arg(argv[1], buf);
    char err[512] = "";
    int fd = ctl_open(name, err, sizeof(err));
    if (fd < 0) {
        if (rundir_pid(name))
            return kill_hard(name, 0);
        vlog_err("destroy: %s", err);
        return 1;
    }
    struct json_object *r = NULL;
    if (ctl_send(fd, "destroy", NULL) == 0)
        r = ctl_recv(fd, DESTROY_WAIT_MS, err, sizeof(err));
    json_object_put(r);
    /* The process ends right after the VM: wait for the connection to close. */
    struct json_object *more;
    while ((more = ctl_recv(fd, DESTROY_WAIT_MS, err, sizeof(err))))
        json_object_put(more);
    close(fd);
    return kill_hard(name, DESTROY_WAIT_MS);
}

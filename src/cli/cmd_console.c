#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/log.h"
#include "vm/console.h"

#define DETACH 0x1d   /* Ctrl-], as xl console and virsh console */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Copies socket -> stdout and stdin -> socket until detach or EOF on the
 * socket.  stdin reaching its end (a script's input) stops input only. */
static int pump(int fd, struct console *con)
{
    char buf[4096];
    bool in_open = con->readable;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
        if (poll(p, in_open ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (p[0].revents) {
            ssize_t r = recv(fd, buf, sizeof(buf), 0);
            if (r <= 0)
                return 0;   /* the VM process ended */
            if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0)
                return 0;
        }
        if (in_open && p[1].revents) {
            ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r <= 0) {
                in_open = false;
                continue;
            }
            char *d = memchr(buf, DETACH, (size_t)r);
            if (d && con->raw) {
                if (d > buf)
                    write_all(fd, buf, (size_t)(d - buf));
                return 0;
            }
            if (write_all(fd, buf, (size_t)r) < 0)
                return 0;
        }
    }
}

int console_attach(const char *name)
{
    char err[512] = "";
    int fd = ctl_open(name, err, sizeof(err));
    if (fd < 0) {
        vlog_err("console: %s", err);
        return 1;
    }
    struct json_object *r = NULL;
    if (ctl_send(fd, CTL_CONSOLE, NULL) == 0)
        r = ctl_reply_ok(CTL_CONSOLE, ctl_recv(fd, CTL_TIMEOUT_MS, err, sizeof(err)), err, sizeof(err));
    if (!r) {
        vlog_err("console: %s", err[0] ? err : strerror(errno));
        close(fd);
        return 1;
    }
    json_object_put(r);
    struct console con;
    console_open(&con, STDIN_FILENO);
    if (con.raw)
        fprintf(stderr, "vireo: console of '%s'; Ctrl-] detaches\r\n", name);
    int rc = pump(fd, &con);
    console_restore(&con);
    close(fd);
    return rc;
}

int cmd_console(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 1, &status))
        return status;
    char buf[72];
    return console_attach(vm_name_arg(argv[1], buf));
}

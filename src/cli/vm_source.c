#include "cli/vm_source.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/vm_names.h"
#include "toolstack/ctl_client.h"
#include "util/file.h"
#include "util/log.h"

#define CONFIG_MAX (1024 * 1024)
/* A freeze flushes the disks first: a lot of dirty page cache can take a
 * while to reach the disk. */
#define FREEZE_ANSWER_MS 300000

static bool is_file_arg(const char *arg)
{
    size_t n = strlen(arg);
    struct stat st;
    return strchr(arg, '/') || (n > 4 && !strcmp(arg + n - 4, ".cfg")) || (stat(arg, &st) == 0 && S_ISREG(st.st_mode));
}

static void join(const char *dir, const char *p, char *out, size_t len)
{
    if (p[0] == '/')
        snprintf(out, len, "%s", p);
    else
        snprintf(out, len, "%s/%s", dir, p);
}

static int parse_text(struct vm_source *s, const char *text, size_t len, const char *fname)
{
    char err[1024];
    if (vm_config_parse(text, len, fname, &s->cfg, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    snprintf(s->name, sizeof(s->name), "%s", s->cfg.name);
    return 0;
}

static int load_file(struct vm_source *s, const char *path)
{
    uint64_t size;
    char *buf = read_input(path, "config file", CONFIG_MAX, &size);
    if (!buf)
        return -1;
    int r = parse_text(s, buf, size, path);
    free(buf);
    return r;
}

/* The running VM's own configuration (what it runs with) and where its
 * relative paths start. */
static int load_running(struct vm_source *s, const char *name, char *cwd, size_t cwdlen, char *file, size_t filelen)
{
    char err[512];
    struct json_object *r = ctl_call(name, CTL_CONFIG, NULL, err, sizeof(err));
    if (!r) {
        vlog_err("%s", err);
        return -1;
    }
    char fname[128];
    snprintf(fname, sizeof(fname), "VM '%s' (its configuration)", name);
    const char *text = ctl_str(r, "xlcfg", "");
    snprintf(cwd, cwdlen, "%s", ctl_str(r, "cwd", "/"));
    snprintf(file, filelen, "%s", ctl_str(r, "file", ""));
    int rc = parse_text(s, text, strlen(text), fname);
    json_object_put(r);
    return rc;
}

int vm_source_load(const char *arg, struct vm_source *s)
{
    memset(s, 0, sizeof(*s));
    s->ctl_fd = -1;
    char cwd[PATH_MAX] = "", file[PATH_MAX] = "", buf[72];
    if (!getcwd(cwd, sizeof(cwd)))
        snprintf(cwd, sizeof(cwd), "/");
    if (is_file_arg(arg)) {
        if (load_file(s, arg) < 0)
            return -1;
        if (!realpath(arg, file))
            snprintf(file, sizeof(file), "%s", arg);
        char err[512];
        int fd = ctl_open(s->name, err, sizeof(err));
        if (fd >= 0) {
            /* It runs: what matters is what it has open. */
            close(fd);
            vm_config_free(&s->cfg);
            char f2[PATH_MAX];
            if (load_running(s, s->name, cwd, sizeof(cwd), f2, sizeof(f2)) < 0)
                return -1;
            s->running = true;
        }
    } else {
        const char *name = vm_name_arg(arg, buf);
        char err[512];
        int fd = ctl_open(name, err, sizeof(err));
        if (fd < 0) {
            vlog_err("%s; to copy a VM that is off, give its config file", err);
            return -1;
        }
        close(fd);
        if (load_running(s, name, cwd, sizeof(cwd), file, sizeof(file)) < 0)
            return -1;
        s->running = true;
    }
    if (file[0]) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof(tmp), "%s", file);
        snprintf(s->cfg_dir, sizeof(s->cfg_dir), "%s", dirname(tmp));
    } else {
        snprintf(s->cfg_dir, sizeof(s->cfg_dir), "%s", cwd);
    }
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        join(cwd, s->cfg.disks[i].target, s->path[i], sizeof(s->path[i]));
        /* xl.cfg's disks are raw until its format= lands in vm_disk. */
        s->fmt[i] = IMG_FORMAT_RAW;
    }
    return 0;
}

void vm_source_free(struct vm_source *s)
{
    if (s->ctl_fd >= 0)
        close(s->ctl_fd);
    s->ctl_fd = -1;
    vm_config_free(&s->cfg);
}

int vm_source_freeze(struct vm_source *s, unsigned max_seconds)
{
    char err[1024];
    s->ctl_fd = ctl_open(s->name, err, sizeof(err));
    if (s->ctl_fd < 0) {
        vlog_err("%s", err);
        return -1;
    }
    struct json_object *args = json_object_new_object();
    json_object_object_add(args, "max_seconds", json_object_new_int((int)max_seconds));
    int sent = ctl_send(s->ctl_fd, CTL_FREEZE, args);
    json_object_put(args);
    struct json_object *r = NULL;
    if (sent < 0)
        snprintf(err, sizeof(err), "sending to VM '%s': %s", s->name, strerror(errno));
    else
        r = ctl_reply_ok(CTL_FREEZE, ctl_recv(s->ctl_fd, FREEZE_ANSWER_MS, err, sizeof(err)), err, sizeof(err));
    if (!r) {
        vlog_err("freezing VM '%s': %s", s->name, err);
        close(s->ctl_fd);
        s->ctl_fd = -1;
        return -1;
    }
    struct json_object *disks = json_object_object_get(r, "disks");
    int rc = 0;
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        bool found = false;
        for (size_t k = 0; k < json_object_array_length(disks) && !found; k++) {
            struct json_object *d = json_object_array_get_idx(disks, k);
            if (strcmp(ctl_str(d, "vdev", ""), s->cfg.disks[i].vdev))
                continue;
            found = true;
            snprintf(s->path[i], sizeof(s->path[i]), "%s", ctl_str(d, "path", s->path[i]));
            if (img_format_parse(ctl_str(d, "format", "raw"), &s->fmt[i]) < 0) {
                vlog_err("VM '%s': disk %s has format '%s', which vireo cannot copy", s->name, s->cfg.disks[i].vdev,
                         ctl_str(d, "format", ""));
                rc = -1;
            }
        }
        if (!found) {
            vlog_err("VM '%s' has no disk %s open", s->name, s->cfg.disks[i].vdev);
            rc = -1;
        }
    }
    json_object_put(r);
    return rc;
}

int vm_source_thaw(struct vm_source *s, uint64_t *frozen_ms)
{
    char err[1024];
    if (s->ctl_fd < 0)
        return 0;
    struct json_object *r = NULL;
    if (ctl_send(s->ctl_fd, CTL_THAW, NULL) < 0)
        snprintf(err, sizeof(err), "sending to VM '%s': %s", s->name, strerror(errno));
    else
        r = ctl_reply_ok(CTL_THAW, ctl_recv(s->ctl_fd, CTL_TIMEOUT_MS, err, sizeof(err)), err, sizeof(err));
    close(s->ctl_fd);
    s->ctl_fd = -1;
    if (!r) {
        vlog_err("VM '%s': %s", s->name, err);
        return -1;
    }
    *frozen_ms = (uint64_t)ctl_num(r, "frozen_ms");
    json_object_put(r);
    return 0;
}

void vm_source_rename(const char *file, const char *old, const char *new_name, char *out, size_t len)
{
    const char *at = old[0] ? strstr(file, old) : NULL;
    if (at)
        snprintf(out, len, "%.*s%s%s", (int)(at - file), file, new_name, at + strlen(old));
    else
        snprintf(out, len, "%s-%s", new_name, file);
}

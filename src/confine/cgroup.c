#include "confine/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/err.h"

static int read_file(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = 0;
    return 0;
}

static int write_file(const char *dir, const char *file, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    int e = errno;
    close(fd);
    if (n != (ssize_t)strlen(text)) {
        errno = n < 0 ? e : EIO;
        return -1;
    }
    return 0;
}

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n'))
            return true;
    return false;
}

/* The cgroup2 mount: where it is mounted, from mountinfo ("... MOUNT_POINT
 * OPTIONS ... - cgroup2 SOURCE ..."). */
static int find_root(char *root, size_t len)
{
    const char *e = getenv("VIREO_CGROUP_ROOT");
    if (e && *e) {
        snprintf(root, len, "%s", e);
        return 0;
    }
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[4096];
    int found = -1;
    while (found < 0 && fgets(line, sizeof(line), f)) {
        char *dash = strstr(line, " - cgroup2 ");
        char mp[1024];
        if (dash && sscanf(line, "%*s %*s %*s %*s %1023s", mp) == 1) {
            snprintf(root, len, "%s", mp);
            found = 0;
        }
    }
    fclose(f);
    return found;
}

/* Leaves of VMs that ended (empty: rmdir refuses the others). */
static void remove_leftovers(const char *slice)
{
    DIR *d = opendir(slice);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, "vm-", 3) || !strncmp(e->d_name, "run-", 4))
            unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR);
    closedir(d);
}

static int join(const char *slice, const char *leaf, const struct confine_cgroup_limits *l, char *path,
                size_t pathlen, char *err, size_t errlen)
{
    int n = snprintf(path, pathlen, "%s/%s", slice, leaf);
    if (n < 0 || (size_t)n >= pathlen)
        return err_fail(err, errlen, "cgroup %s/%s: path too long", slice, leaf);
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return err_fail(err, errlen, "cgroup %s: %s", path, strerror(errno));
    char v[32];
    snprintf(v, sizeof(v), "%llu\n", (unsigned long long)l->memory_max);
    if (write_file(path, "memory.max", v) < 0)
        return err_fail(err, errlen, "cgroup %s: memory.max: %s", path, strerror(errno));
    snprintf(v, sizeof(v), "%llu\n", (unsigned long long)l->pids_max);
    if (write_file(path, "pids.max", v) < 0)
        return err_fail(err, errlen, "cgroup %s: pids.max: %s", path, strerror(errno));
    /* Before 4.19 there is no such file; the VM is one process anyway. */
    write_file(path, "memory.oom.group", "1\n");
    if (write_file(path, "cgroup.procs", "0\n") < 0)
        return err_fail(err, errlen, "cgroup %s: moving the VM process into it: %s", path, strerror(errno));
    return 1;
}

int confine_cgroup_join(const char *leaf, const struct confine_cgroup_limits *l, char *path, size_t pathlen,
                        char *err, size_t errlen)
{
    char root[1024], buf[512], slice[2048];
    /* Not available: 0, with why. */
    if (find_root(root, sizeof(root)) < 0) {
        err_fail(err, errlen, "no cgroup v2 hierarchy is mounted");
        return 0;
    }
    snprintf(slice, sizeof(slice), "%s/cgroup.controllers", root);
    if (read_file(slice, buf, sizeof(buf)) < 0) {
        err_fail(err, errlen, "%s: %s", slice, strerror(errno));
        return 0;
    }
    if (!has_word(buf, "memory") || !has_word(buf, "pids")) {
        err_fail(err, errlen, "the cgroup v2 hierarchy at %s lacks the %s controller (a cgroup v1 or hybrid host: "
                 "boot with systemd.unified_cgroup_hierarchy=1)", root, !has_word(buf, "memory") ? "memory" : "pids");
        return 0;
    }
    /* Enabled for the root's children (systemd has done it already where
     * it runs), then for the slice's. */
    if (write_file(root, "cgroup.subtree_control", "+memory +pids") < 0)
        return err_fail(err, errlen, "cgroup %s: enabling memory and pids: %s", root, strerror(errno));
    snprintf(slice, sizeof(slice), "%s/%s", root, CONFINE_CGROUP_SLICE);
    if (mkdir(slice, 0755) < 0 && errno != EEXIST)
        return err_fail(err, errlen, "cgroup %s: %s", slice, strerror(errno));
    if (write_file(slice, "cgroup.subtree_control", "+memory +pids") < 0)
        return err_fail(err, errlen, "cgroup %s: enabling memory and pids: %s", slice, strerror(errno));
    remove_leftovers(slice);
    /* Another VM starting now may remove our leaf between its mkdir and our
     * move into it (it was empty): then again. */
    int r = -1;
    for (int tries = 0; tries < 5; tries++) {
        r = join(slice, leaf, l, path, pathlen, err, errlen);
        if (r > 0 || errno != ENOENT)
            break;
    }
    return r;
}

#include "toolstack/rundir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rundir_base(void)
{
    const char *e = getenv("VIREO_RUN_DIR");
    return e && *e ? e : RUNDIR_DEFAULT;
}

const char *logdir_base(void)
{
    const char *e = getenv("VIREO_LOG_DIR");
    return e && *e ? e : LOGDIR_DEFAULT;
}

int rundir_path(char *out, size_t len, const char *name, const char *file)
{
    if (!name[0] || name[0] == '.' || strchr(name, '/'))
        return -1;
    int n = file ? snprintf(out, len, "%s/%s/%s", rundir_base(), name, file)
                 : snprintf(out, len, "%s/%s", rundir_base(), name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* BASE/FILE opened for locking (BASE made if missing); -1 with err. */
static int open_base_file(const char *file, char *path, size_t plen, char *err, size_t errlen)
{
    const char *base = rundir_base();
    if (mkdir(base, 0700) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", base, strerror(errno));
        return -1;
    }
    snprintf(path, plen, "%s/%s", base, file);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

/* Held while names are claimed or stale entries removed. */
static int lock_base(char *err, size_t errlen)
{
    char path[4096];
    int fd = open_base_file(".lock", path, sizeof(path), err, errlen);
    if (fd >= 0 && flock(fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

int rundir_create_lock(char *err, size_t errlen)
{
    char path[4096];
    int fd = open_base_file(".create-lock", path, sizeof(path), err, errlen);
    /* A POSIX record lock, not flock(): the VM process forked meanwhile
     * inherits the descriptor but not this lock, which is the creating
     * process's alone. */
    struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fd >= 0 && fcntl(fd, F_SETLKW, &l) < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

void rundir_create_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}

static void remove_dir(const char *name)
{
    char dir[4096];
    if (rundir_path(dir, sizeof(dir), name, NULL) < 0)
        return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                unlinkat(dirfd(d), e->d_name, 0);
        closedir(d);
    }
    rmdir(dir);
}

/* 1: a live VM process holds NAME (its pid in *pid), 0: stale or absent. */
static int probe(const char *name, pid_t *pid)
{
    char path[4096];
    *pid = 0;
    if (rundir_path(path, sizeof(path), name, "pid") < 0)
        return 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int live = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    if (live) {
        char buf[32] = {0};
        if (pread(fd, buf, sizeof(buf) - 1, 0) > 0)
            *pid = (pid_t)atoi(buf);
    }
    close(fd);
    return live;
}

pid_t rundir_pid(const char *name)
{
    pid_t pid;
    return probe(name, &pid) ? pid : 0;
}

static unsigned next_domid(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/.next-id", rundir_base());
    unsigned id = 1;
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%u", &id) != 1 || id == 0)
            id = 1;
        fclose(f);
    }
    f = fopen(path, "we");
    if (f) {
        fprintf(f, "%u\n", id + 1);
        fclose(f);
    }
    return id;
}

int rundir_claim(const char *name, struct rundir_claim *c, char *err, size_t errlen)
{
    c->lock_fd = -1;
    int base = lock_base(err, errlen);
    if (base < 0)
        return -1;
    int ret = -1;
    pid_t pid;
    char dir[4096], path[4096];
    if (rundir_path(dir, sizeof(dir), name, NULL) < 0 || rundir_path(path, sizeof(path), name, "pid") < 0) {
        snprintf(err, errlen, "%s: path too long", rundir_base());
        goto out;
    }
    if (probe(name, &pid)) {
        snprintf(err, errlen, "a VM named '%s' is already running (pid %d); names are unique", name, (int)pid);
        goto out;
    }
    remove_dir(name);
    if (mkdir(dir, 0700) < 0) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        goto out;
    }
    /* Not O_CLOEXEC: nothing is exec'd, and the lock must stay with the
     * VM process after fork(). */
    c->lock_fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    /* Blocking: a probe may hold a shared lock for a moment. */
    if (c->lock_fd < 0 || flock(c->lock_fd, LOCK_EX) < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        goto out;
    }
    c->domid = next_domid();
    ret = 0;
out:
    if (ret < 0 && c->lock_fd >= 0) {
        close(c->lock_fd);
        c->lock_fd = -1;
        remove_dir(name);
    }
    close(base);
    return ret;
}

int rundir_set_pid(const struct rundir_claim *c, pid_t pid)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d %u\n", (int)pid, c->domid);
    if (ftruncate(c->lock_fd, 0) < 0 || pwrite(c->lock_fd, buf, (size_t)n, 0) != n)
        return -1;
    return 0;
}

void rundir_release(const char *name)
{
    char err[256];
    int base = lock_base(err, sizeof(err));
    remove_dir(name);
    if (base >= 0)
        close(base);
}

void rundir_unlock(struct rundir_claim *c)
{
    if (c->lock_fd >= 0) {
        flock(c->lock_fd, LOCK_UN);
        close(c->lock_fd);
    }
    c->lock_fd = -1;
}

void rundir_remove_stale(const char *name)
{
    char err[256];
    pid_t pid;
    int base = lock_base(err, sizeof(err));
    if (base < 0)
        return;
    /* Under the lock: a new VM may have claimed the name meanwhile. */
    if (!probe(name, &pid))
        remove_dir(name);
    close(base);
}

int rundir_find_id(unsigned id, char name[72])
{
    char names[256][72], err[256];
    int n = rundir_list(names, 256, err, sizeof(err));
    for (int i = 0; i < n; i++) {
        char path[4096];
        unsigned pid, got;
        if (rundir_path(path, sizeof(path), names[i], "pid") < 0)
            continue;
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        int k = fscanf(f, "%u %u", &pid, &got);
        fclose(f);
        if (k == 2 && got == id) {
            strcpy(name, names[i]);
            return 0;
        }
    }
    return -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

int rundir_list(char (*names)[72], int max, char *err, size_t errlen)
{
    DIR *d = opendir(rundir_base());
    if (!d) {
        if (errno == ENOENT)
            return 0;   /* nothing was ever created */
        snprintf(err, errlen, "cannot read %s: %s", rundir_base(), strerror(errno));
        return -1;
    }
    int base = lock_base(err, errlen);
    if (base < 0) {
        closedir(d);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= sizeof(names[0]))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            continue;
        pid_t pid;
        if (!probe(e->d_name, &pid)) {
            remove_dir(e->d_name);   /* its process is gone (killed) */
            continue;
        }
        if (n < max)
            strcpy(names[n++], e->d_name);
    }
    closedir(d);
    close(base);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_names);
    return n;
}

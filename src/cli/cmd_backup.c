/* `vireo backup NAME-or-CFG DEST|-`: a point-in-time copy of a VM's disks
 * as one stream (image/backup_stream.h), to a new file or to standard
 * output, for `vireo image import`.
 *
 * A running VM is frozen (paused, disks flushed) while each writable disk
 * is snapshotted beside itself (a reflink of its file, an LVM snapshot of
 * its volume), then resumes; the snapshots are copied while it runs and
 * dropped afterwards.  With --paused-copy a disk whose file system cannot
 * reflink is read while the VM stays frozen instead (the whole stream is
 * then written before it resumes).  A VM that is off is read directly,
 * under shared locks that keep it from starting to write meanwhile. */
#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/vm_source.h"
#include "image/backup_stream.h"
#include "image/img_clone.h"
#include "image/img_reader.h"
#include "image/lvm.h"
#include "toolstack/vm_config_write.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/size.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct bdisk {
    bool snap;                       /* a snapshot was made (dropped at the end) */
    struct img_clone_result res;
    bool direct;                     /* read in place, while frozen */
    struct img_reader r;
    bool open;
};

/* A hidden name beside the disk for its snapshot; -1 if too long. */
static int snap_name(const char *src, bool lv, char *out, size_t len)
{
    char tmp[PATH_MAX], base[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", src);
    snprintf(base, sizeof(base), "%s", basename(tmp));
    /* An LV's: a name in its volume group (NAME.vireo-backup-PID). */
    if (lv)
        return snprintf(out, len, "%.64s.vireo-backup-%ld", base, (long)getpid()) >= (int)len ? -1 : 0;
    snprintf(tmp, sizeof(tmp), "%s", src);
    return snprintf(out, len, "%s/.%s.vireo-backup-%ld", dirname(tmp), base, (long)getpid()) >= (int)len ? -1 : 0;
}

static int snapshot(struct vm_source *s, unsigned i, struct bdisk *b, bool paused_copy)
{
    struct stat st;
    if (stat(s->path[i], &st) < 0) {
        vlog_err("backup: disk %s: %s: %s", s->cfg.disks[i].vdev, s->path[i], strerror(errno));
        return -1;
    }
    char dst[PATH_MAX], err[2048];
    if (snap_name(s->path[i], S_ISBLK(st.st_mode), dst, sizeof(dst)) < 0) {
        vlog_err("backup: disk %s: %s: path too long", s->cfg.disks[i].vdev, s->path[i]);
        return -1;
    }
    /* Never a copy here: a copy made while frozen is a paused read anyway. */
    struct img_clone_opts o = {.fmt = s->fmt[i], .frozen = true};
    if (img_clone(s->path[i], dst, &o, &b->res, err, sizeof(err)) == 0) {
        b->snap = true;
        return 0;
    }
    if (paused_copy && strstr(err, "no reflinks")) {
        b->direct = true;
        return 0;
    }
    vlog_err("backup: disk %s: %s%s", s->cfg.disks[i].vdev, err,
             strstr(err, "no reflinks") ? "; --paused-copy reads it while the VM stays paused" : "");
    return -1;
}

static void drop(struct vm_source *s, struct bdisk *b)
{
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        char err[1024];
        if (b[i].open)
            img_reader_close(&b[i].r);
        b[i].open = false;
        if (b[i].snap && img_clone_undo(&b[i].res, err, sizeof(err)) < 0)
            vlog_err("backup: could not drop the snapshot %s: %s", b[i].res.path, err);
        b[i].snap = false;
    }
}

static int open_readers(struct vm_source *s, struct bdisk *b, struct img_reader **rs)
{
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        char err[2048];
        const char *path = b[i].snap ? b[i].res.path : s->path[i];
        /* A disk read in place is its paused VM's (which holds the write
         * lock); everything else is read under a shared lock. */
        if (img_reader_open(&b[i].r, path, s->fmt[i], !b[i].direct, err, sizeof(err)) < 0) {
            vlog_err("backup: disk %s: %s", s->cfg.disks[i].vdev, err);
            return -1;
        }
        b[i].open = true;
        rs[i] = &b[i].r;
    }
    return 0;
}

static void fill_manifest(const struct vm_source *s, struct img_reader **rs, struct backup_manifest *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->name, sizeof(m->name), "%s", s->name);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(m->created, sizeof(m->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(m->config, sizeof(m->config), "%s.cfg", s->name);
    m->ndisks = s->cfg.ndisks;
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        struct backup_disk *d = &m->disks[i];
        snprintf(d->file, sizeof(d->file), "%s-%s.raw", s->name, s->cfg.disks[i].vdev);
        snprintf(d->vdev, sizeof(d->vdev), "%s", s->cfg.disks[i].vdev);
        d->ro = s->cfg.disks[i].readonly;
        d->size = (img_reader_size(rs[i]) + 511) & ~511ull;
        /* Information only: a shortened path is still a hint. */
        if (snprintf(d->source, sizeof(d->source), "%s", s->path[i]) >= (int)sizeof(d->source))
            d->source[sizeof(d->source) - 2] = '~';
        snprintf(d->source_format, sizeof(d->source_format), "%s", img_format_name(s->fmt[i]));
    }
}

/* The stream itself. */
static int write_stream(struct vm_source *s, int fd, struct img_reader **rs, struct backup_manifest *m,
                        struct progress *pr)
{
    fill_manifest(s, rs, m);
    struct vm_config_edit e = {0};
    for (unsigned i = 0; i < s->cfg.ndisks; i++) {
        e.disk_target[i] = m->disks[i].file;
        e.disk_format[i] = "raw";
    }
    char err[2048];
    char *cfg = vm_config_write(&s->cfg, &e, err, sizeof(err));
    if (!cfg) {
        vlog_err("backup: %s", err);
        return -1;
    }
    progress_start(pr, "backing up", 0);
    int r = backup_write(fd, m, cfg, strlen(cfg), rs, pr, &stop, err, sizeof(err));
    progress_end(pr);
    free(cfg);
    if (r < 0)
        vlog_err("backup: %s", err);
    return r;
}

int cmd_backup(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool paused_copy = false;
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"paused-copy", no_argument, NULL, 'P'},
                                             {0, 0, 0, 0}};
    int opt;
    static const char optstring[] = "+h";
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (opt) {
        case 'P': paused_copy = true; break;
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(self->name, "expected NAME-or-CFG and DEST (a new file, or - for standard output)");
    const char *dest = argv[optind + 1];
    bool to_stdout = !strcmp(dest, "-");
    if (to_stdout && isatty(STDOUT_FILENO)) {
        vlog_err("backup: standard output is a terminal; redirect it (> FILE, | zstd > FILE, | ssh HOST vireo image "
                 "import -)");
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    static struct vm_source s;
    if (vm_source_load(argv[optind], &s) < 0)
        return 1;
    int fd = STDOUT_FILENO, rc = 1;
    if (!to_stdout) {
        fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            vlog_err("backup: %s: %s%s", dest, strerror(errno), errno == EEXIST ? "; nothing was changed" : "");
            vm_source_free(&s);
            return 1;
        }
    }
    /* A reader gone (ssh died) is an error to report, and a signal a
     * reason to stop: either way the snapshots are dropped. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    static struct bdisk b[VM_MAX_DISKS];
    memset(b, 0, sizeof(b));
    struct img_reader *rs[VM_MAX_DISKS];
    static struct backup_manifest m;
    struct progress pr;
    uint64_t frozen_ms = 0;
    bool direct = false;
    if (s.running) {
        if (vm_source_freeze(&s, paused_copy ? 86400 : 60) < 0)
            goto out;
        bool ok = true;
        for (unsigned i = 0; i < s.cfg.ndisks && ok; i++)
            if (!s.cfg.disks[i].readonly)
                ok = snapshot(&s, i, &b[i], paused_copy) == 0;
        for (unsigned i = 0; i < s.cfg.ndisks; i++)
            direct |= b[i].direct;
        /* With a disk read in place, the whole stream is written frozen. */
        if (ok && direct)
            ok = open_readers(&s, b, rs) == 0 && write_stream(&s, fd, rs, &m, &pr) == 0;
        if (vm_source_thaw(&s, &frozen_ms) < 0 || !ok)
            goto out;
        if (!direct && (open_readers(&s, b, rs) < 0 || write_stream(&s, fd, rs, &m, &pr) < 0))
            goto out;
    } else if (open_readers(&s, b, rs) < 0 || write_stream(&s, fd, rs, &m, &pr) < 0) {
        goto out;
    }
    if (!to_stdout && (fsync(fd) < 0 || close(fd) < 0)) {
        fd = -1;
        vlog_err("backup: %s: %s", dest, strerror(errno));
        goto out;
    }
    if (!to_stdout)
        fd = -1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t data = 0;
    for (unsigned i = 0; i < m.ndisks; i++)
        data += m.disks[i].data_bytes;
    char h[32];
    size_human(data, h, sizeof(h));
    char frozen[64] = "";
    if (s.running)
        snprintf(frozen, sizeof(frozen), "; frozen for %llu ms", (unsigned long long)frozen_ms);
    fprintf(stderr, "vireo: backup of '%s': %u disk%s, %s of data in %.1f s%s -> %s\n", s.name, m.ndisks,
            m.ndisks > 1 ? "s" : "", h, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
            frozen, to_stdout ? "standard output" : dest);
    rc = 0;
out:
    drop(&s, b);
    if (fd >= 0 && !to_stdout) {
        close(fd);
        if (rc)
            unlink(dest);
    }
    vm_source_free(&s);
    return rc;
}

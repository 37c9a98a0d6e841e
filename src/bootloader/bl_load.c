/* bootloader_load(): the finder in a sandboxed child, and the parent's
 * checks of what comes back (see bootloader.h for the records). */
#include "bootloader/bootloader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootloader/bootentry.h"
#include "bootloader/grub.h"
#include "bootloader/sandbox.h"
#include "util/err.h"

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Bytes for what a person reads: exact below 10 MiB, else in MiB. */
static const char *size_text(uint64_t n, char *buf, size_t len)
{
    if (n < (10u << 20))
        snprintf(buf, len, "%llu bytes", (unsigned long long)n);
    else
        snprintf(buf, len, "%llu MiB", (unsigned long long)(n >> 20));
    return buf;
}

static uint64_t max_initrd(const struct bl_options *o)
{
    return o->max_initrd && o->max_initrd < BL_LIMIT_INITRD ? o->max_initrd : BL_LIMIT_INITRD;
}

/* ---- the child ---- */

struct child_args {
    const struct bl_disk *disk;
    struct bl_request req;
    uint64_t max_initrd;
};

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_rec(int fd, char type, const void *data, uint64_t len)
{
    uint8_t hdr[9];
    hdr[0] = (uint8_t)type;
    put64(hdr + 1, len);
    return write_all(fd, hdr, sizeof(hdr)) < 0 || (len && write_all(fd, data, (size_t)len) < 0) ? -1 : 0;
}

static int send_str(int fd, char type, const char *s)
{
    return s[0] ? send_rec(fd, type, s, strlen(s)) : 0;
}

static int send_error(int fd, const char *msg)
{
    send_rec(fd, BL_REC_ERROR, msg, strnlen(msg, BL_MAX_MESSAGE));
    return 1;
}

static int send_file(int fd, struct bl_finder *f, const struct bl_file_ref *ref, char type, uint64_t max,
                     const char *what, uint8_t *chunk, uint64_t *sent)
{
    struct extfs_file *file;
    uint64_t size;
    char err[BL_MAX_MESSAGE], why[256];
    if (bl_open(f, ref, &file, &size, why, sizeof(why)) < 0) {
        snprintf(err, sizeof(err), "the %s %.200s: %.200s", what, ref->path, why);
        return send_error(fd, err);
    }
    if (size > max || !size) {
        extfs_file_close(file);
        char a[32], b[32];
        if (!size)
            snprintf(err, sizeof(err), "the %s %.300s is empty", what, ref->path);
        else
            snprintf(err, sizeof(err), "the %s %.300s is %s; at most %s can be loaded", what, ref->path,
                     size_text(size, a, sizeof(a)), size_text(max, b, sizeof(b)));
        return send_error(fd, err);
    }
    uint8_t sz[8];
    put64(sz, size);
    if (send_rec(fd, type, sz, 8) < 0) {
        extfs_file_close(file);
        return 1;
    }
    uint64_t done = 0;
    while (done < size) {
        size_t want = size - done < BL_MAX_CHUNK ? (size_t)(size - done) : BL_MAX_CHUNK;
        long got = extfs_file_read(file, chunk, want, why, sizeof(why));
        if (got <= 0) {
            extfs_file_close(file);
            if (got == 0)
                snprintf(why, sizeof(why), "it ends after %llu of its %llu bytes", (unsigned long long)done,
                         (unsigned long long)size);
            snprintf(err, sizeof(err), "reading the %s %.200s: %.200s", what, ref->path, why);
            return send_error(fd, err);
        }
        if (send_rec(fd, BL_REC_DATA, chunk, (uint64_t)got) < 0) {
            extfs_file_close(file);
            return 1;
        }
        done += (uint64_t)got;
    }
    extfs_file_close(file);
    *sent = size;
    return 0;
}

static void path_text(struct bl_finder *f, const struct bl_file_ref *ref, char *out, size_t len)
{
    char dev[32];
    grub_device_name(&f->host, ref->part, dev, sizeof(dev));
    snprintf(out, len, "(%s)%s", dev, ref->path);
}

static int child_main(void *ctx, int out_fd)
{
    struct child_args *a = ctx;
    struct bl_disk disk = *a->disk;
    struct bl_finder *f = malloc(sizeof(*f));
    struct bl_entry *e = malloc(sizeof(*e));
    uint8_t *chunk = malloc(BL_MAX_CHUNK);
    char err[BL_MAX_MESSAGE];
    if (!f || !e || !chunk)
        return send_error(out_fd, "out of memory");
    if (bl_finder_open(f, &disk, err, sizeof(err)) < 0)
        return send_error(out_fd, err);
    if (bl_find(f, &a->req, e, err, sizeof(err)) < 0)
        return send_error(out_fd, err);
    char paths[BL_MAX_PATHS], one[BL_MAX_PATH + 40];
    path_text(f, &e->kernel, paths, sizeof(paths));
    for (unsigned i = 0; i < e->ninitrd; i++) {
        path_text(f, &e->initrd[i], one, sizeof(one));
        size_t o = strlen(paths);
        snprintf(paths + o, sizeof(paths) - o, "%s%s", i ? " " : ", initrd ", one);
    }
    if (send_str(out_fd, BL_REC_NOTE, f->pt.note) < 0 || send_str(out_fd, BL_REC_WARNING, e->warning) < 0 ||
        send_str(out_fd, BL_REC_SOURCE, e->source) < 0 || send_str(out_fd, BL_REC_TITLE, e->title) < 0 ||
        send_str(out_fd, BL_REC_PATHS, paths) < 0 || send_str(out_fd, BL_REC_CMDLINE, e->cmdline) < 0)
        return 1;
    uint64_t size;
    int r = send_file(out_fd, f, &e->kernel, BL_REC_KERNEL, BL_LIMIT_KERNEL, "kernel", chunk, &size);
    uint64_t left = a->max_initrd;
    for (unsigned i = 0; i < e->ninitrd && !r; i++) {
        r = send_file(out_fd, f, &e->initrd[i], BL_REC_INITRD, left, "initrd", chunk, &size);
        uint64_t used = (size + 3) & ~3ull;   /* as the parent places them */
        left = used < left ? left - used : 0;
    }
    if (!r)
        r = send_rec(out_fd, BL_REC_END, NULL, 0) < 0;
    bl_finder_close(f);
    return r;
}

/* ---- the parent ---- */

/* A string record: bounded, no NUL; control bytes become '?' unless
 * strict, where they are refused (the command line). */
static int take_string(struct sandbox *sb, uint64_t len, char *dst, size_t cap, bool strict, const char *what,
                       char *err, size_t errlen)
{
    if (len >= cap)
        return err_fail(err, errlen, "the parser's answer is malformed: a %s of %llu bytes (at most %zu)", what,
                    (unsigned long long)len, cap - 1);
    int r = sandbox_read(sb, dst, (size_t)len, err, errlen);
    if (r)
        return r;
    dst[len] = 0;
    for (uint64_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)dst[i];
        if (!c)
            return err_fail(err, errlen, "the parser's answer is malformed: a NUL byte in the %s", what);
        if (c < 0x20 || c == 0x7f) {
            if (strict)
                return err_fail(err, errlen, "the entry's %s has a control character (byte 0x%02x)", what, c);
            dst[i] = '?';
        }
    }
    return 0;
}

enum pstate { P_META, P_INITRDS, P_DATA };

int bl_read_answer(struct sandbox *sb, const struct bl_options *o, struct bl_result *r, char *err, size_t errlen)
{
    enum pstate st = P_META;
    uint8_t *dst = NULL;
    uint64_t remaining = 0, initrd_cap = max_initrd(o);
    unsigned ninitrd = 0;
    unsigned seen = 0;   /* string records, one bit each */
    for (;;) {
        uint8_t hdr[9];
        int rr = sandbox_read(sb, hdr, sizeof(hdr), err, errlen);
        if (rr)
            return rr;
        char type = (char)hdr[0];
        uint64_t len = get64(hdr + 1);
        if (st == P_DATA && type != BL_REC_DATA && type != BL_REC_ERROR)
            return err_fail(err, errlen, "the parser's answer is malformed: record '%c' in the middle of a file's data",
                        type >= 0x20 && type < 0x7f ? type : '?');
        const char *strs = "NWSTPC";
        const char *pos = type ? strchr(strs, type) : NULL;
        if (pos) {
            unsigned bit = 1u << (pos - strs);
            if (st != P_META || (seen & bit))
                return err_fail(err, errlen, "the parser's answer is malformed: record '%c' repeated or out of order",
                            type);
            seen |= bit;
            char *dsts[] = {r->note, r->warning, r->source, r->title, r->paths, r->cmdline};
            size_t caps[] = {sizeof(r->note), sizeof(r->warning), sizeof(r->source), sizeof(r->title),
                             sizeof(r->paths), sizeof(r->cmdline)};
            const char *names[] = {"note", "warning", "source", "title", "paths", "command line"};
            unsigned i = (unsigned)(pos - strs);
            rr = take_string(sb, len, dsts[i], caps[i], type == BL_REC_CMDLINE, names[i], err, errlen);
            if (rr)
                return rr;
            continue;
        }
        switch (type) {
        case BL_REC_ERROR: {
            char msg[BL_MAX_MESSAGE];
            rr = take_string(sb, len, msg, sizeof(msg), false, "message", err, errlen);
            if (rr)
                return rr;
            return err_fail(err, errlen, "%s", msg);
        }
        case BL_REC_KERNEL:
        case BL_REC_INITRD: {
            uint8_t b[8];
            bool kernel = type == BL_REC_KERNEL;
            if (len != 8 || (kernel ? st != P_META : st != P_INITRDS))
                return err_fail(err, errlen, "the parser's answer is malformed: record '%c' out of order", type);
            if ((rr = sandbox_read(sb, b, 8, err, errlen)))
                return rr;
            uint64_t size = get64(b);
            if (!size)
                return err_fail(err, errlen, "the parser's answer is malformed: an empty file");
            if (kernel) {
                char a[32], b[32];
                if (size > BL_LIMIT_KERNEL)
                    return err_fail(err, errlen, "the kernel is %s; at most %s can be loaded", size_text(size, a, sizeof(a)),
                                size_text(BL_LIMIT_KERNEL, b, sizeof(b)));
                if (!(r->kernel = malloc(size)))
                    return err_fail(err, errlen, "out of memory for a kernel of %llu bytes", (unsigned long long)size);
                r->kernel_len = size;
                dst = r->kernel;
            } else {
                /* Each initrd starts 4-byte aligned, as GRUB places them. */
                uint64_t at = (r->initrd_len + 3) & ~3ull;
                char a[32];
                if (ninitrd == BL_MAX_INITRDS || at > initrd_cap || size > initrd_cap - at)
                    return err_fail(err, errlen, "the initrd files come to more than %s, which is all that can be loaded",
                                size_text(initrd_cap, a, sizeof(a)));
                uint8_t *n = realloc(r->initrd, at + size);
                if (!n)
                    return err_fail(err, errlen, "out of memory for %llu bytes of initrd", (unsigned long long)(at + size));
                memset(n + r->initrd_len, 0, at - r->initrd_len);
                r->initrd = n;
                dst = n + at;
                r->initrd_len = at + size;
                ninitrd++;
            }
            remaining = size;
            st = P_DATA;
            break;
        }
        case BL_REC_DATA:
            if (st != P_DATA || !len || len > BL_MAX_CHUNK || len > remaining)
                return err_fail(err, errlen, "the parser's answer is malformed: %llu bytes of data where %llu were due",
                            (unsigned long long)len, (unsigned long long)(st == P_DATA ? remaining : 0));
            if ((rr = sandbox_read(sb, dst, (size_t)len, err, errlen)))
                return rr;
            dst += len;
            remaining -= len;
            if (!remaining)
                st = P_INITRDS;   /* the kernel comes first, initrds after it */
            break;
        case BL_REC_END: {
            if (len || st != P_INITRDS)
                return err_fail(err, errlen, "the parser's answer is malformed: it ends before the kernel");
            uint8_t extra;
            rr = sandbox_read(sb, &extra, 1, err, errlen);
            if (rr < 0)
                return rr;
            if (rr == 0)
                return err_fail(err, errlen, "the parser's answer is malformed: bytes after its end");
            return 0;
        }
        default:
            return err_fail(err, errlen, "the parser's answer is malformed: unknown record type 0x%02x", hdr[0]);
        }
    }
}

void bl_result_free(struct bl_result *r)
{
    free(r->kernel);
    free(r->initrd);
    r->kernel = r->initrd = NULL;
    r->kernel_len = r->initrd_len = 0;
}

int bootloader_load(const struct bl_disk *disk, const int *fds, unsigned nfds, const struct bl_options *o,
                    struct bl_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    struct child_args a = {
        .disk = disk,
        .req = {.entry = o->entry, .kernel = o->kernel, .ramdisk = o->ramdisk},
        .max_initrd = max_initrd(o),
    };
    struct sandbox_limits lim = {.mem_bytes = BL_LIMIT_MEM, .timeout_ms = o->timeout_ms ? o->timeout_ms : BL_TIMEOUT_MS};
    struct sandbox sb;
    if (sandbox_start(&sb, fds, nfds, &lim, child_main, &a, err, errlen) < 0)
        return -1;
    char ferr[256];
    int rr = bl_read_answer(&sb, o, r, err, errlen);
    /* Stopped reading early: the child need not finish.  At its end of
     * file it is exiting: how it exits is the news. */
    int fin = sandbox_finish(&sb, rr < 0, ferr, sizeof(ferr));
    if (rr == 0 && fin == 0)
        return 0;
    if (rr == 1 && fin == 0)
        err_fail(err, errlen, "the parser ended without an answer");
    else if (rr == 1 || (rr == 0 && fin < 0))
        err_fail(err, errlen, "%s", ferr);   /* it ended without a (whole) answer: how it ended says why */
    bl_result_free(r);
    return -1;
}

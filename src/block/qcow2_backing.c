/* Backing chains.  A backing file's name comes from the overlay's header
 * and is resolved against the overlay's folder as QEMU does; its format
 * comes from the header's backing-format extension and is never guessed
 * from its contents (a guest can write anything into a raw disk, and a
 * guessed "qcow2" would make vireo read whatever file that guest names).
 * Backing files are opened read-only under a shared (read) lock, so any
 * number of VMs can use one base while nobody writes it. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2_int.h"

#define ERR(...) qcow2_errf(err, errlen, __VA_ARGS__)

int qcow2_backing_resolve(const char *overlay, const char *name, char *out, size_t outlen, char *err,
                          size_t errlen)
{
    const char *n = name;
    size_t k = strcspn(n, ":/");
    if (n[k] == ':') {
        if (k == 4 && !strncmp(n, "file", 4))
            n += 5;
        else if (k == 4 && !strncmp(n, "json", 4))
            return ERR("backing file '%s': json: names are not supported", name);
        else
            return ERR("backing file '%s': protocol '%.*s' is not supported (only local files are)", name, (int)k,
                       n);
    }
    if (!*n)
        return ERR("empty backing file name");
    const char *slash = strrchr(overlay, '/');
    size_t dir = (n[0] != '/' && slash) ? (size_t)(slash - overlay) + 1 : 0;
    if (dir + strlen(n) + 1 > outlen)
        return ERR("backing file '%s': path too long", name);
    memcpy(out, overlay, dir);
    strcpy(out + dir, n);
    return 0;
}

static int default_open(void *ctx, const char *path, struct bfile **out, char *err, size_t errlen)
{
    (void)ctx;
    return bfile_fd_open(out, path, true, false, err, errlen);
}

static bool same_file(const struct bfile *a, const struct bfile *b)
{
    if (a == b)
        return true;
    return (a->dev || a->ino) && a->dev == b->dev && a->ino == b->ino;
}

int q2_open_backing(struct qcow2 *q, const struct qcow2_open_opts *o, unsigned depth, const char *chain,
                    const struct bfile **ancestors, char *err, size_t errlen)
{
    char path[PATH_MAX], why[1024];
    const char *name = q->h.backing;
    struct bfile *f = NULL;
    const struct bfile **anc = NULL;
    char *sub = NULL;
    enum img_format fmt;
    if (qcow2_backing_resolve(q->path, name, path, sizeof(path), why, sizeof(why)) < 0) {
        ERR("%s: %s", chain, why);
        goto fail;
    }
    q->backing_path = strdup(path);
    if (!q->h.has_backing_fmt) {
        ERR("%s: the format of backing file '%s' is not recorded, and vireo never guesses it (record it with "
            "'qemu-img rebase -u -b %s -F raw|qcow2 %s')", chain, name, name, q->path);
        goto fail;
    }
    if (img_format_parse(q->h.backing_fmt, &fmt) < 0) {
        ERR("%s: backing file '%s' has format '%s'; only raw and qcow2 are supported", chain, name,
            q->h.backing_fmt);
        goto fail;
    }
    if (depth + 1 > QCOW2_MAX_CHAIN) {
        ERR("%s: backing chain longer than %d images", chain, QCOW2_MAX_CHAIN);
        goto fail;
    }
    const struct qcow2_opener *op = o->opener;
    int r = op ? op->open(op->ctx, path, &f, why, sizeof(why)) : default_open(NULL, path, &f, why, sizeof(why));
    if (r < 0) {
        ERR("%s: backing file '%s': %s", chain, name, why);
        f = NULL;
        goto fail;
    }
    anc = calloc(depth + 2, sizeof(*anc));
    sub = malloc(strlen(chain) + strlen(path) + 5);
    if (!anc || !sub) {
        ERR("%s: out of memory", chain);
        goto fail;
    }
    for (unsigned i = 0; i < depth; i++)
        anc[i] = ancestors[i];
    anc[depth] = q->file;
    for (unsigned i = 0; i <= depth; i++) {
        if (same_file(anc[i], f)) {
            ERR("%s: backing chain loop: '%s' is already in the chain", chain, path);
            goto fail;
        }
    }
    sprintf(sub, "%s -> %s", chain, path);
    struct qcow2_link *l = &q->backing;
    l->fmt = fmt;
    l->file = f;
    l->path = q->backing_path;
    if (fmt == IMG_FORMAT_RAW) {
        r = bfile_size(f, &l->size);
        if (r < 0) {
            ERR("%s: %s", sub, strerror(-r));
            goto fail_link;
        }
    } else {
        struct qcow2_open_opts bo = *o;
        bo.read_only = true;
        bo.l2_cache_bytes = 0;
        if (q2_open_depth(&l->qcow2, f, path, &bo, depth + 1, sub, anc, err, errlen) < 0)
            goto fail_link;
        l->size = qcow2_size(l->qcow2);
    }
    free(anc);
    free(sub);
    return 0;
fail_link:
    memset(&q->backing, 0, sizeof(q->backing));
fail:
    bfile_close(f);
    free(anc);
    free(sub);
    /* The names come from the image: never printed raw. */
    qcow2_err_printable(err, errlen);
    if (q->inspect) {
        /* `vireo image info` shows the image and what is wrong below it. */
        q->chain_error = strdup(err);
        return 0;
    }
    return -1;
}

void q2_close_backing(struct qcow2 *q)
{
    struct qcow2_link *l = &q->backing;
    if (l->qcow2)
        qcow2_close(l->qcow2);
    else if (l->file)
        bfile_close(l->file);
    memset(l, 0, sizeof(*l));
}

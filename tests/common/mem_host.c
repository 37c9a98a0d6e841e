#include "mem_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct mem_part *part(struct mem_host *m, unsigned n)
{
    for (unsigned i = 0; i < m->nparts; i++)
        if (m->parts[i].number == n)
            return &m->parts[i];
    return NULL;
}

static const struct mem_file *file(struct mem_host *m, unsigned p, const char *path)
{
    for (unsigned i = 0; i < m->nfiles; i++)
        if (m->files[i].part == p && !strcmp(m->files[i].path, path))
            return &m->files[i];
    return NULL;
}

static bool is_dir(struct mem_host *m, unsigned p, const char *path)
{
    size_t n = strlen(path);
    if (n == 1 && path[0] == '/')
        return true;
    for (unsigned i = 0; i < m->nfiles; i++)
        if (m->files[i].part == p && !strncmp(m->files[i].path, path, n) && m->files[i].path[n] == '/')
            return true;
    return false;
}

static bool h_has_part(void *ctx, unsigned p)
{
    return part(ctx, p) != NULL;
}

static int h_read_file(void *ctx, unsigned p, const char *path, size_t max, char **buf, size_t *len, char *err,
                       size_t errlen)
{
    struct mem_host *m = ctx;
    m->reads++;
    const struct mem_file *f = file(m, p, path);
    if (!f)
        return 1;
    if (f->len > max) {
        snprintf(err, errlen, "%s is %zu bytes; at most %zu", path, f->len, max);
        return -1;
    }
    *buf = malloc(f->len + 1);
    if (!*buf)
        return -1;
    memcpy(*buf, f->data, f->len);
    (*buf)[f->len] = 0;
    *len = f->len;
    return 0;
}

static int h_stat(void *ctx, unsigned p, const char *path, uint64_t *size, bool *dir)
{
    struct mem_host *m = ctx;
    if (!part(m, p))
        return 1;
    const struct mem_file *f = file(m, p, path);
    if (f) {
        *size = f->len;
        *dir = false;
        return 0;
    }
    if (is_dir(m, p, path)) {
        *size = 4096;
        *dir = true;
        return 0;
    }
    return 1;
}

static int h_find(void *ctx, enum bl_find by, const char *key, unsigned *out)
{
    struct mem_host *m = ctx;
    for (unsigned i = 0; i < m->nparts; i++) {
        const struct mem_part *p = &m->parts[i];
        uint64_t size;
        bool dir;
        bool hit = by == BL_FIND_UUID ? !strcasecmp(p->uuid, key)
                 : by == BL_FIND_LABEL ? !strcmp(p->label, key)
                                       : h_stat(m, p->number, key, &size, &dir) == 0;
        if (hit) {
            *out = p->number;
            return 0;
        }
    }
    return 1;
}

static int h_list(void *ctx, unsigned p, const char *dir, unsigned max, char ***names, unsigned *n, char *err,
                  size_t errlen)
{
    struct mem_host *m = ctx;
    if (!is_dir(m, p, dir))
        return 1;
    size_t dl = strlen(dir);
    char **v = calloc(MEM_HOST_FILES, sizeof(char *));
    unsigned cnt = 0;
    for (unsigned i = 0; v && i < m->nfiles; i++) {
        const char *fp = m->files[i].path;
        if (m->files[i].part != p || strncmp(fp, dir, dl) || fp[dl] != '/' || strchr(fp + dl + 1, '/'))
            continue;
        if (cnt == max) {
            snprintf(err, errlen, "%s has more than %u entries", dir, max);
            for (unsigned j = 0; j < cnt; j++)
                free(v[j]);
            free(v);
            return -1;
        }
        v[cnt++] = strdup(fp + dl + 1);
    }
    *names = v;
    *n = cnt;
    return v ? 0 : -1;
}

void mem_host_init(struct mem_host *m, const char *scheme)
{
    memset(m, 0, sizeof(*m));
    m->host = (struct bl_host){.ctx = m, .scheme = scheme, .has_part = h_has_part, .read_file = h_read_file,
                               .stat = h_stat, .find = h_find, .list = h_list};
}

void mem_host_part(struct mem_host *m, unsigned number, const char *uuid, const char *label)
{
    if (m->nparts == MEM_HOST_PARTS)
        return;
    struct mem_part *p = &m->parts[m->nparts++];
    p->number = number;
    snprintf(p->uuid, sizeof(p->uuid), "%s", uuid ? uuid : "");
    snprintf(p->label, sizeof(p->label), "%s", label ? label : "");
}

void mem_host_file(struct mem_host *m, unsigned p, const char *path, const char *data, size_t len)
{
    struct mem_file *f = (struct mem_file *)file(m, p, path);
    if (!f) {
        if (m->nfiles == MEM_HOST_FILES)
            return;
        f = &m->files[m->nfiles++];
        f->part = p;
        f->path = strdup(path);
    } else {
        free(f->data);
    }
    f->data = malloc(len + 1);
    if (f->data) {
        memcpy(f->data, data, len);
        f->data[len] = 0;
    }
    f->len = f->data ? len : 0;
}

void mem_host_free(struct mem_host *m)
{
    for (unsigned i = 0; i < m->nfiles; i++) {
        free(m->files[i].path);
        free(m->files[i].data);
    }
    m->nfiles = 0;
}

#include "image/backup_stream.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "image/archive_lib.h"
#include "util/err.h"

#define CHUNK      (1u << 20)
#define ZERO_BLOCK (64u << 10)   /* a block device's zero runs are found at this granularity */
#define EXT_MAX    (1u << 24)    /* extents of one disk in the stream's map */

/* Set by each entry point before anything else runs. */
static const struct archive_lib *AR;

bool backup_name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (!n || n > max || s[0] == '.' || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

uint32_t backup_crc_zeros(uint32_t crc, uint64_t len)
{
    static const unsigned char zero[4096];
    if (len <= sizeof(zero))
        return (uint32_t)crc32(crc, zero, (uInt)len);
    /* The CRC of 4096 << k zeroes by doubling; combined bit by bit of len. */
    uLong p = crc32(0, zero, sizeof(zero)), acc = crc;
    uint64_t plen = sizeof(zero), blocks = len / sizeof(zero), rem = len % sizeof(zero);
    while (blocks) {
        if (blocks & 1)
            acc = crc32_combine64(acc, p, (z_off64_t)plen);
        blocks >>= 1;
        if (blocks) {
            p = crc32_combine64(p, p, (z_off64_t)plen);
            plen *= 2;
        }
    }
    return (uint32_t)crc32(acc, zero, (uInt)rem);
}

static uint32_t crc_data(uint32_t crc, const void *buf, size_t len)
{
    return (uint32_t)crc32_z(crc, buf, len);
}

/* ---- writing ------------------------------------------------------------ */

struct ext {
    uint64_t off, len;
};

struct map {
    struct ext *v;
    size_t n, cap;
    uint64_t bytes;
};

static int map_add(struct map *m, uint64_t off, uint64_t len)
{
    if (!len)
        return 0;
    m->bytes += len;
    if (m->n && m->v[m->n - 1].off + m->v[m->n - 1].len == off) {
        m->v[m->n - 1].len += len;
        return 0;
    }
    if (m->n == EXT_MAX)
        return -E2BIG;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct ext *v = realloc(m->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct ext){off, len};
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    static const uint8_t zero[4096];
    for (size_t i = 0; i < n; i += sizeof(zero)) {
        size_t k = n - i < sizeof(zero) ? n - i : sizeof(zero);
        if (memcmp(p + i, zero, k))
            return false;
    }
    return true;
}

/* Extents of a block device: every block is read, zero blocks left out. */
static int map_scan(struct img_reader *r, struct map *m, uint8_t *buf)
{
    uint64_t size = img_reader_size(r);
    for (uint64_t off = 0; off < size; off += CHUNK) {
        size_t n = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
        int e = img_reader_read(r, buf, n, off);
        if (e < 0)
            return e;
        for (size_t b = 0; b < n; b += ZERO_BLOCK) {
            size_t k = n - b < ZERO_BLOCK ? n - b : ZERO_BLOCK;
            if (!all_zero(buf + b, k) && (e = map_add(m, off + b, k)) < 0)
                return e;
        }
    }
    return 0;
}

static int map_extents(struct img_reader *r, struct map *m)
{
    uint64_t off = 0, start, len;
    for (;;) {
        int e = img_reader_next_data(r, off, 1ull << 30, &start, &len);
        if (e < 0)
            return e;
        if (!len)
            return 0;
        if ((e = map_add(m, start, len)) < 0)
            return e;
        off = start + len;
    }
}

struct wr {
    struct archive *a;
    char *err;
    size_t errlen;
};

static int ar_fail(struct wr *w, const char *what)
{
    const char *why = AR->archive_error_string(w->a);
    return err_fail(w->err, w->errlen, "writing the backup (%s): %s", what, why ? why : "unknown error");
}

static int put(struct wr *w, const void *p, size_t n, const char *what)
{
    while (n) {
        la_ssize_t k = AR->archive_write_data(w->a, p, n);
        if (k <= 0)
            return ar_fail(w, what);
        p = (const uint8_t *)p + k;
        n -= (size_t)k;
    }
    return 0;
}

static int put_small(struct wr *w, struct archive_entry *e, const char *name, const char *text, size_t len)
{
    AR->archive_entry_clear(e);
    AR->archive_entry_set_pathname(e, name);
    AR->archive_entry_set_filetype(e, AE_IFREG);
    AR->archive_entry_set_perm(e, 0600);
    AR->archive_entry_set_size(e, (la_int64_t)len);
    AR->archive_entry_set_mtime(e, time(NULL), 0);
    if (AR->archive_write_header(w->a, e) != ARCHIVE_OK)
        return ar_fail(w, name);
    return put(w, text, len, name);
}

static char *manifest_json(const struct backup_manifest *m, bool trailer)
{
    struct json_object *o = json_object_new_object();
    if (!trailer) {
        json_object_object_add(o, "vireo-backup", json_object_new_int(BACKUP_VERSION));
        json_object_object_add(o, "name", json_object_new_string(m->name));
        json_object_object_add(o, "created", json_object_new_string(m->created));
        json_object_object_add(o, "config", json_object_new_string(m->config));
    }
    struct json_object *arr = json_object_new_array();
    for (unsigned i = 0; i < m->ndisks; i++) {
        const struct backup_disk *d = &m->disks[i];
        struct json_object *j = json_object_new_object();
        json_object_object_add(j, "file", json_object_new_string(d->file));
        if (trailer) {
            json_object_object_add(j, "crc32", json_object_new_int64(d->crc32));
        } else {
            json_object_object_add(j, "vdev", json_object_new_string(d->vdev));
            json_object_object_add(j, "access", json_object_new_string(d->ro ? "r" : "rw"));
            json_object_object_add(j, "size", json_object_new_int64((int64_t)d->size));
            json_object_object_add(j, "source", json_object_new_string(d->source));
            json_object_object_add(j, "source_format", json_object_new_string(d->source_format));
        }
        json_object_array_add(arr, j);
    }
    json_object_object_add(o, "disks", arr);
    char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    return s;
}

static int put_disk(struct wr *w, struct archive_entry *e, struct backup_disk *d, struct img_reader *r, struct map *m,
                    uint8_t *buf, struct progress *pr, volatile sig_atomic_t *stop)
{
    static const uint8_t zero[CHUNK];
    AR->archive_entry_clear(e);
    AR->archive_entry_set_pathname(e, d->file);
    AR->archive_entry_set_filetype(e, AE_IFREG);
    AR->archive_entry_set_perm(e, 0600);
    AR->archive_entry_set_size(e, (la_int64_t)d->size);
    AR->archive_entry_set_mtime(e, time(NULL), 0);
    if (!m->n && map_add(m, d->size - 512, 512) < 0)   /* an entry with no extent would be taken as not sparse */
        return err_fail(w->err, w->errlen, "out of memory");
    for (size_t i = 0; i < m->n; i++)
        AR->archive_entry_sparse_add_entry(e, (la_int64_t)m->v[i].off, (la_int64_t)m->v[i].len);
    if (AR->archive_write_header(w->a, e) != ARCHIVE_OK)
        return ar_fail(w, d->file);
    uint32_t crc = 0;
    uint64_t pos = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct ext *x = &m->v[i];
        /* libarchive takes the whole file, holes included, and stores
         * only what its map calls data: holes cost no copy. */
        crc = backup_crc_zeros(crc, x->off - pos);
        for (uint64_t h = pos; h < x->off;) {
            size_t n = x->off - h < CHUNK ? (size_t)(x->off - h) : CHUNK;
            if (put(w, zero, n, d->file) < 0)
                return -1;
            h += n;
        }
        for (uint64_t o = x->off; o < x->off + x->len;) {
            if (stop && *stop)
                return err_fail(w->err, w->errlen, "interrupted");
            size_t n = x->off + x->len - o < CHUNK ? (size_t)(x->off + x->len - o) : CHUNK;
            int rc = img_reader_read(r, buf, n, o);
            if (rc < 0)
                return err_fail(w->err, w->errlen, "reading %s: %s", r->path, strerror(-rc));
            crc = crc_data(crc, buf, n);
            if (put(w, buf, n, d->file) < 0)
                return -1;
            if (pr)
                progress_add(pr, n);
            o += n;
        }
        pos = x->off + x->len;
    }
    d->crc32 = backup_crc_zeros(crc, d->size - pos);
    d->data_bytes = m->bytes;
    return 0;
}

int backup_write(int fd, struct backup_manifest *m, const char *cfg, size_t cfglen, struct img_reader *const r[],
                 struct progress *pr, volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    if (!(AR = archive_lib(err, errlen)))
        return -1;
    struct map maps[BACKUP_MAX_DISKS] = {0};
    uint8_t *buf = malloc(CHUNK);
    struct wr w = {AR->archive_write_new(), err, errlen};
    struct archive_entry *e = AR->archive_entry_new();
    char *json = NULL;
    int rc = -1;
    if (!buf || !w.a || !e) {
        err_fail(err, errlen, "out of memory");
        goto out;
    }
    uint64_t total = 0;
    for (unsigned i = 0; i < m->ndisks; i++) {
        int x = r[i]->blockdev ? map_scan(r[i], &maps[i], buf) : map_extents(r[i], &maps[i]);
        if (x < 0) {
            err_fail(err, errlen, "finding the data of %s: %s", r[i]->path,
                     x == -E2BIG ? "too fragmented" : strerror(-x));
            goto out;
        }
        total += maps[i].bytes;
    }
    if (pr)
        pr->total = total;
    if (AR->archive_write_set_format_pax(w.a) != ARCHIVE_OK || AR->archive_write_open_fd(w.a, fd) != ARCHIVE_OK) {
        ar_fail(&w, "opening");
        goto out;
    }
    json = manifest_json(m, false);
    if (!json || put_small(&w, e, BACKUP_MANIFEST, json, strlen(json)) < 0 ||
        put_small(&w, e, m->config, cfg, cfglen) < 0)
        goto out;
    for (unsigned i = 0; i < m->ndisks; i++)
        if (put_disk(&w, e, &m->disks[i], r[i], &maps[i], buf, pr, stop) < 0)
            goto out;
    free(json);
    json = manifest_json(m, true);
    if (!json || put_small(&w, e, BACKUP_TRAILER, json, strlen(json)) < 0)
        goto out;
    if (AR->archive_write_close(w.a) != ARCHIVE_OK) {
        ar_fail(&w, "closing");
        goto out;
    }
    rc = 0;
out:
    for (unsigned i = 0; i < m->ndisks; i++)
        free(maps[i].v);
    free(json);
    free(buf);
    if (e)
        AR->archive_entry_free(e);
    if (w.a)
        AR->archive_write_free(w.a);
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct rd {
    struct archive *a;
    const struct backup_sink *s;
    struct backup_manifest *m;
    char *err;
    size_t errlen;
};

static int rd_fail(struct rd *r, const char *what)
{
    const char *why = AR->archive_error_string(r->a);
    return err_fail(r->err, r->errlen, "%s: %s", what, why ? why : "not a tar archive, or cut short");
}

/* The next entry, which must be a regular file named name. */
static int next(struct rd *r, struct archive_entry **e, const char *name)
{
    int x = AR->archive_read_next_header(r->a, e);
    if (x == ARCHIVE_EOF)
        return err_fail(r->err, r->errlen, "the stream ends before %s (cut short?)", name);
    if (x != ARCHIVE_OK && x != ARCHIVE_WARN)
        return rd_fail(r, name);
    const char *p = AR->archive_entry_pathname(*e);
    if (!p || strcmp(p, name)) {
        char shown[80];
        snprintf(shown, sizeof(shown), "%s", p ? p : "(no name)");
        for (char *c = shown; *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c == 0x7f)
                *c = '?';
        return err_fail(r->err, r->errlen, "expected %s next in the stream, found '%s'", name, shown);
    }
    if (AR->archive_entry_filetype(*e) != AE_IFREG)
        return err_fail(r->err, r->errlen, "%s in the stream is not a regular file", name);
    return 0;
}

static int read_small(struct rd *r, struct archive_entry *e, const char *name, size_t max, char **out, size_t *len)
{
    la_int64_t size = AR->archive_entry_size(e);
    if (size < 0 || (uint64_t)size > max)
        return err_fail(r->err, r->errlen, "%s: %lld bytes; at most %zu expected", name, (long long)size, max);
    char *buf = malloc((size_t)size + 1);
    if (!buf)
        return err_fail(r->err, r->errlen, "out of memory");
    size_t got = 0;
    while (got < (size_t)size) {
        la_ssize_t k = AR->archive_read_data(r->a, buf + got, (size_t)size - got);
        if (k <= 0) {
            free(buf);
            return k < 0 ? rd_fail(r, name) : err_fail(r->err, r->errlen, "%s: cut short", name);
        }
        got += (size_t)k;
    }
    buf[got] = 0;
    *out = buf;
    *len = got;
    return 0;
}

static const char *jstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string) ? json_object_get_string(v)
                                                                                              : NULL;
}

static bool jint(struct json_object *o, const char *k, int64_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
        return false;
    errno = 0;
    *out = json_object_get_int64(v);
    return errno == 0;
}

static bool text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return false;
    return true;
}

static struct json_object *parse_json(struct rd *r, const char *name, const char *text, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(16);
    if (!tok) {
        err_fail(r->err, r->errlen, "out of memory");
        return NULL;
    }
    struct json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    bool done = o && json_tokener_get_error(tok) == json_tokener_success &&
                json_tokener_get_parse_end(tok) == len;
    json_tokener_free(tok);
    if (!done || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        err_fail(r->err, r->errlen, "%s: not a JSON object", name);
        return NULL;
    }
    return o;
}

static int manifest_parse(struct rd *r, const char *text, size_t len)
{
    struct backup_manifest *m = r->m;
    struct json_object *o = parse_json(r, BACKUP_MANIFEST, text, len), *arr;
    if (!o)
        return -1;
    int64_t v;
    const char *name = jstr(o, "name"), *created = jstr(o, "created"), *config = jstr(o, "config");
    int rc = -1;
#define BAD(...) do { err_fail(r->err, r->errlen, BACKUP_MANIFEST ": " __VA_ARGS__); goto out; } while (0)
    if (!jint(o, "vireo-backup", &v) || v != BACKUP_VERSION)
        BAD("not a vireo backup of version %d", BACKUP_VERSION);
    if (!name || !backup_name_ok(name, sizeof(m->name) - 1))
        BAD("\"name\" is missing or not a VM name");
    if (!created || !text_ok(created, sizeof(m->created) - 1))
        BAD("\"created\" is missing or malformed");
    if (!config || !backup_name_ok(config, BACKUP_NAME_MAX) || !strcmp(config, BACKUP_MANIFEST) ||
        !strcmp(config, BACKUP_TRAILER))
        BAD("\"config\" is missing or not a file name");
    strcpy(m->name, name);
    strcpy(m->created, created);
    strcpy(m->config, config);
    if (!json_object_object_get_ex(o, "disks", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) < 1 || json_object_array_length(arr) > BACKUP_MAX_DISKS)
        BAD("\"disks\" must list 1 to %d disks", BACKUP_MAX_DISKS);
    m->ndisks = (unsigned)json_object_array_length(arr);
    for (unsigned i = 0; i < m->ndisks; i++) {
        struct json_object *j = json_object_array_get_idx(arr, i);
        struct backup_disk *d = &m->disks[i];
        const char *file = jstr(j, "file"), *vdev = jstr(j, "vdev"), *access = jstr(j, "access");
        const char *source = jstr(j, "source"), *sf = jstr(j, "source_format");
        int64_t size;
        if (!file || !backup_name_ok(file, BACKUP_NAME_MAX) || !strcmp(file, BACKUP_MANIFEST) ||
            !strcmp(file, BACKUP_TRAILER) || !strcmp(file, config))
            BAD("disk %u: \"file\" is missing or not a file name", i + 1);
        for (unsigned k = 0; k < i; k++)
            if (!strcmp(m->disks[k].file, file))
                BAD("disk %u: file %s is named twice", i + 1, file);
        if (!vdev || !*vdev || strlen(vdev) >= sizeof(d->vdev) || strspn(vdev, "abcdefghijklmnopqrstuvwxyz0123456789") !=
                                                                      strlen(vdev))
            BAD("disk %u: \"vdev\" is missing or malformed", i + 1);
        if (!access || (strcmp(access, "r") && strcmp(access, "rw")))
            BAD("disk %u: \"access\" must be r or rw", i + 1);
        if (!jint(j, "size", &size) || size <= 0 || (uint64_t)size > BACKUP_SIZE_MAX || size % 512)
            BAD("disk %u: \"size\" must be a multiple of 512 up to 2^60", i + 1);
        if ((source && !text_ok(source, sizeof(d->source) - 1)) || (sf && !text_ok(sf, sizeof(d->source_format) - 1)))
            BAD("disk %u: \"source\" or \"source_format\" is malformed", i + 1);
        strcpy(d->file, file);
        strcpy(d->vdev, vdev);
        d->ro = !strcmp(access, "r");
        d->size = (uint64_t)size;
        snprintf(d->source, sizeof(d->source), "%s", source ? source : "");
        snprintf(d->source_format, sizeof(d->source_format), "%s", sf ? sf : "");
    }
#undef BAD
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

static int read_disk(struct rd *r, unsigned i, uint32_t *crc_out)
{
    struct backup_disk *d = &r->m->disks[i];
    struct archive_entry *e;
    if (next(r, &e, d->file) < 0)
        return -1;
    if (AR->archive_entry_size(e) != (la_int64_t)d->size)
        return err_fail(r->err, r->errlen, "%s: %lld bytes in the stream, %llu in the manifest", d->file,
                        (long long)AR->archive_entry_size(e), (unsigned long long)d->size);
    uint32_t crc = 0;
    uint64_t pos = 0;
    d->data_bytes = 0;
    for (;;) {
        const void *buf;
        size_t n;
        la_int64_t off;
        int x = AR->archive_read_data_block(r->a, &buf, &n, &off);
        if (x == ARCHIVE_EOF)
            break;
        if (x != ARCHIVE_OK && x != ARCHIVE_WARN)
            return rd_fail(r, d->file);
        if (off < 0 || (uint64_t)off < pos || (uint64_t)off > d->size || n > d->size - (uint64_t)off)
            return err_fail(r->err, r->errlen, "%s: data at offset %lld (%zu bytes) is outside the disk or out of "
                                               "order", d->file, (long long)off, n);
        crc = backup_crc_zeros(crc, (uint64_t)off - pos);
        crc = crc_data(crc, buf, n);
        pos = (uint64_t)off + n;
        d->data_bytes += n;
        if (n && r->s->data && r->s->data(r->s->ctx, i, buf, n, (uint64_t)off, r->err, r->errlen) < 0)
            return -1;
    }
    *crc_out = backup_crc_zeros(crc, d->size - pos);
    if (r->s->disk_end && r->s->disk_end(r->s->ctx, i, r->err, r->errlen) < 0)
        return -1;
    return 0;
}

static int trailer_check(struct rd *r, const char *text, size_t len, const uint32_t *crc)
{
    struct json_object *o = parse_json(r, BACKUP_TRAILER, text, len), *arr;
    if (!o)
        return -1;
    int rc = -1;
    if (!json_object_object_get_ex(o, "disks", &arr) || !json_object_is_type(arr, json_type_array) ||
        json_object_array_length(arr) != r->m->ndisks) {
        err_fail(r->err, r->errlen, BACKUP_TRAILER ": \"disks\" does not list the manifest's %u disks", r->m->ndisks);
        goto out;
    }
    for (unsigned i = 0; i < r->m->ndisks; i++) {
        struct json_object *j = json_object_array_get_idx(arr, i);
        const char *file = jstr(j, "file");
        int64_t c;
        if (!file || strcmp(file, r->m->disks[i].file) || !jint(j, "crc32", &c) || c < 0 || c > UINT32_MAX) {
            err_fail(r->err, r->errlen, BACKUP_TRAILER ": disk %u is not %s with its crc32", i + 1,
                     r->m->disks[i].file);
            goto out;
        }
        if ((uint32_t)c != crc[i]) {
            err_fail(r->err, r->errlen, "%s: damaged: its CRC-32 is %08x, the backup recorded %08x",
                     r->m->disks[i].file, crc[i], (uint32_t)c);
            goto out;
        }
        r->m->disks[i].crc32 = crc[i];
    }
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

static int read_all(struct rd *r)
{
    struct archive_entry *e;
    char *text = NULL;
    size_t len;
    uint32_t crc[BACKUP_MAX_DISKS];
    if (next(r, &e, BACKUP_MANIFEST) < 0 || read_small(r, e, BACKUP_MANIFEST, BACKUP_JSON_MAX, &text, &len) < 0)
        return -1;
    int rc = manifest_parse(r, text, len);
    free(text);
    text = NULL;
    if (rc < 0 || (r->s->manifest && r->s->manifest(r->s->ctx, r->m, r->err, r->errlen) < 0))
        return -1;
    if (next(r, &e, r->m->config) < 0 || read_small(r, e, r->m->config, BACKUP_CONFIG_MAX, &text, &len) < 0)
        return -1;
    rc = r->s->config ? r->s->config(r->s->ctx, text, len, r->err, r->errlen) : 0;
    free(text);
    if (rc < 0)
        return -1;
    for (unsigned i = 0; i < r->m->ndisks; i++)
        if (read_disk(r, i, &crc[i]) < 0)
            return -1;
    if (next(r, &e, BACKUP_TRAILER) < 0 || read_small(r, e, BACKUP_TRAILER, BACKUP_JSON_MAX, &text, &len) < 0)
        return -1;
    rc = trailer_check(r, text, len, crc);
    free(text);
    if (rc < 0)
        return -1;
    int x = AR->archive_read_next_header(r->a, &e);
    if (x != ARCHIVE_EOF)
        return x == ARCHIVE_OK || x == ARCHIVE_WARN ? err_fail(r->err, r->errlen, "the stream goes on after its end "
                                                                                  "(%s)", BACKUP_TRAILER)
                                                    : rd_fail(r, "after " BACKUP_TRAILER);
    return 0;
}

static struct archive *reader_new(char *err, size_t errlen)
{
    if (!(AR = archive_lib(err, errlen)))
        return NULL;
    struct archive *a = AR->archive_read_new();
    if (!a) {
        err_fail(err, errlen, "out of memory");
        return NULL;
    }
    /* Only what libarchive decodes itself: never a helper program. */
    AR->archive_read_support_filter_gzip(a);
    AR->archive_read_support_filter_zstd(a);
    AR->archive_read_support_filter_xz(a);
    AR->archive_read_support_format_tar(a);
    return a;
}

static int read_with(struct archive *a, int opened, const struct backup_sink *s, struct backup_manifest *m, char *err,
                     size_t errlen)
{
    memset(m, 0, sizeof(*m));
    struct rd r = {a, s, m, err, errlen};
    int rc = opened == ARCHIVE_OK ? read_all(&r) : rd_fail(&r, "opening the stream");
    AR->archive_read_free(a);
    return rc;
}

int backup_read_fd(int fd, const struct backup_sink *s, struct backup_manifest *m, char *err, size_t errlen)
{
    struct archive *a = reader_new(err, errlen);
    if (!a)
        return -1;
    return read_with(a, AR->archive_read_open_fd(a, fd, 1 << 20), s, m, err, errlen);
}

int backup_read_mem(const void *buf, size_t len, const struct backup_sink *s, struct backup_manifest *m, char *err,
                    size_t errlen)
{
    struct archive *a = reader_new(err, errlen);
    if (!a)
        return -1;
    return read_with(a, AR->archive_read_open_memory(a, buf, len), s, m, err, errlen);
}

#include "microscope/recfile.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/hex.h"
#include "util/json.h"
#include "util/printable.h"

#define MAGIC "# vireo-microscope 1"

static const char *const counter_names[MS_NR_COUNTERS] = MS_COUNTER_NAMES;

static const char csv_columns[] =
    "t_ns,bucket_ns,tid,pid,comm,cgroup,dev,devname,kind,rd_bytes,wr_bytes,rd_ops,wr_ops,"
    "other_ops,queue_ns,service_ns,share_ns,inflight_ns,lat_us_log2";

enum ms_format ms_format_for_path(const char *path)
{
    size_t n = strlen(path);
    if ((n >= 6 && !strcmp(path + n - 6, ".jsonl")) || (n >= 5 && !strcmp(path + n - 5, ".json")))
        return MS_FMT_JSONL;
    return MS_FMT_CSV;
}

/* ---------------- writing ---------------- */

/* Names are chosen by whoever names a task; they go out in their
 * printable() form, quoted the RFC 4180 way. */
static void csv_string(FILE *f, const char *s)
{
    char buf[PRINTABLE_CAP(MS_VM_NAME)];
    fputc('"', f);
    for (const char *c = printable(buf, sizeof(buf), s); *c; c++) {
        if (*c == '"')
            fputc('"', f);
        fputc(*c, f);
    }
    fputc('"', f);
}

static void json_name(FILE *f, const char *s)
{
    char buf[PRINTABLE_CAP(MS_VM_NAME)];
    json_string(f, printable(buf, sizeof(buf), s));
}

/* A printable() name as one token of a '#' line: spaces escaped too. */
static void token(FILE *f, const char *s)
{
    char buf[PRINTABLE_CAP(MS_VM_NAME)];
    for (const char *c = printable(buf, sizeof(buf), s); *c; c++) {
        if (*c == ' ')
            fputs("\\x20", f);
        else
            fputc(*c, f);
    }
}

int ms_writer_begin(struct ms_writer *w, FILE *f, enum ms_format fmt, const struct ms_header *h)
{
    w->f = f;
    w->fmt = fmt;
    if (fmt == MS_FMT_CSV) {
        fprintf(f, MAGIC "\n# bucket_ns=%" PRIu64 " start_ns=%" PRIu64 " start_realtime_ns=%" PRIu64 " host=",
                h->bucket_ns, h->start_ns, h->start_realtime_ns);
        token(f, h->host);
        fprintf(f, "\n%s\n", csv_columns);
    } else {
        fprintf(f,
                "{\"type\":\"header\",\"version\":1,\"bucket_ns\":%" PRIu64 ",\"start_ns\":%" PRIu64
                ",\"start_realtime_ns\":%" PRIu64 ",\"host\":",
                h->bucket_ns, h->start_ns, h->start_realtime_ns);
        json_name(f, h->host);
        fputs("}\n", f);
    }
    return ferror(f) ? -1 : 0;
}

static int lat_used(const struct ms_val *v)
{
    int n = MS_LAT_SLOTS;
    while (n > 0 && !v->lat[n - 1])
        n--;
    return n;
}

int ms_writer_sample(struct ms_writer *w, const struct ms_sample *s)
{
    const char *devname = s->devname;
    FILE *f = w->f;
    const struct ms_val *v = &s->v;
    int nl = lat_used(v);
    if (w->fmt == MS_FMT_CSV) {
        fprintf(f, "%" PRIu64 ",%" PRIu64 ",%u,%u,", s->t_ns, s->bucket_ns, s->tid, s->pid);
        csv_string(f, s->comm);
        fprintf(f, ",%" PRIu64 ",%u:%u,", s->cgroup, MS_DEV_MAJOR(s->dev), MS_DEV_MINOR(s->dev));
        csv_string(f, devname);
        fprintf(f, ",%s,%" PRIu64 ",%" PRIu64 ",%u,%u,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",",
                ms_kind_name(s->kind),
                v->rd_bytes, v->wr_bytes, v->rd_ops, v->wr_ops, v->other_ops, v->queue_ns, v->service_ns,
                v->share_ns, v->inflight_ns);
        for (int i = 0; i < nl; i++)
            fprintf(f, i ? ";%u" : "%u", v->lat[i]);
        fputc('\n', f);
    } else {
        fprintf(f, "{\"type\":\"sample\",\"t_ns\":%" PRIu64 ",\"bucket_ns\":%" PRIu64 ",\"tid\":%u,\"pid\":%u,\"comm\":",
                s->t_ns, s->bucket_ns, s->tid, s->pid);
        json_name(f, s->comm);
        fprintf(f, ",\"cgroup\":%" PRIu64 ",\"dev\":\"%u:%u\",\"devname\":", s->cgroup, MS_DEV_MAJOR(s->dev),
                MS_DEV_MINOR(s->dev));
        json_name(f, devname);
        fprintf(f,
                ",\"kind\":\"%s\",\"rd_bytes\":%" PRIu64 ",\"wr_bytes\":%" PRIu64
                ",\"rd_ops\":%u,\"wr_ops\":%u,\"other_ops\":%u,\"queue_ns\":%" PRIu64 ",\"service_ns\":%" PRIu64
                ",\"share_ns\":%" PRIu64 ",\"inflight_ns\":%" PRIu64 ",\"lat_us_log2\":[",
                ms_kind_name(s->kind), v->rd_bytes, v->wr_bytes, v->rd_ops, v->wr_ops, v->other_ops, v->queue_ns,
                v->service_ns, v->share_ns, v->inflight_ns);
        for (int i = 0; i < nl; i++)
            fprintf(f, i ? ",%u" : "%u", v->lat[i]);
        fputs("]}\n", f);
    }
    return ferror(f) ? -1 : 0;
}

int ms_writer_vm(struct ms_writer *w, const struct ms_vm *vm)
{
    FILE *f = w->f;
    if (w->fmt == MS_FMT_CSV) {
        fprintf(f, "# vm t_ns=%" PRIu64 " pid=%u name=", vm->t_ns, vm->pid);
        token(f, vm->name);
        fputc('\n', f);
    } else {
        fprintf(f, "{\"type\":\"vm\",\"t_ns\":%" PRIu64 ",\"pid\":%u,\"name\":", vm->t_ns, vm->pid);
        json_name(f, vm->name);
        fputs("}\n", f);
    }
    return ferror(f) ? -1 : 0;
}

int ms_writer_end(struct ms_writer *w, const struct ms_trailer *t)
{
    FILE *f = w->f;
    if (w->fmt == MS_FMT_CSV) {
        fprintf(f, "# end end_ns=%" PRIu64 " missed=%" PRIu64, t->end_ns, t->missed);
        for (int i = 0; i < MS_NR_COUNTERS; i++)
            fprintf(f, " %s=%" PRIu64, counter_names[i], t->counters[i]);
        fputc('\n', f);
    } else {
        fprintf(f, "{\"type\":\"end\",\"end_ns\":%" PRIu64 ",\"missed\":%" PRIu64 ",\"counters\":{", t->end_ns,
                t->missed);
        for (int i = 0; i < MS_NR_COUNTERS; i++)
            fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", counter_names[i], t->counters[i]);
        fputs("}}\n", f);
    }
    fflush(f);
    return ferror(f) ? -1 : 0;
}

/* ---------------- reading ---------------- */

struct rd {
    const char *name;
    size_t line;
    char *err;
    size_t errlen;
};

static int fail(struct rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct rd *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->err, r->errlen, "%s:%zu: %s", r->name, r->line, msg);
    return -1;
}

static int parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 20)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

static int parse_u32(const char *s, size_t n, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(s, n, &v) < 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_dev(const char *s, size_t n, uint32_t *out)
{
    const char *colon = memchr(s, ':', n);
    uint32_t maj, min;
    if (!colon || parse_u32(s, (size_t)(colon - s), &maj) < 0 ||
        parse_u32(colon + 1, n - (size_t)(colon + 1 - s), &min) < 0 || maj >= (1u << 12) || min >= (1u << 20))
        return -1;
    *out = maj << 20 | min;
    return 0;
}

/* A list of counts separated by sep; at most MS_LAT_SLOTS. */
static int parse_lat(const char *s, size_t n, char sep, uint32_t lat[MS_LAT_SLOTS])
{
    memset(lat, 0, sizeof(uint32_t) * MS_LAT_SLOTS);
    if (n == 0)
        return 0;
    int slot = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == sep) {
            if (slot >= MS_LAT_SLOTS || parse_u32(s + start, i - start, &lat[slot]) < 0)
                return -1;
            slot++;
            start = i + 1;
        }
    }
    return 0;
}

static void copy_name(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

/* ---- CSV ---- */

#define CSV_FIELDS 19

/* Splits one line into fields; quoted fields are unquoted into buf. */
static int csv_split(struct rd *r, const char *line, size_t len, char *buf, const char *field[CSV_FIELDS],
                     size_t flen[CSV_FIELDS])
{
    size_t i = 0, o = 0;
    int nf = 0;
    for (;;) {
        if (nf == CSV_FIELDS)
            return fail(r, "expected %d comma-separated fields, found more", CSV_FIELDS);
        field[nf] = buf + o;
        if (i < len && line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len)
                    return fail(r, "unterminated quoted field %d", nf + 1);
                if (line[i] == '"') {
                    if (i + 1 < len && line[i + 1] == '"') {
                        buf[o++] = '"';
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                buf[o++] = line[i++];
            }
            if (i < len && line[i] != ',')
                return fail(r, "expected ',' after quoted field %d", nf + 1);
        } else {
            while (i < len && line[i] != ',') {
                if (line[i] == '"')
                    return fail(r, "unexpected '\"' inside field %d", nf + 1);
                buf[o++] = line[i++];
            }
        }
        flen[nf] = (size_t)(buf + o - field[nf]);
        buf[o++] = 0;
        nf++;
        if (i >= len)
            break;
        i++; /* the comma */
    }
    if (nf != CSV_FIELDS)
        return fail(r, "expected %d comma-separated fields, found %d", CSV_FIELDS, nf);
    return 0;
}

static const char *const csv_names[CSV_FIELDS] = {
    "t_ns", "bucket_ns", "tid", "pid", "comm", "cgroup", "dev", "devname", "kind", "rd_bytes",
    "wr_bytes", "rd_ops", "wr_ops", "other_ops", "queue_ns", "service_ns", "share_ns", "inflight_ns",
    "lat_us_log2"};

static int csv_sample(struct rd *r, const char *line, size_t len, struct ms_sample *s)
{
    char buf[MS_MAX_LINE + CSV_FIELDS + 1]; /* len <= MS_MAX_LINE */
    const char *f[CSV_FIELDS];
    size_t n[CSV_FIELDS];
    int rc = csv_split(r, line, len, buf, f, n);
    if (rc < 0)
        goto out;
    memset(s, 0, sizeof(*s));
    struct ms_val *v = &s->v;
    int bad = -1, k;
    uint64_t *u64s[] = {&s->t_ns, &s->bucket_ns, NULL, NULL, NULL, &s->cgroup, NULL, NULL, NULL, &v->rd_bytes,
                        &v->wr_bytes, NULL, NULL, NULL, &v->queue_ns, &v->service_ns, &v->share_ns,
                        &v->inflight_ns};
    uint32_t *u32s[] = {NULL, NULL, &s->tid, &s->pid, NULL, NULL, NULL, NULL, NULL, NULL,
                        NULL, &v->rd_ops, &v->wr_ops, &v->other_ops};
    for (int i = 0; i < CSV_FIELDS && bad < 0; i++) {
        if (i < 18 && u64s[i])
            bad = parse_u64(f[i], n[i], u64s[i]) < 0 ? i : -1;
        else if (i < 14 && u32s[i])
            bad = parse_u32(f[i], n[i], u32s[i]) < 0 ? i : -1;
    }
    if (bad >= 0) {
        rc = fail(r, "field %s: expected an unsigned integer, got '%s'", csv_names[bad], f[bad]);
        goto out;
    }
    if (parse_dev(f[6], n[6], &s->dev) < 0) {
        rc = fail(r, "field dev: expected MAJOR:MINOR, got '%s'", f[6]);
        goto out;
    }
    if ((k = ms_kind_parse(f[8])) < 0) {
        rc = fail(r, "field kind: expected own, writeback, unattributed or device, got '%s'", f[8]);
        goto out;
    }
    s->kind = (uint32_t)k;
    if (parse_lat(f[18], n[18], ';', v->lat) < 0) {
        rc = fail(r, "field lat_us_log2: expected up to %d counts separated by ';'", MS_LAT_SLOTS);
        goto out;
    }
    copy_name(s->comm, sizeof(s->comm), f[4], n[4]);
    copy_name(s->devname, sizeof(s->devname), f[7], n[7]);
out:
    return rc;
}

/* "key=value ..." after a '#' line prefix. */
static int kv_find(const char *line, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i + kl < len; i++) {
        if ((i == 0 || line[i - 1] == ' ') && !memcmp(line + i, key, kl) && line[i + kl] == '=') {
            size_t j = i + kl + 1, e = j;
            while (e < len && line[e] != ' ')
                e++;
            *val = line + j;
            *vlen = e - j;
            return 0;
        }
    }
    return -1;
}

static int kv_u64(struct rd *r, const char *line, size_t len, const char *key, uint64_t *out)
{
    const char *v;
    size_t n;
    if (kv_find(line, len, key, &v, &n) < 0)
        return fail(r, "expected %s=NUMBER", key);
    if (parse_u64(v, n, out) < 0)
        return fail(r, "%s: expected an unsigned integer", key);
    return 0;
}

static int csv_trailer(struct rd *r, const char *line, size_t len, struct ms_trailer *t)
{
    if (kv_u64(r, line, len, "end_ns", &t->end_ns) < 0 || kv_u64(r, line, len, "missed", &t->missed) < 0)
        return -1;
    for (int i = 0; i < MS_NR_COUNTERS; i++)
        if (kv_u64(r, line, len, counter_names[i], &t->counters[i]) < 0)
            return -1;
    t->present = true;
    return 0;
}

/* ---- JSON lines: flat objects whose values are strings, unsigned
 * integers, arrays of them, or one level of {"name":integer}. ---- */

struct jp {
    const char *s;
    size_t i, n;
};

static void jws(struct jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r'))
        p->i++;
}

static int jchar(struct jp *p, char c)
{
    jws(p);
    if (p->i < p->n && p->s[p->i] == c) {
        p->i++;
        return 0;
    }
    return -1;
}

/* Appends code point cp as UTF-8 (what does not fit is dropped). */
static void put_utf8(char *out, size_t cap, size_t *o, uint32_t cp)
{
    char u[3];
    size_t n = 0;
    if (cp < 0x800) {
        u[n++] = (char)(0xc0 | cp >> 6);
    } else {
        u[n++] = (char)(0xe0 | cp >> 12);
        u[n++] = (char)(0x80 | (cp >> 6 & 0x3f));
    }
    u[n++] = (char)(0x80 | (cp & 0x3f));
    if (*o + n < cap) {
        memcpy(out + *o, u, n);
        *o += n;
    }
}

static int jstring(struct jp *p, char *out, size_t cap)
{
    if (jchar(p, '"') < 0)
        return -1;
    size_t o = 0;
    while (p->i < p->n) {
        char c = p->s[p->i++];
        if (c == '"') {
            if (cap)
                out[o < cap ? o : cap - 1] = 0;
            return 0;
        }
        if ((unsigned char)c < 0x20)
            return -1;
        if (c == '\\') {
            if (p->i >= p->n)
                return -1;
            char e = p->s[p->i++];
            switch (e) {
            case '"': case '\\': case '/': c = e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                uint32_t cp = 0;
                for (int k = 0; k < 4; k++) {
                    if (p->i >= p->n || !isxdigit((unsigned char)p->s[p->i]))
                        return -1;
                    char h = p->s[p->i++];
                    cp = cp * 16 + (uint32_t)hex_digit((unsigned char)h);
                }
                if (cp >= 0x80) { /* a surrogate half alone is no character */
                    put_utf8(out, cap, &o, cp >= 0xd800 && cp <= 0xdfff ? 0xfffd : cp);
                    continue;
                }
                c = (char)cp;
                break;
            }
            default:
                return -1;
            }
        }
        if (o + 1 < cap)
            out[o++] = c;
    }
    return -1;
}

static int jnumber(struct jp *p, uint64_t *out)
{
    jws(p);
    size_t st = p->i;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
        p->i++;
    return parse_u64(p->s + st, p->i - st, out);
}

struct jobj {
    char type[16];
    struct ms_header h;
    struct ms_sample s;
    struct ms_trailer t;
    struct ms_vm vm;
    char dev[32];
    char kind[16];
    uint32_t seen; /* bit per known key */
};

struct jkey {
    const char *name;
    int kind; /* 0 u64, 1 u32, 2 string, 3 lat array, 4 counters object */
    size_t off;
    size_t cap;
};

#define OFF(f) offsetof(struct jobj, f)
static const struct jkey jkeys[] = {
    {"type", 2, OFF(type), sizeof(((struct jobj *)0)->type)},
    {"version", 0, 0, 0},
    {"bucket_ns", 0, OFF(h.bucket_ns), 0},
    {"start_ns", 0, OFF(h.start_ns), 0},
    {"start_realtime_ns", 0, OFF(h.start_realtime_ns), 0},
    {"host", 2, OFF(h.host), sizeof(((struct jobj *)0)->h.host)},
    {"t_ns", 0, OFF(s.t_ns), 0},
    {"tid", 1, OFF(s.tid), 0},
    {"pid", 1, OFF(s.pid), 0},
    {"name", 2, OFF(vm.name), sizeof(((struct jobj *)0)->vm.name)},
    {"comm", 2, OFF(s.comm), sizeof(((struct jobj *)0)->s.comm)},
    {"cgroup", 0, OFF(s.cgroup), 0},
    {"dev", 2, OFF(dev), sizeof(((struct jobj *)0)->dev)},
    {"devname", 2, OFF(s.devname), sizeof(((struct jobj *)0)->s.devname)},
    {"kind", 2, OFF(kind), sizeof(((struct jobj *)0)->kind)},
    {"rd_bytes", 0, OFF(s.v.rd_bytes), 0},
    {"wr_bytes", 0, OFF(s.v.wr_bytes), 0},
    {"rd_ops", 1, OFF(s.v.rd_ops), 0},
    {"wr_ops", 1, OFF(s.v.wr_ops), 0},
    {"other_ops", 1, OFF(s.v.other_ops), 0},
    {"queue_ns", 0, OFF(s.v.queue_ns), 0},
    {"service_ns", 0, OFF(s.v.service_ns), 0},
    {"share_ns", 0, OFF(s.v.share_ns), 0},
    {"inflight_ns", 0, OFF(s.v.inflight_ns), 0},
    {"lat_us_log2", 3, OFF(s.v.lat), 0},
    {"end_ns", 0, OFF(t.end_ns), 0},
    {"missed", 0, OFF(t.missed), 0},
    {"counters", 4, OFF(t.counters), 0},
};
#define NJKEYS (sizeof(jkeys) / sizeof(jkeys[0]))

static int jvalue(struct rd *r, struct jp *p, struct jobj *o, const struct jkey *k)
{
    char *base = (char *)o;
    uint64_t v;
    switch (k->kind) {
    case 0:
    case 1:
        if (jnumber(p, &v) < 0 || (k->kind == 1 && v > UINT32_MAX))
            return fail(r, "\"%s\": expected an unsigned integer", k->name);
        if (k->off) { /* "version" is checked for presence only */
            if (k->kind == 0)
                memcpy(base + k->off, &v, sizeof(v));
            else {
                uint32_t w = (uint32_t)v;
                memcpy(base + k->off, &w, sizeof(w));
            }
        }
        return 0;
    case 2: {
        char tmp[256];
        if (jstring(p, tmp, sizeof(tmp)) < 0)
            return fail(r, "\"%s\": expected a string", k->name);
        if (k->cap)
            copy_name(base + k->off, k->cap, tmp, strlen(tmp));
        return 0;
    }
    case 3: {
        uint32_t *lat = (uint32_t *)(base + k->off);
        if (jchar(p, '[') < 0)
            return fail(r, "\"%s\": expected an array", k->name);
        if (jchar(p, ']') == 0)
            return 0;
        for (int i = 0;; i++) {
            if (i >= MS_LAT_SLOTS || jnumber(p, &v) < 0 || v > UINT32_MAX)
                return fail(r, "\"%s\": expected up to %d unsigned integers", k->name, MS_LAT_SLOTS);
            lat[i] = (uint32_t)v;
            if (jchar(p, ']') == 0)
                return 0;
            if (jchar(p, ',') < 0)
                return fail(r, "\"%s\": expected ',' or ']'", k->name);
        }
    }
    default: {
        uint64_t *c = (uint64_t *)(base + k->off);
        if (jchar(p, '{') < 0)
            return fail(r, "\"counters\": expected an object");
        if (jchar(p, '}') == 0)
            return 0;
        for (;;) {
            char name[64];
            if (jstring(p, name, sizeof(name)) < 0 || jchar(p, ':') < 0 || jnumber(p, &v) < 0)
                return fail(r, "\"counters\": expected \"name\": unsigned integer");
            for (int i = 0; i < MS_NR_COUNTERS; i++)
                if (!strcmp(name, counter_names[i]))
                    c[i] = v;
            if (jchar(p, '}') == 0)
                return 0;
            if (jchar(p, ',') < 0)
                return fail(r, "\"counters\": expected ',' or '}'");
        }
    }
    }
}

static int json_line(struct rd *r, const char *line, size_t len, struct jobj *o)
{
    struct jp p = {line, 0, len};
    memset(o, 0, sizeof(*o));
    if (jchar(&p, '{') < 0)
        return fail(r, "expected a JSON object");
    if (jchar(&p, '}') == 0)
        return fail(r, "expected \"type\" in the object");
    for (;;) {
        char key[32];
        if (jstring(&p, key, sizeof(key)) < 0 || jchar(&p, ':') < 0)
            return fail(r, "expected \"key\": value");
        size_t i;
        for (i = 0; i < NJKEYS; i++)
            if (!strcmp(key, jkeys[i].name))
                break;
        if (i == NJKEYS)
            return fail(r, "unknown key \"%s\"", key);
        if (o->seen & (1u << i))
            return fail(r, "duplicate key \"%s\"", key);
        o->seen |= 1u << i;
        if (jvalue(r, &p, o, &jkeys[i]) < 0)
            return -1;
        if (jchar(&p, '}') == 0)
            break;
        if (jchar(&p, ',') < 0)
            return fail(r, "expected ',' or '}' after \"%s\"", key);
    }
    jws(&p);
    if (p.i != p.n)
        return fail(r, "unexpected text after the object");
    if (!(o->seen & 1))
        return fail(r, "expected \"type\" in the object");
    return 0;
}

static int need_keys(struct rd *r, const struct jobj *o, const char *const *names)
{
    for (; *names; names++) {
        size_t i;
        for (i = 0; i < NJKEYS; i++)
            if (!strcmp(*names, jkeys[i].name))
                break;
        if (!(o->seen & (1u << i)))
            return fail(r, "%s object without \"%s\"", o->type, *names);
    }
    return 0;
}

static int check_header(struct rd *r, const struct ms_header *h)
{
    if (h->bucket_ns < 1000 || h->bucket_ns > 60000000000ull)
        return fail(r, "bucket_ns: expected between 1000 (1 us) and 60000000000 (60 s)");
    return 0;
}

static int check_sample(struct rd *r, const struct ms_header *h, const struct ms_sample *s)
{
    if (s->bucket_ns != h->bucket_ns)
        return fail(r, "bucket_ns %" PRIu64 " differs from the header's %" PRIu64, s->bucket_ns, h->bucket_ns);
    if (s->t_ns < h->start_ns || (s->t_ns - h->start_ns) % h->bucket_ns)
        return fail(r, "t_ns: expected a bucket start (start_ns + k * bucket_ns)");
    return 0;
}

static int csv_vm(struct rd *r, const char *line, size_t len, struct ms_vm *vm)
{
    uint64_t pid;
    const char *v;
    size_t n;
    memset(vm, 0, sizeof(*vm));
    if (kv_u64(r, line, len, "t_ns", &vm->t_ns) < 0 || kv_u64(r, line, len, "pid", &pid) < 0)
        return -1;
    if (pid == 0 || pid > UINT32_MAX)
        return fail(r, "pid: expected a process id");
    if (kv_find(line, len, "name", &v, &n) < 0 || n == 0)
        return fail(r, "expected name=VM");
    vm->pid = (uint32_t)pid;
    copy_name(vm->name, sizeof(vm->name), v, n);
    return 0;
}

/* The reader: one line at a time, from a buffer or a file. */
struct parser {
    struct rd r;
    enum { START, CSV_PARAMS, CSV_COLS, CSV_BODY, JSON_BODY, DONE } st;
    struct ms_header *h;
    struct ms_trailer *t;
    const struct ms_read_cbs *cb;
    size_t n; /* bytes of an unfinished line in buf */
    char buf[MS_MAX_LINE];
};

static int hand_sample(struct parser *p, const struct ms_sample *s)
{
    if (check_sample(&p->r, p->h, s) < 0)
        return -1;
    if (p->cb && p->cb->sample && p->cb->sample(p->cb->arg, s) < 0)
        return fail(&p->r, "out of memory");
    return 0;
}

static int hand_vm(struct parser *p, const struct ms_vm *vm)
{
    if (vm->t_ns < p->h->start_ns)
        return fail(&p->r, "t_ns: expected a time after the recording's start");
    if (p->cb && p->cb->vm && p->cb->vm(p->cb->arg, vm) < 0)
        return fail(&p->r, "out of memory");
    return 0;
}

/* One complete line (without its newline). */
static int parse_line(struct parser *p, const char *line, size_t n)
{
    struct rd *r = &p->r;
    struct ms_header *h = p->h;
    r->line++;
    if (n && line[n - 1] == '\r')
        n--;
    if (n == 0)
        return 0;
    if (p->st == DONE)
        return fail(r, "unexpected line after the end record");
    if (p->st == START) {
        if (n == strlen(MAGIC) && !memcmp(line, MAGIC, n)) {
            p->st = CSV_PARAMS;
            return 0;
        }
        if (line[0] != '{')
            return fail(r, "expected '" MAGIC "' or a JSON header object: not a microscope recording");
        struct jobj o;
        if (json_line(r, line, n, &o) < 0)
            return -1;
        static const char *const hk[] = {"version", "bucket_ns", "start_ns", NULL};
        if (strcmp(o.type, "header"))
            return fail(r, "expected the header object first");
        if (need_keys(r, &o, hk) < 0)
            return -1;
        *h = o.h;
        if (check_header(r, h) < 0)
            return -1;
        p->st = JSON_BODY;
        return 0;
    }
    if (p->st == CSV_PARAMS) {
        if (line[0] != '#')
            return fail(r, "expected '# bucket_ns=... start_ns=...'");
        if (kv_u64(r, line, n, "bucket_ns", &h->bucket_ns) < 0 || kv_u64(r, line, n, "start_ns", &h->start_ns) < 0)
            return -1;
        const char *v;
        size_t vn;
        if (kv_find(line, n, "start_realtime_ns", &v, &vn) == 0 && parse_u64(v, vn, &h->start_realtime_ns) < 0)
            return fail(r, "start_realtime_ns: expected an unsigned integer");
        if (kv_find(line, n, "host", &v, &vn) == 0)
            copy_name(h->host, sizeof(h->host), v, vn);
        if (check_header(r, h) < 0)
            return -1;
        p->st = CSV_COLS;
        return 0;
    }
    if (p->st == CSV_COLS) {
        if (n != strlen(csv_columns) || memcmp(line, csv_columns, n))
            return fail(r, "expected the column line '%.40s...'", csv_columns);
        p->st = CSV_BODY;
        return 0;
    }
    if (p->st == CSV_BODY) {
        if (line[0] == '#') {
            if (n >= 6 && !memcmp(line, "# end ", 6)) {
                if (csv_trailer(r, line, n, p->t) < 0)
                    return -1;
                p->st = DONE;
            } else if (n >= 5 && !memcmp(line, "# vm ", 5)) {
                struct ms_vm vm;
                if (csv_vm(r, line, n, &vm) < 0 || hand_vm(p, &vm) < 0)
                    return -1;
            }
            return 0; /* other comments are for people */
        }
        struct ms_sample s;
        if (csv_sample(r, line, n, &s) < 0)
            return -1;
        return hand_sample(p, &s);
    }
    /* JSON_BODY */
    struct jobj o;
    if (json_line(r, line, n, &o) < 0)
        return -1;
    if (!strcmp(o.type, "sample")) {
        static const char *const sk[] = {"t_ns", "bucket_ns", "tid", "dev", "kind", NULL};
        if (need_keys(r, &o, sk) < 0)
            return -1;
        if (parse_dev(o.dev, strlen(o.dev), &o.s.dev) < 0)
            return fail(r, "\"dev\": expected \"MAJOR:MINOR\"");
        int k = ms_kind_parse(o.kind);
        if (k < 0)
            return fail(r, "\"kind\": expected own, writeback, unattributed or device");
        o.s.kind = (uint32_t)k;
        o.s.bucket_ns = o.h.bucket_ns;
        return hand_sample(p, &o.s);
    }
    if (!strcmp(o.type, "vm")) {
        static const char *const vk[] = {"t_ns", "pid", "name", NULL};
        if (need_keys(r, &o, vk) < 0)
            return -1;
        o.vm.t_ns = o.s.t_ns;
        o.vm.pid = o.s.pid;
        if (!o.vm.pid || !o.vm.name[0])
            return fail(r, "vm object: expected a pid and a name");
        return hand_vm(p, &o.vm);
    }
    if (!strcmp(o.type, "end")) {
        static const char *const ek[] = {"end_ns", "missed", "counters", NULL};
        if (need_keys(r, &o, ek) < 0)
            return -1;
        *p->t = o.t;
        p->t->present = true;
        p->st = DONE;
        return 0;
    }
    return fail(r, "\"type\": expected \"sample\", \"vm\" or \"end\", got \"%s\"", o.type);
}

/* Splits data into lines; refuses a NUL byte or an overlong line as soon
 * as it arrives, before reading any further. */
static int feed(struct parser *p, const char *data, size_t len)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t seg = nl ? (size_t)(nl - data) : len;
        if (memchr(data, 0, seg)) {
            p->r.line++;
            return fail(&p->r, "unexpected NUL byte: not a microscope recording");
        }
        if (p->n + seg > MS_MAX_LINE) {
            p->r.line++;
            return fail(&p->r, "line longer than %d bytes: not a microscope recording", MS_MAX_LINE);
        }
        if (nl && !p->n) {
            if (parse_line(p, data, seg) < 0)
                return -1;
        } else {
            memcpy(p->buf + p->n, data, seg);
            p->n += seg;
            if (nl) {
                if (parse_line(p, p->buf, p->n) < 0)
                    return -1;
                p->n = 0;
            }
        }
        seg += nl ? 1 : 0;
        data += seg;
        len -= seg;
    }
    return 0;
}

static int finish(struct parser *p)
{
    struct rd *r = &p->r;
    if (p->n) {
        /* Unfinished: the writer was killed in the middle of it. */
        if (p->st == DONE) {
            r->line++;
            return fail(r, "unexpected line after the end record");
        }
        if (p->st == CSV_BODY || p->st == JSON_BODY) {
            r->line++;
            p->t->cut_line = true;
            p->n = 0;
        }
    }
    if (p->st == START || p->st == CSV_PARAMS || p->st == CSV_COLS) {
        r->line++;
        return fail(r, "unexpected end of file: the recording has no header");
    }
    return 0;
}

static struct parser *parser_new(const char *name, struct ms_header *h, struct ms_trailer *t,
                                 const struct ms_read_cbs *cb, char *err, size_t errlen)
{
    memset(h, 0, sizeof(*h));
    memset(t, 0, sizeof(*t));
    struct parser *p = malloc(sizeof(*p));
    if (!p) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    p->r = (struct rd){name, 0, err, errlen};
    p->st = START;
    p->h = h;
    p->t = t;
    p->cb = cb;
    p->n = 0;
    return p;
}

int ms_read_buf(const char *buf, size_t len, const char *name, struct ms_header *h, struct ms_trailer *t,
                const struct ms_read_cbs *cb, char *err, size_t errlen)
{
    struct parser *p = parser_new(name, h, t, cb, err, errlen);
    if (!p)
        return -1;
    int rc = feed(p, buf, len) < 0 || finish(p) < 0 ? -1 : 0;
    free(p);
    return rc;
}

static const char *file_kind(mode_t m)
{
    return S_ISDIR(m) ? "is a directory" : S_ISCHR(m) ? "is a character device" : S_ISBLK(m) ? "is a block device"
           : S_ISFIFO(m) ? "is a FIFO" : S_ISSOCK(m) ? "is a socket" : "is not a regular file";
}

int ms_read_file(const char *path, struct ms_header *h, struct ms_trailer *t, const struct ms_read_cbs *cb,
                 char *err, size_t errlen)
{
    /* O_NONBLOCK: opening a FIFO nobody writes to must not wait. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: %s, not a recording (a file `vireo microscope record -o` wrote)", path,
                 file_kind(st.st_mode));
        close(fd);
        return -1;
    }
    struct parser *p = parser_new(path, h, t, cb, err, errlen);
    char *chunk = malloc(1 << 16);
    int rc = p && chunk ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "%s: out of memory", path);
    for (uint64_t left = (uint64_t)st.st_size; rc == 0 && left;) {
        ssize_t got = read(fd, chunk, left < (1 << 16) ? (size_t)left : (1 << 16));
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = -1;
        } else if (got == 0) {
            break; /* it shrank meanwhile */
        } else {
            rc = feed(p, chunk, (size_t)got);
            left -= (uint64_t)got;
        }
    }
    if (rc == 0)
        rc = finish(p);
    free(chunk);
    free(p);
    close(fd);
    return rc;
}

#include "cli/disk_args.h"

#include <stdio.h>
#include <string.h>

#include "util/size.h"

#define OPTIONS "format=raw|qcow2, backing=on|off, ro, cache=none|writeback, iothread=N, queues=N, " \
                "aio=io_uring|threads, poll-us=N, serial=ID"

/* Copies the next ','-terminated item of *p into buf (",," is a comma). */
static int next_item(const char **p, char *buf, size_t len)
{
    size_t n = 0;
    const char *s = *p;
    while (*s) {
        if (*s == ',') {
            if (s[1] != ',')
                break;
            s++;
        }
        if (n + 1 >= len)
            return -1;
        buf[n++] = *s++;
    }
    buf[n] = 0;
    *p = *s ? s + 1 : s;
    return 0;
}

int disk_opt_set(struct disk_opts *o, const char *key, const char *val, char *err, size_t errlen)
{
    uint64_t n;
    if (!strcmp(key, "ro") && !val) {
        o->ro = true;
    } else if (!strcmp(key, "format") && val) {
        if (bdev_format_parse(val, &o->format) < 0)
            return snprintf(err, errlen, "format=%s: expected raw or qcow2", val), -1;
    } else if (!strcmp(key, "backing") && val) {
        if (strcmp(val, "on") && strcmp(val, "off"))
            return snprintf(err, errlen, "backing=%s: expected on or off", val), -1;
        o->no_backing = !strcmp(val, "off");
    } else if (!strcmp(key, "cache") && val) {
        if (blk_cache_parse(val, &o->cache) < 0)
            return snprintf(err, errlen, "cache=%s: expected none or writeback", val), -1;
    } else if (!strcmp(key, "iothread") && val) {
        if (!parse_uint(val, 0, IOTHREAD_GROUP_MAX, &n))
            return snprintf(err, errlen, "iothread=%s: expected 0 (serve on the main loop) to %d", val,
                            IOTHREAD_GROUP_MAX), -1;
        o->iothreads = (unsigned)n;
    } else if (!strcmp(key, "queues") && val) {
        if (!parse_uint(val, 1, VBLK_MAX_QUEUES, &n))
            return snprintf(err, errlen, "queues=%s: expected 1 to %d", val, VBLK_MAX_QUEUES), -1;
        o->queues = (unsigned)n;
    } else if (!strcmp(key, "aio") && val) {
        if (aio_kind_parse(val, &o->aio) < 0)
            return snprintf(err, errlen, "aio=%s: expected io_uring or threads", val), -1;
    } else if (!strcmp(key, "poll-us") && val) {
        if (!parse_uint(val, 0, DISK_MAX_POLL_US, &n))
            return snprintf(err, errlen, "poll-us=%s: expected 0 (never poll) to %d", val, DISK_MAX_POLL_US), -1;
        o->poll_us = (unsigned)n;
    } else if (!strcmp(key, "serial") && val) {
        if (strlen(val) > VBLK_SERIAL_LEN)
            return snprintf(err, errlen, "serial=%s: at most %d characters", val, VBLK_SERIAL_LEN), -1;
        snprintf(o->serial, sizeof(o->serial), "%s", val);
    } else {
        snprintf(err, errlen, "unknown option '%s%s%s' (expected %s)", key, val ? "=" : "", val ? val : "",
                 OPTIONS);
        return -1;
    }
    return 0;
}

int disk_arg_parse(const char *spec, struct disk_arg *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    disk_opts_defaults(&d->o, d->path);
    d->o.ro_hint = ",ro";
    const char *p = spec;
    if (next_item(&p, d->path, sizeof(d->path)) < 0) {
        snprintf(err, errlen, "--disk: path too long");
        return -1;
    }
    if (!d->path[0]) {
        snprintf(err, errlen, "--disk '%s': expected PATH[,OPTION...] with a path first", spec);
        return -1;
    }
    char item[256];
    while (*p) {
        const char *at = p;
        if (next_item(&p, item, sizeof(item)) < 0) {
            snprintf(err, errlen, "--disk '%s': option too long", spec);
            return -1;
        }
        char *val = strchr(item, '=');
        if (val)
            *val++ = 0;
        char why[384];
        if (disk_opt_set(&d->o, item, val, why, sizeof(why)) < 0) {
            /* A '.' or '/' is in no option's name: most likely the rest of a
             * path that held a comma, which the list syntax needs doubled. */
            if (!val && strpbrk(item, "./"))
                snprintf(err, errlen, "--disk '%s': %s; a comma in the path is written twice, as in '%.*s,%s'",
                         spec, why, (int)(at - spec), spec, at);
            else
                snprintf(err, errlen, "--disk '%s': %s", spec, why);
            return -1;
        }
    }
    return 0;
}

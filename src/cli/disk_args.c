#include "cli/disk_args.h"

#include <stdio.h>
#include <string.h>

#include "util/size.h"

#define OPTIONS "ro, cache=none|writeback, iothread=N, queues=N, aio=io_uring|threads, poll-us=N, serial=ID"

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

int disk_arg_parse(const char *spec, struct disk_arg *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    vblk_opts_defaults(&d->o, d->path);
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
        if (next_item(&p, item, sizeof(item)) < 0) {
            snprintf(err, errlen, "--disk '%s': option too long", spec);
            return -1;
        }
        char *val = strchr(item, '=');
        if (val)
            *val++ = 0;
        uint64_t n;
        if (!strcmp(item, "ro") && !val) {
            d->o.ro = true;
        } else if (!strcmp(item, "cache") && val) {
            if (blk_cache_parse(val, &d->o.cache) < 0) {
                snprintf(err, errlen, "--disk '%s': cache=%s: expected none or writeback", spec, val);
                return -1;
            }
        } else if (!strcmp(item, "iothread") && val) {
            if (!parse_uint(val, 0, VBLK_MAX_IOTHREADS, &n)) {
                snprintf(err, errlen, "--disk '%s': iothread=%s: expected 0 (serve on the main loop) to %d",
                         spec, val, VBLK_MAX_IOTHREADS);
                return -1;
            }
            d->o.iothreads = (unsigned)n;
        } else if (!strcmp(item, "queues") && val) {
            if (!parse_uint(val, 1, VBLK_MAX_QUEUES, &n)) {
                snprintf(err, errlen, "--disk '%s': queues=%s: expected 1 to %d", spec, val, VBLK_MAX_QUEUES);
                return -1;
            }
            d->o.queues = (unsigned)n;
        } else if (!strcmp(item, "aio") && val) {
            if (aio_kind_parse(val, &d->o.aio) < 0) {
                snprintf(err, errlen, "--disk '%s': aio=%s: expected io_uring or threads", spec, val);
                return -1;
            }
        } else if (!strcmp(item, "poll-us") && val) {
            if (!parse_uint(val, 0, VBLK_MAX_POLL_US, &n)) {
                snprintf(err, errlen, "--disk '%s': poll-us=%s: expected 0 (never poll) to %d", spec, val,
                         VBLK_MAX_POLL_US);
                return -1;
            }
            d->o.poll_us = (unsigned)n;
        } else if (!strcmp(item, "serial") && val) {
            if (strlen(val) > VBLK_SERIAL_LEN) {
                snprintf(err, errlen, "--disk '%s': serial=%s: at most %d characters", spec, val, VBLK_SERIAL_LEN);
                return -1;
            }
            snprintf(d->o.serial, sizeof(d->o.serial), "%s", val);
        } else {
            snprintf(err, errlen, "--disk '%s': unknown option '%s%s%s' (expected %s)", spec, item,
                     val ? "=" : "", val ? val : "", OPTIONS);
            return -1;
        }
    }
    return 0;
}

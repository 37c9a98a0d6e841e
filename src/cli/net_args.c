#include "cli/net_args.h"

#include <stdio.h>
#include <string.h>

#include "eventloop/iothread_group.h"
#include "net/mac.h"
#include "util/size.h"
#include "virtio/net.h"

#define FORMS "bridge=BR[,mac=MAC][,ifname=NAME][,queues=N][,iothread=N][,vhost=on|off] or " \
              "tap=NAME[,mac=MAC][,queues=N][,iothread=N][,vhost=on|off]"

static int name_value(const char *spec, const char *key, const char *val, char *dst, size_t size, char *err,
                      size_t errlen)
{
    if (!*val || strlen(val) >= size || strchr(val, '/') || strchr(val, ' ')) {
        snprintf(err, errlen, "--net '%s': %s=%s: expected an interface name of 1 to %zu characters", spec, key,
                 val, size - 1);
        return -1;
    }
    strcpy(dst, val);
    return 0;
}

int net_arg_parse(const char *spec, struct vm_net_opts *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof(*n));
    n->queues = VM_NET_DEFAULT_QUEUES;
    n->iothreads = 1;
    char buf[512];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "--net: value too long");
        return -1;
    }
    strcpy(buf, spec);
    for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *val = strchr(item, '=');
        uint64_t v;
        if (!val) {
            snprintf(err, errlen, "--net '%s': '%s' is not KEY=VALUE (expected %s)", spec, item, FORMS);
            return -1;
        }
        *val++ = 0;
        if (!strcmp(item, "bridge")) {
            if (name_value(spec, item, val, n->bridge, sizeof(n->bridge), err, errlen) < 0)
                return -1;
        } else if (!strcmp(item, "tap")) {
            if (name_value(spec, item, val, n->tap, sizeof(n->tap), err, errlen) < 0)
                return -1;
        } else if (!strcmp(item, "ifname")) {
            if (name_value(spec, item, val, n->ifname, sizeof(n->ifname), err, errlen) < 0)
                return -1;
        } else if (!strcmp(item, "mac")) {
            char why[128];
            if (mac_parse(val, n->mac, why, sizeof(why)) < 0) {
                snprintf(err, errlen, "--net '%s': mac=%s: %s", spec, val, why);
                return -1;
            }
            n->has_mac = true;
        } else if (!strcmp(item, "queues")) {
            if (!parse_uint(val, 1, VNET_MAX_PAIRS, &v)) {
                snprintf(err, errlen, "--net '%s': queues=%s: expected 1 to %d queue pairs", spec, val, VNET_MAX_PAIRS);
                return -1;
            }
            n->queues = (unsigned)v;
        } else if (!strcmp(item, "vhost")) {
            if (strcmp(val, "on") && strcmp(val, "off")) {
                snprintf(err, errlen, "--net '%s': vhost=%s: expected on (the kernel's vhost-net) or off (frames "
                         "through the VMM)", spec, val);
                return -1;
            }
            n->vhost = strcmp(val, "on") ? VM_VHOST_OFF : VM_VHOST_ON;
        } else if (!strcmp(item, "iothread")) {
            if (!parse_uint(val, 0, IOTHREAD_GROUP_MAX, &v)) {
                snprintf(err, errlen, "--net '%s': iothread=%s: expected 0 (serve on the main loop) to %d", spec,
                         val, IOTHREAD_GROUP_MAX);
                return -1;
            }
            n->iothreads = (unsigned)v;
        } else {
            snprintf(err, errlen, "--net '%s': unknown option '%s' (expected %s)", spec, item, FORMS);
            return -1;
        }
    }
    if (!n->bridge[0] == !n->tap[0]) {
        snprintf(err, errlen, "--net '%s': expected exactly one of bridge=BR or tap=NAME", spec);
        return -1;
    }
    if (n->tap[0] && n->ifname[0]) {
        snprintf(err, errlen, "--net '%s': ifname= names a new TAP; with tap=NAME the TAP exists already", spec);
        return -1;
    }
    return 0;
}

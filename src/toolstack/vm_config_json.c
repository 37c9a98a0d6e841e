#include "toolstack/vm_config_json.h"

#include "net/mac.h"
#include "util/cpulist.h"

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static struct json_object *cpuset_json(const struct vm_cpuset *s)
{
    char buf[4096];
    cpu_set_t set;
    vm_cpuset_to_cpu_set(s, &set);
    cpulist_format(&set, VM_MAX_HOST_CPUS, buf, sizeof(buf));
    return json_object_new_string(buf);
}

static struct json_object *pins(bool pinned, const struct vm_cpuset *sets, unsigned n)
{
    if (!pinned)
        return json_object_new_string("all");
    struct json_object *a = json_object_new_array();
    for (unsigned i = 0; i < n; i++)
        json_object_array_add(a, cpuset_json(&sets[i]));
    return a;
}

struct json_object *vm_config_json(const struct vm_config *c)
{
    static const char *const serial[] = {"pty", "null", "file"};
    struct json_object *o = json_object_new_object();
    add_str(o, "name", c->name);
    json_object_object_add(o, "memory", json_object_new_int64((int64_t)c->memory_mib));
    if (c->maxmem_mib)
        json_object_object_add(o, "maxmem", json_object_new_int64((int64_t)c->maxmem_mib));
    json_object_object_add(o, "vcpus", json_object_new_int((int)c->vcpus));
    json_object_object_add(o, "cpus", pins(c->pinned, c->cpus, c->vcpus));
    add_str(o, "kernel", c->kernel);
    add_str(o, "ramdisk", c->ramdisk);
    add_str(o, "cmdline", c->cmdline);
    if (c->boot.pygrub) {
        struct json_object *b = json_object_new_object();
        add_str(b, "entry", c->boot.entry);
        add_str(b, "kernel", c->boot.kernel);
        add_str(b, "ramdisk", c->boot.ramdisk);
        json_object_object_add(o, "bootloader", b);
    }
    struct json_object *disks = json_object_new_array();
    for (unsigned i = 0; i < c->ndisks; i++) {
        const struct vm_disk *d = &c->disks[i];
        struct json_object *j = json_object_new_object();
        add_str(j, "vdev", d->vdev);
        add_str(j, "target", d->target);
        add_str(j, "format", bdev_format_name(d->format));
        if (d->format == BDEV_FORMAT_QCOW2)
            json_object_object_add(j, "backing", json_object_new_boolean(!d->no_backing));
        add_str(j, "access", d->readonly ? "r" : "rw");
        json_object_object_add(j, "discard", json_object_new_boolean(d->discard));
        json_object_array_add(disks, j);
    }
    json_object_object_add(o, "disk", disks);
    struct json_object *vifs = json_object_new_array();
    for (unsigned i = 0; i < c->nvifs; i++) {
        const struct vm_vif *v = &c->vifs[i];
        struct json_object *j = json_object_new_object();
        add_str(j, "bridge", v->bridge);
        if (v->has_mac) {
            char mac[18];
            mac_format(v->mac, mac);
            add_str(j, "mac", mac);
        }
        if (v->vifname[0])
            add_str(j, "vifname", v->vifname);
        if (v->vhost != VM_VHOST_AUTO)
            add_str(j, "vhost", v->vhost == VM_VHOST_ON ? "on" : "off");
        json_object_array_add(vifs, j);
    }
    json_object_object_add(o, "vif", vifs);
    json_object_object_add(o, "iothread_cpus", pins(c->iothreads_pinned, c->iothread_cpus, c->ndisks));
    add_str(o, "on_poweroff", vm_action_name(c->on_poweroff));
    add_str(o, "on_reboot", vm_action_name(c->on_reboot));
    add_str(o, "on_crash", vm_action_name(c->on_crash));
    add_str(o, "serial", serial[c->serial]);
    if (c->serial_path)
        add_str(o, "serial_path", c->serial_path);
    add_str(o, "user", c->user);
    json_object_object_add(o, "seccomp", json_object_new_boolean(!c->seccomp_off));
    json_object_object_add(o, "hugepages", json_object_new_boolean(c->hugepages));
    return o;
}

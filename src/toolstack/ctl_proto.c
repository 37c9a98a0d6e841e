#include "toolstack/ctl_proto.h"

#include <stdio.h>
#include <string.h>

#include "toolstack/vm_commands.h"
#include "toolstack/vm_mem_commands.h"

static const struct ctl_field no_fields[] = {{NULL, CTL_T_END}};

/* last_stop (null until the first stop) is left out: it may be null. */
static const struct ctl_field info_reply[] = {
    {"name", CTL_T_STR},     {"id", CTL_T_NUM},       {"pid", CTL_T_NUM},      {"memory_mib", CTL_T_NUM},
    {"vcpus", CTL_T_NUM},    {"state", CTL_T_STR},    {"flags", CTL_T_STR},    {"cpu_time", CTL_T_NUM},
    {"uptime", CTL_T_NUM},   {"restarts", CTL_T_NUM}, {"config", CTL_T_OBJ},   {NULL, CTL_T_END},
};
/* Each element {vcpu, state[, cpu, cpu_time, affinity, tid while it runs]}. */
static const struct ctl_field vcpu_list_reply[] = {{"vcpus", CTL_T_ARR}, {NULL, CTL_T_END}};
/* Each element {vdev, guest_dev, target, access, format, discard, iothread_cpus}. */
static const struct ctl_field block_list_reply[] = {{"disks", CTL_T_ARR}, {NULL, CTL_T_END}};
/* Each element {bridge, mac, vifname}. */
static const struct ctl_field network_list_reply[] = {{"vifs", CTL_T_ARR}, {NULL, CTL_T_END}};
/* The guest stopped: why, vireo run's exit status for it, and what the VM
 * does next (on_poweroff/on_reboot/on_crash: destroy, restart, preserve). */
static const struct ctl_field wait_reply[] = {
    {"event", CTL_T_STR}, {"reason", CTL_T_STR}, {"status", CTL_T_NUM}, {"then", CTL_T_STR}, {NULL, CTL_T_END},
};
/* block-list's elements with the disk's accounting (vm_stats_json.h): in
 * total and per queue under "queues". */
static const struct ctl_field block_stats_reply[] = {{"disks", CTL_T_ARR}, {NULL, CTL_T_END}};
/* network-list's elements with the interface's counters, in total and per
 * queue pair under "queues". */
static const struct ctl_field net_stats_reply[] = {{"vifs", CTL_T_ARR}, {NULL, CTL_T_END}};
/* Everything `vireo top` and `vireo metrics` show of a VM, in one answer:
 * time_ns is CLOCK_MONOTONIC when it was read (rates are differences of
 * two answers), vcpus each vCPU's time and exits, memory in bytes, disks
 * and vifs their totals (no "queues"). */
static const struct ctl_field stats_reply[] = {
    {"name", CTL_T_STR},   {"id", CTL_T_NUM},     {"pid", CTL_T_NUM},      {"state", CTL_T_STR},
    {"time_ns", CTL_T_NUM}, {"uptime", CTL_T_NUM}, {"cpu_time", CTL_T_NUM}, {"memory", CTL_T_OBJ},
    {"vcpus", CTL_T_ARR},  {"disks", CTL_T_ARR},  {"vifs", CTL_T_ARR},     {NULL, CTL_T_END},
};
/* How many bytes of history follow the reply line. */
static const struct ctl_field console_reply[] = {{"buffered", CTL_T_NUM}, {NULL, CTL_T_END}};

/* Each element {vdev, target (as configured), path (absolute), format,
 * access}: the disks as the VM has them open. */
static const struct ctl_field freeze_reply[] = {{"disks", CTL_T_ARR}, {"paused_before", CTL_T_BOOL},
                                                {NULL, CTL_T_END}};
/* How long the guest was frozen. */
static const struct ctl_field thaw_reply[] = {{"frozen_ms", CTL_T_NUM}, {NULL, CTL_T_END}};
/* The configuration in effect as xl.cfg text (vm_config_write), and the
 * VM process's working directory (relative paths in it are relative to
 * that); "file", the config file's absolute path, when it is known. */
static const struct ctl_field config_reply[] = {{"xlcfg", CTL_T_STR}, {"cwd", CTL_T_STR}, {NULL, CTL_T_END}};

/* The balloon's figures after the request (vm_mem_commands.h). */
static const struct ctl_field mem_set_reply[] = {{"balloon", CTL_T_OBJ}, {NULL, CTL_T_END}};

const struct ctl_cmd_def ctl_cmds[CTL_NCMDS] = {
    [CTL_INFO] = {"info", false, CTL_REPLY, vmp_cmd_info, "", info_reply},
    [CTL_SHUTDOWN] = {"shutdown", true, CTL_REPLY, vmp_cmd_shutdown, "", no_fields},
    [CTL_REBOOT] = {"reboot", true, CTL_REPLY, vmp_cmd_reboot, "", no_fields},
    [CTL_DESTROY] = {"destroy", false, CTL_REPLY, vmp_cmd_destroy, "", no_fields},
    [CTL_PAUSE] = {"pause", true, CTL_REPLY, vmp_cmd_pause, "", no_fields},
    [CTL_UNPAUSE] = {"unpause", true, CTL_REPLY, vmp_cmd_unpause, "", no_fields},
    [CTL_VCPU_LIST] = {"vcpu-list", false, CTL_REPLY, vmp_cmd_vcpu_list, "", vcpu_list_reply},
    [CTL_VCPU_PIN] = {"vcpu-pin", true, CTL_REPLY, vmp_cmd_vcpu_pin,
                      "\"vcpu\": a number or \"all\", \"cpus\": a CPU list (\"0-3,^1\", \"all\")", no_fields},
    [CTL_BLOCK_LIST] = {"block-list", false, CTL_REPLY, vmp_cmd_block_list, "", block_list_reply},
    [CTL_NETWORK_LIST] = {"network-list", false, CTL_REPLY, vmp_cmd_network_list, "", network_list_reply},
    [CTL_WAIT] = {"wait", false, CTL_REPLY_AT_STOP, NULL, "", wait_reply},
    [CTL_CONSOLE] = {"console", false, CTL_RAW_CONSOLE, vmp_cmd_console, "", console_reply},
    /* A point-in-time image of the disks (vireo clone, vireo backup): the
     * vCPUs paused and every writable disk flushed, until "thaw" from the
     * same connection, the connection's end, or "max_seconds". */
    [CTL_FREEZE] = {"freeze", true, CTL_REPLY, vmp_cmd_freeze,
                    "\"max_seconds\": the longest the guest stays frozen (1-86400, default 60)", freeze_reply},
    [CTL_THAW] = {"thaw", true, CTL_REPLY, vmp_cmd_thaw, "", thaw_reply},
    [CTL_CONFIG] = {"config", false, CTL_REPLY, vmp_cmd_config, "", config_reply},
    [CTL_BLOCK_STATS] = {"block-stats", false, CTL_REPLY, vmp_cmd_block_stats, "", block_stats_reply},
    [CTL_NET_STATS] = {"net-stats", false, CTL_REPLY, vmp_cmd_net_stats, "", net_stats_reply},
    [CTL_STATS] = {"stats", false, CTL_REPLY, vmp_cmd_stats, "", stats_reply},
    /* Answered once the balloon's target is set: the guest follows (or
     * not) afterwards, as the figures in info and stats show. */
    [CTL_MEM_SET] = {"mem-set", true, CTL_REPLY, vmp_cmd_mem_set,
                     "\"target_mib\": what the guest should hold, up to its maximum", mem_set_reply},
    [CTL_MEM_MAX] = {"mem-max", true, CTL_REPLY, vmp_cmd_mem_max,
                     "\"max_mib\": the most mem-set may ask for, from the target to maxmem", no_fields},
};

int ctl_cmd_lookup(const struct ctl_cmd_def *table, const char *name)
{
    for (int i = 0; i < CTL_NCMDS; i++)
        if (table[i].name && !strcmp(table[i].name, name))
            return i;
    return -1;
}

static bool has_type(struct json_object *v, enum ctl_type t)
{
    switch (t) {
    case CTL_T_STR: return json_object_is_type(v, json_type_string);
    case CTL_T_NUM: return json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double);
    case CTL_T_BOOL: return json_object_is_type(v, json_type_boolean);
    case CTL_T_OBJ: return json_object_is_type(v, json_type_object);
    case CTL_T_ARR: return json_object_is_type(v, json_type_array);
    default: return false;
    }
}

int ctl_reply_check(enum ctl_cmd cmd, struct json_object *reply, char *err, size_t errlen)
{
    static const char *const type_names[] = {"", "a string", "a number", "a boolean", "an object", "an array"};
    for (const struct ctl_field *f = ctl_cmds[cmd].reply; f->key; f++) {
        struct json_object *v;
        if (!json_object_object_get_ex(reply, f->key, &v) || !has_type(v, f->type)) {
            snprintf(err, errlen, "bad answer from the VM process to '%s': \"%s\" is not %s", ctl_cmds[cmd].name,
                     f->key, type_names[f->type]);
            return -1;
        }
    }
    return 0;
}

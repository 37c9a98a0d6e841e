#include "cli/cmd_toolstack.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/mem_budget_host.h"
#include "toolstack/vm_config.h"
#include "toolstack/vm_config_json.h"
#include "toolstack/rundir.h"
#include "toolstack/vm_process.h"
#include "util/file.h"
#include "util/log.h"

#define CONFIG_MAX (1024 * 1024)

static int load(const char *path, char *const *over, int nover, struct vm_config *cfg)
{
    uint64_t size;
    char *buf = read_input(path, "config file", CONFIG_MAX, &size);
    if (!buf)
        return -1;
    char err[512];
    int r = vm_config_load(buf, size, path, (const char *const *)over, (size_t)nover, cfg, err, sizeof(err));
    if (r < 0)
        vlog_err("%s", err);
    free(buf);
    return r;
}

/* Checks what vm_config leaves to the host; the VM process checks the
 * rest (kernel, disks) before `create` returns. */
static int supported(const char *path, const struct vm_config *c)
{
    for (unsigned i = 0; i < c->nvifs; i++) {
        if (c->vifs[i].mtu) {
            vlog_err("%s: vif %u: mtu= is not supported (the TAP takes its bridge's MTU)", path, i);
            return -1;
        }
    }
    for (unsigned i = 0; i < c->ndisks; i++) {
        if (!c->disks[i].discard) {
            vlog_err("%s: disk %s: no-discard is not supported (vireo's disks always offer discard)", path,
                     c->disks[i].vdev);
            return -1;
        }
    }
    return 0;
}

int cmd_create(const struct cli_cmd *self, int argc, char *const argv[])
{
    bool console = false, paused = false, dry = false, overcommit = false;
    int opt;
    static const struct option longopts[] = {{"overcommit", no_argument, NULL, 'O'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
    /* Permuting, as xl's getopt: "create FILE -n" works like "create -n
     * FILE"; the KEY=VALUE overrides never start with '-'. */
    static const char optstring[] = "cpnh";
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': console = true; break;
        case 'p': paused = true; break;
        case 'n': dry = true; break;
        case 'O': overcommit = true; break;
        case 'h': cli_usage(stdout, self); return 0;
        default: return cli_bad_option(self->name, argv, optstring, longopts);
        }
    }
    if (optind >= argc)
        return cli_usage_error(self->name, "expected a config FILE");
    const char *path = argv[optind];
    static struct vm_config cfg;
    if (load(path, argv + optind + 1, argc - optind - 1, &cfg) < 0)
        return 1;
    for (unsigned i = 0; i < cfg.nwarnings; i++)
        fprintf(stderr, "warning: %s\n", cfg.warnings[i]);
    int rc = 1, create_lock = -1;
    if (supported(path, &cfg) < 0)
        goto out;
    if (dry) {
        struct json_object *j = vm_config_json(&cfg);
        puts(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(j);
        rc = 0;
        goto out;
    }
    char err[512];
    /* From the budget's check until the new VM answers: another create
     * must count this VM before it decides. */
    create_lock = rundir_create_lock(err, sizeof(err));
    if (create_lock < 0) {
        vlog_err("create: %s", err);
        goto out;
    }
    struct mem_budget budget;
    if (mem_budget_gather(&budget, err, sizeof(err)) < 0) {
        vlog_err("create: %s", err);
        goto out;
    }
    uint64_t max = cfg.maxmem_mib ? cfg.maxmem_mib : cfg.memory_mib;
    if (mem_budget_check(&budget, max, cfg.hugepages, err, sizeof(err)) < 0) {
        if (!overcommit) {
            vlog_err("create: %s", err);
            goto out;
        }
        fprintf(stderr, "warning: --overcommit: %s\n", err);
    }
    struct vm_spawned vm;
    if (vm_process_spawn(&cfg, paused, &vm, err, sizeof(err)) < 0) {
        if (err[0])
            vlog_err("create: %s", err);
        goto out;
    }
    rundir_create_unlock(create_lock);
    create_lock = -1;
    fprintf(stderr, "vireo: VM '%s' started (id %u, pid %d)\n", cfg.name, vm.domid, (int)vm.pid);
    rc = console ? console_attach(cfg.name) : 0;
out:
    rundir_create_unlock(create_lock);
    vm_config_free(&cfg);
    return rc;
}

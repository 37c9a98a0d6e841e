#include "cli/commands.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cli/cmd_disk.h"
#include "cli/cmd_host_check.h"
#include "cli/cmd_image.h"
#include "cli/cmd_microscope.h"
#include "cli/cmd_run.h"
#include "cli/cmd_top.h"
#include "cli/cmd_toolstack.h"
#include "cli/vm_names.h"
#include "util/suggest.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* The commands with their own argument parsers print their own --help. */
static int run(const struct cli_cmd *self, int argc, char *const argv[])
{
    (void)self;
    return cmd_run(argc, argv);
}

static int disk(const struct cli_cmd *self, int argc, char *const argv[])
{
    (void)self;
    return cmd_disk(argc, argv);
}

static int microscope(const struct cli_cmd *self, int argc, char *const argv[])
{
    (void)self;
    return cmd_microscope(argc, argv);
}

static int image(const struct cli_cmd *self, int argc, char *const argv[])
{
    (void)self;
    return cmd_image(argc, argv);
}

static int version(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    if (cli_operands_only(self, &argc, &argv, 0, &status))
        return status;
    printf("vireo %s\n", VIREO_VERSION);
    return 0;
}

static int help(const struct cli_cmd *self, int argc, char *const argv[])
{
    int status;
    /* help COMMAND is COMMAND --help, as git has it. */
    const struct cli_cmd *c = argc == 2 && argv[1][0] != '-' ? cli_cmd_find(argv[1]) : NULL;
    if (c) {
        char *const args[] = {(char *)c->name, (char *)"--help", NULL};
        return c->fn(c, 2, args);
    }
    if (argc == 2 && argv[1][0] != '-')
        return cli_usage_error(self->name, "unknown command '%s'", argv[1]);
    if (cli_operands_only(self, &argc, &argv, 0, &status))
        return status;
    cli_help(stdout);
    return 0;
}

#define SHUTDOWN_OPTIONS(what)                                                  \
    "  -a  every running VM, in parallel\n"                                     \
    "  -w  wait until the guests have " what "; with -t at most SECONDS\n"      \
    "      (default " STR(SHUTDOWN_DEFAULT_WAIT_S) "), then name those that did not and exit 1\n"

const struct cli_cmd cli_cmds[] = {
    {"run", run, CLI_VMM, "run --kernel BZIMAGE [OPTION...]", "boot a Linux kernel in a new VM", NULL, 0},
    {"disk", disk, CLI_VMM, "disk serve --socket PATH [OPTION...] IMAGE", "serve a disk image over vhost-user-blk",
     NULL, 0},
    {"microscope", microscope, CLI_VMM, "microscope [live|record|report] [OPTION...]",
     "per-task disk I/O at millisecond resolution", NULL, 0},
    {"host-check", cmd_host_check, CLI_VMM, "host-check [--json]", "is this host ready to run VMs, and what to fix",
     "Checks this host for running VMs: hardware virtualization, the KVM module\n"
     "(and PVM mode), /dev/kvm, nested virtualization, tun/bridge/vhost-net,\n"
     "io_uring, memory and huge pages, kernel BTF for the microscope; each\n"
     "finding with its fix.  Exits 1 if a check failed.\n",
     0},
    {"image", image, CLI_VMM, "image create|info|resize|clone|import|bootstrap [OPTION...] ...",
     "create, describe, grow, clone and import disk images (raw, qcow2); make a Debian guest", NULL, 0},
    {"create", cmd_create, CLI_XL, "create [-c] [-p] [-n] [--overcommit] FILE [KEY=VALUE...]",
     "start a VM from an xl.cfg file",
     "Starts the VM FILE (an xl.cfg file) describes, as its own process, and\n"
     "returns once it runs.  KEY=VALUE settings replace the file's ('+=' appends).\n"
     "A VM whose maxmem (else memory) and VMM do not fit in what the running VMs\n"
     "and the host's reservation (VIREO_HOST_RESERVE, default a quarter of the\n"
     "host's RAM, at most 1G) leave is refused with the numbers (vireo info).\n"
     "  -c            attach to the console afterwards (Ctrl-] detaches)\n"
     "  -p            leave the vCPUs paused (vireo unpause NAME starts them)\n"
     "  -n            dry run: print the configuration (JSON) and start nothing\n"
     "  --overcommit  start it even if it does not fit (with a warning)\n",
     0},
    {"list", cmd_list, CLI_XL, "list [-l|--json] [NAME...]", "running VMs",
     "Lists running VMs with xl's columns: Name, ID, Mem (MiB), VCPUs, State,\n"
     "Time(s) (vCPU time used).  State flags: r running, b blocked (idle),\n"
     "p paused, s shut down, c crashed (the last two: on_*=preserve).  With a\n"
     "balloon (maxmem), Mem is what the guest holds: its RAM less the balloon.\n"
     "  -l      JSON: an array of objects with the configuration and state, and\n"
     "          the balloon's target, actual size and the guest's memory figures\n"
     "  --json  the table as JSON: an array of objects, one per row (README)\n",
     CTL_INFO},
    {"console", cmd_console, CLI_XL, "console NAME", "attach to a VM's console (Ctrl-] detaches)",
     "Attaches to the VM's serial console: the output kept while nobody was\n"
     "attached first, then live.  Ctrl-] detaches; the VM keeps running.\n",
     CTL_CONSOLE},
    {"shutdown", cmd_shutdown, CLI_XL, "shutdown [-w] [-t SECONDS] NAME...\nshutdown -a [-w] [-t SECONDS]",
     "ACPI power button (-a: every VM)",
     "Presses the ACPI power button: the guest shuts down if it listens (acpid,\n"
     "systemd-logind); on_poweroff= then says what happens to the VM.\n" SHUTDOWN_OPTIONS("powered off"),
     CTL_SHUTDOWN},
    {"reboot", cmd_shutdown, CLI_XL, "reboot [-w] [-t SECONDS] NAME...\nreboot -a [-w] [-t SECONDS]",
     "power button, then start again in place",
     "Presses the ACPI power button; once the guest is off the VM starts again\n"
     "in place (the guest sees no reset button: this is libvirt's ACPI reboot).\n"
     SHUTDOWN_OPTIONS("powered off (the VM then restarts)"),
     CTL_REBOOT},
    {"destroy", cmd_destroy, CLI_XL, "destroy NAME", "stop a VM at once",
     "Stops the VM at once, like pulling the plug (the guest is not asked);\n"
     "returns when its process is gone.\n",
     CTL_DESTROY},
    {"pause", cmd_pause, CLI_XL, "pause NAME", "stop the vCPUs",
     "Stops the VM's vCPUs; its memory, devices and console stay (vireo unpause).\n", CTL_PAUSE},
    {"unpause", cmd_pause, CLI_XL, "unpause NAME", "resume the vCPUs", "Lets a paused VM's vCPUs run again.\n",
     CTL_UNPAUSE},
    {"vcpu-list", cmd_vcpu_list, CLI_XL, "vcpu-list [--json] [NAME...]", "vCPU threads and their host CPUs",
     "Each vCPU of the named (default: all) VMs: the host CPU it last ran on,\n"
     "its state (r running, b blocked, p paused), the CPU time it used and\n"
     "the host CPUs it may run on.\n"
     "  --json  the table as JSON: an array of objects, one per row (README)\n",
     CTL_VCPU_LIST},
    {"vcpu-pin", cmd_vcpu_pin, CLI_XL, "vcpu-pin NAME VCPU|all CPUS", "restrict vCPUs to host CPUs",
     "Restricts vCPU VCPU (or every vCPU) to host CPUS: 'all', '2', '0-3,6',\n"
     "'^1' (all but CPU 1).  Kept across an in-place restart.\n",
     CTL_VCPU_PIN},
    {"mem-set", cmd_mem, CLI_XL, "mem-set NAME SIZE", "ask the guest to use SIZE of memory (balloon)",
     "Asks the guest, through its balloon, to hold SIZE of memory (512M, 1G; a\n"
     "bare number is MiB), up to its maximum (maxmem, or vireo mem-max).  Returns\n"
     "once asked: vireo list -l shows the target, what the guest holds and\n"
     "whether it follows.  Needs maxmem in the VM's config (its balloon).\n",
     CTL_MEM_SET},
    {"mem-max", cmd_mem, CLI_XL, "mem-max NAME SIZE", "the most mem-set may give the guest",
     "Sets the most vireo mem-set may ask for: from the current target up to\n"
     "the guest's RAM (maxmem; vireo adds no RAM to a running guest).  Needs\n"
     "maxmem in the VM's config, as mem-set does.\n",
     CTL_MEM_MAX},
    /* xl's block-list columns are Xen's (backend paths, event channels);
     * these are what a virtio disk has instead. */
    {"block-list", cmd_block_list, CLI_XL, "block-list [-l|--json] NAME", "a VM's disks",
     "The VM's disks: xl's vdev, the name the guest sees (in vdev order), access, format, image.\n"
     "  -l  JSON, with each disk's accounting: requests, bytes, errors by reason,\n"
     "      latency histograms, in total and per queue (the block-stats command)\n"
     "  --json  the table as JSON: an array of objects, one per disk (README)\n",
     CTL_BLOCK_LIST},
    {"network-list", cmd_block_list, CLI_XL, "network-list [-l|--json] NAME", "a VM's network interfaces",
     "The VM's network interfaces (vif=).\n"
     "  -l  JSON, with each interface's counters: frames, bytes, drops by reason,\n"
     "      ring-full events, in total and per queue pair (the net-stats command)\n"
     "  --json  the table as JSON: an array of objects, one per interface (README)\n",
     CTL_NETWORK_LIST},
    {"clone", cmd_clone, CLI_XL, "clone [-o DIR] [--paused-copy] [--snapshot-size SIZE] NAME-or-CFG NEWNAME",
     "a second VM sharing the first's disks' data",
     "Makes NEWNAME.cfg (in DIR, default the source config's folder) for a copy of\n"
     "the VM: each writable disk cloned beside itself (a qcow2 overlay, a reflink\n"
     "on XFS or btrfs, an LVM snapshot, else a sparse copy), read-only disks\n"
     "shared, the new name (so new MACs).  A running VM is paused and its disks\n"
     "flushed for the instant of the snapshots, then resumes.\n"
     "  --paused-copy         a running VM's disk that cannot be reflinked or\n"
     "                        snapshotted is copied while the VM stays paused\n"
     "  --snapshot-size SIZE  classic LVM snapshots get SIZE of copy-on-write\n"
     "                        space (default: enough for the whole volume)\n",
     CTL_INFO},
    {"backup", cmd_backup, CLI_XL, "backup [--paused-copy] NAME-or-CFG DEST|-", "a point-in-time copy of a VM's disks",
     "Writes a backup of the VM (its disks and config, a tar stream) to DEST, a new\n"
     "file, or to standard output (-), for `vireo image import`.  A running VM is\n"
     "paused while its disks are flushed and snapshotted (reflink, LVM), then\n"
     "resumes; the snapshots are copied while it runs (only data) and dropped.\n"
     "  --paused-copy  a disk that cannot be snapshotted is read while the VM\n"
     "                 stays paused\n",
     CTL_INFO},
    {"top", cmd_top, CLI_XL, "top [-b] [-d SECONDS] [-n N] [-s FIELD] [--json]",
     "every VM's CPU, memory, disk and network, live (xentop)",
     "One line per VM, refreshed every -d SECONDS (default 3): state, CPU %, vCPUs,\n"
     "memory (configured, resident), disk reads and writes per second and MB/s,\n"
     "p50/p99 request latency over the interval, network MB/s.  Keys: Up/Down\n"
     "select, Enter opens the VM's disks and queues, q quits; n i c m r w l x sort\n"
     "by name, ID, CPU, memory, read, write, latency, network; R reverses.\n"
     "  -b      batch: a block per interval, as top -b (also when not on a terminal)\n"
     "  -n N    stop after N refreshes\n"
     "  -s F    sort by id (default), name, cpu, mem, read, write, latency or net\n"
     "  --json  one JSON object per interval, with the raw counts (implies -b)\n"
     "Shows the VMs whose control sockets this user may open (root: all).\n",
     CTL_STATS},
    {"metrics", cmd_metrics, CLI_XL, "metrics --listen ADDRESS:PORT\nmetrics --textfile PATH [--interval SECONDS] [--once]",
     "every VM's counters and latency histograms for Prometheus",
     "Every VM's counters and latency histograms in Prometheus' text format,\n"
     "named as the libvirt exporters name theirs, with a vireo_ prefix.\n"
     "  --listen ADDRESS:PORT  serve them at http://ADDRESS:PORT/metrics (each scrape\n"
     "                         reads every VM); ':PORT' listens on every address\n"
     "  --textfile PATH        write them to PATH (for node_exporter's textfile\n"
     "                         collector) every --interval SECONDS (default 15), or\n"
     "                         once with --once; the file is replaced whole\n",
     CTL_STATS},
    {"info", cmd_info, CLI_XL, "info [--json]", "the host",
     "The host as xl info shows it: kernel, CPUs, memory, what KVM offers\n"
     "(the findings of vireo host-check), the VMs running, and the memory\n"
     "budget vireo create checks (MiB): the host's reservation, the running\n"
     "VMs' maxmem, their VMMs' measured memory, and what is left for new VMs.\n"
     "  --json  the same as one JSON object (README)\n",
     CTL_INFO},
    {"version", version, CLI_OTHER, "version", "print the version", "", 0},
    {"help", help, CLI_OTHER, "help [COMMAND]", "this list, or COMMAND --help", "", 0},
    {NULL, NULL, 0, NULL, NULL, NULL, 0},
};

const struct cli_cmd *cli_cmd_find(const char *name)
{
    for (const struct cli_cmd *c = cli_cmds; c->name; c++)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

void cli_usage(FILE *f, const struct cli_cmd *c)
{
    const char *s = c->synopsis;
    for (int first = 1; *s; first = 0) {
        size_t n = strcspn(s, "\n");
        fprintf(f, "%s vireo %.*s\n", first ? "usage:" : "      ", (int)n, s);
        s += n + (s[n] == '\n');
    }
    if (c->help)
        fputs(c->help, f);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "vireo: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vireo %s --help'.\n", cmd);
    return 2;
}

const char *cli_suggest_option(const char *arg, const char *const *opts)
{
    char word[72];
    size_t n = strcspn(arg, "=");
    if (n >= sizeof(word))
        return NULL;
    memcpy(word, arg, n);
    word[n] = '\0';
    size_t count = 0;
    while (opts[count])
        count++;
    return suggest_word(word, opts, count, NULL);
}

int cli_bad_option(const char *cmd, char *const argv[], const char *optstring, const struct option *longopts)
{
    /* getopt has moved past a long option (optopt 0 when unknown, its val
     * when its value is missing or unwanted); for a short one optopt says
     * which. */
    const char *arg = argv[optind - 1];
    if (!strncmp(arg, "--", 2) && arg[2]) {
        size_t n = strcspn(arg + 2, "=");
        for (const struct option *o = longopts; optopt && o && o->name; o++)
            if (o->val == optopt && strlen(o->name) >= n && !strncmp(arg + 2, o->name, n))
                return cli_usage_error(cmd, arg[2 + n] ? "option '--%s' takes no value" : "option '--%s' needs a value",
                                       o->name);
        if (!optopt) {
            const char *names[33];
            char buf[32][40];
            size_t k = 0;
            for (const struct option *o = longopts; o && o->name && k < 32; o++, k++) {
                snprintf(buf[k], sizeof(buf[k]), "--%s", o->name);
                names[k] = buf[k];
            }
            names[k] = NULL;
            const char *hint = cli_suggest_option(arg, names);
            if (hint)
                return cli_usage_error(cmd, "unknown option '%.*s'; did you mean '%s'?", (int)(n + 2), arg, hint);
            return cli_usage_error(cmd, "unknown option '%.*s'", (int)(n + 2), arg);
        }
    }
    /* "-all" for "--all": getopt read it as -a -l -l. */
    for (int k = optind - 1; optopt && k <= optind && argv[k]; k++) {
        const char *w = argv[k];
        if (w[0] != '-' || w[1] == '-' || strlen(w) < 3 || !strchr(w + 1, optopt))
            continue;
        for (const struct option *o = longopts; o && o->name; o++)
            if (!strcmp(o->name, w + 1))
                return cli_usage_error(cmd, "unknown option '-%c' in '%s'; did you mean '--%s'?", optopt, w, o->name);
    }
    if (optopt && optopt != ':' && optopt != '?' && strchr(optstring, optopt))
        return cli_usage_error(cmd, "option '-%c' needs a value", optopt);
    if (optopt > 32 && optopt < 127)
        return cli_usage_error(cmd, "unknown option '-%c'", optopt);
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

void cli_print_json(struct json_object *o)
{
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
}

unsigned cli_leading_flags(int *argc, char *const **argv, const char *const *flags)
{
    unsigned given = 0;
    for (bool more = true; more && *argc > 1;) {
        more = false;
        for (unsigned i = 0; flags[i]; i++) {
            if (!strcmp((*argv)[1], flags[i])) {
                given |= 1u << i;
                /* argv[0] becomes the flag: the operands stay at argv[1...]. */
                (*argc)--;
                (*argv)++;
                more = true;
                break;
            }
        }
    }
    return given;
}

void cli_help(FILE *f)
{
    static const char *const heading[] = {
        [CLI_VMM] = "VMs from the command line, disks, the host:",
        [CLI_XL] = "xl-style VM management:",
        [CLI_OTHER] = "",
    };
    fputs("usage: vireo COMMAND [ARGS]  (vireo COMMAND --help tells more)\n", f);
    for (int g = CLI_VMM; g <= CLI_OTHER; g++) {
        if (*heading[g])
            fprintf(f, "%s\n", heading[g]);
        for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
            if ((int)c->group != g)
                continue;
            int n = (int)strcspn(c->synopsis, "\n");
            if (n <= 36)
                fprintf(f, "  %-36.*s %s\n", n, c->synopsis, c->summary);
            else
                fprintf(f, "  %.*s\n  %-36s %s\n", n, c->synopsis, "", c->summary);
        }
    }
}

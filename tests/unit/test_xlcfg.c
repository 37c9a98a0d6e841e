/* The xl.cfg parser (src/toolstack): a corpus of real-looking config
 * files, each valid one with the exact configuration it must produce
 * (NAME.expect) and each invalid one with the exact message it must give
 * (bad-NAME.err); then the syntax layer's limits, command-line overrides
 * and a short mutation run.  Messages are compared whole: users read
 * them, and a wrong line or column is a bug. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "toolstack/vm_config.h"
#include "toolstack/vm_config_json.h"
#include "toolstack/xlcfg_lex.h"

#define ERRLEN 1024

/* ---- the corpus directory ---- */

static bool is_corpus(const char *dir)
{
    char p[2 * PATH_MAX + 32];
    struct stat st;
    snprintf(p, sizeof(p), "%s/minimal.cfg", dir);
    return stat(p, &st) == 0;
}

/* Set by meson (tests/unit/meson.build) to tests/unit/xlcfg. */
static const char *corpus_dir(void)
{
    const char *env = getenv("XLCFG_CORPUS");
    return env && is_corpus(env) ? env : NULL;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

/* ---- the canonical text of a config (the .expect files) ---- */

static void cpuset_text(const struct vm_cpuset *s, char *out, size_t n)
{
    size_t o = 0;
    unsigned count = 0;
    for (unsigned i = 0; i < VM_MAX_HOST_CPUS; i++)
        count += vm_cpuset_has(s, i);
    if (count == VM_MAX_HOST_CPUS) {
        snprintf(out, n, "all");
        return;
    }
    out[0] = 0;
    for (unsigned i = 0; i < VM_MAX_HOST_CPUS; i++) {
        if (!vm_cpuset_has(s, i))
            continue;
        unsigned j = i;
        while (j + 1 < VM_MAX_HOST_CPUS && vm_cpuset_has(s, j + 1))
            j++;
        if (j == i)
            o += (size_t)snprintf(out + o, n > o ? n - o : 0, "%s%u", o ? "," : "", i);
        else
            o += (size_t)snprintf(out + o, n > o ? n - o : 0, "%s%u-%u", o ? "," : "", i, j);
        i = j;
    }
}

static void dump(FILE *f, const struct vm_config *c)
{
    static const char *const serial[] = {"pty", "null", "file"};
    char set[4096];
    fprintf(f, "name = %s\nmemory = %llu\n", c->name, (unsigned long long)c->memory_mib);
    if (c->maxmem_mib)
        fprintf(f, "maxmem = %llu\n", (unsigned long long)c->maxmem_mib);
    fprintf(f, "vcpus = %u\n", c->vcpus);
    if (!c->pinned) {
        fprintf(f, "cpus = unpinned\n");
    } else {
        for (unsigned i = 0; i < c->vcpus; i++) {
            cpuset_text(&c->cpus[i], set, sizeof(set));
            fprintf(f, "cpus[%u] = %s\n", i, set);
        }
    }
    if (c->boot.pygrub)
        fprintf(f, "bootloader = pygrub entry=%s kernel=%s ramdisk=%s\n", c->boot.entry ? c->boot.entry : "(default)",
                c->boot.kernel ? c->boot.kernel : "(from its configuration)",
                c->boot.ramdisk ? c->boot.ramdisk : "(none)");
    else
        fprintf(f, "kernel = %s\nramdisk = %s\n", c->kernel, c->ramdisk ? c->ramdisk : "(none)");
    fprintf(f, "cmdline = %s\n", c->cmdline);
    for (unsigned i = 0; i < c->ndisks; i++) {
        const struct vm_disk *d = &c->disks[i];
        fprintf(f, "disk[%u] = %s index=%u target=%s %s %s%s%s\n", i, d->vdev, d->index, d->target,
                d->readonly ? "ro" : "rw", d->discard ? "discard" : "no-discard",
                d->format == BDEV_FORMAT_RAW ? "" : " qcow2", d->no_backing ? " backing=off" : "");
    }
    for (unsigned i = 0; c->iothreads_pinned && i < c->ndisks; i++) {
        cpuset_text(&c->iothread_cpus[i], set, sizeof(set));
        fprintf(f, "iothread_cpus[%u] = %s\n", i, set);
    }
    for (unsigned i = 0; i < c->nvifs; i++) {
        const struct vm_vif *v = &c->vifs[i];
        fprintf(f, "vif[%u] = bridge=%s", i, v->bridge);
        if (v->has_mac)
            fprintf(f, " mac=%02x:%02x:%02x:%02x:%02x:%02x", v->mac[0], v->mac[1], v->mac[2], v->mac[3],
                    v->mac[4], v->mac[5]);
        if (v->vifname[0])
            fprintf(f, " vifname=%s", v->vifname);
        if (v->mtu)
            fprintf(f, " mtu=%u", v->mtu);
        if (v->vhost != VM_VHOST_AUTO)
            fprintf(f, " vhost=%s", v->vhost == VM_VHOST_ON ? "on" : "off");
        fprintf(f, "\n");
    }
    fprintf(f, "on_poweroff = %s\non_reboot = %s\non_crash = %s\n", vm_action_name(c->on_poweroff),
            vm_action_name(c->on_reboot), vm_action_name(c->on_crash));
    fprintf(f, "serial = %s%s%s\n", serial[c->serial], c->serial_path ? ":" : "",
            c->serial_path ? c->serial_path : "");
    if (c->user)
        fprintf(f, "user = %s\n", c->user);
    if (c->seccomp_off)
        fprintf(f, "seccomp = off\n");
    if (c->hugepages)
        fprintf(f, "hugepages = on\n");
    for (unsigned i = 0; i < c->nwarnings; i++)
        fprintf(f, "warning: %s\n", c->warnings[i]);
}

static char *dump_string(const struct vm_config *c)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    assert_non_null(f);
    dump(f, c);
    fclose(f);
    return s;
}

/* ---- the corpus ---- */

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Runs every corpus .cfg file whose name does (bad) or does not start
 * with "bad-"; returns how many. */
static int run_corpus(bool bad)
{
    const char *dir = corpus_dir();
    if (!dir)
        fail_msg("xlcfg corpus not found: set XLCFG_CORPUS to tests/unit/xlcfg");
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("cannot open the xlcfg corpus %s", dir);
    struct dirent *e;
    int count = 0, failures = 0;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".cfg") || (strncmp(e->d_name, "bad-", 4) == 0) != bad)
            continue;
        char path[PATH_MAX], side[PATH_MAX];
        size_t len, slen;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(side, sizeof(side), "%s/%.*s.%s", dir, (int)(strlen(e->d_name) - 4), e->d_name,
                 bad ? "err" : "expect");
        char *buf = read_file(path, &len);
        char *want = read_file(side, &slen);
        assert_non_null(buf);
        if (!want) {
            print_error("%s: no %s\n", e->d_name, side);
            failures++;
            free(buf);
            continue;
        }
        struct vm_config c;
        char err[ERRLEN] = "";
        int rc = vm_config_parse(buf, len, e->d_name, &c, err, sizeof(err));
        if (bad) {
            while (slen && want[slen - 1] == '\n')
                want[--slen] = 0;
            if (rc != -1) {
                print_error("%s: accepted\n", e->d_name);
                failures++;
                vm_config_free(&c);
            } else if (strcmp(err, want)) {
                print_error("%s:\n  got  %s\n  want %s\n", e->d_name, err, want);
                failures++;
            } else if (c.src || c.kernel || c.cmdline || c.ndisks) {
                print_error("%s: failed but left something in the config\n", e->d_name);
                failures++;
            }
        } else if (rc != 0) {
            print_error("%s: rejected: %s\n", e->d_name, err);
            failures++;
        } else {
            char *got = dump_string(&c);
            if (strcmp(got, want)) {
                print_error("%s: got\n%s-- want\n%s", e->d_name, got, want);
                failures++;
            }
            free(got);
            vm_config_free(&c);
        }
        free(buf);
        free(want);
        count++;
    }
    closedir(d);
    if (failures)
        fail_msg("%d of %d corpus files failed", failures, count);
    return count;
}

static void corpus_valid(void **state)
{
    (void)state;
    assert_true(run_corpus(false) >= 15);
}

static void corpus_invalid(void **state)
{
    (void)state;
    assert_true(run_corpus(true) >= 30);
}

/* ---- semantics not visible in a dump ---- */

static void parse_ok(const char *text, struct vm_config *c)
{
    char err[ERRLEN] = "";
    if (vm_config_parse(text, strlen(text), "t.cfg", c, err, sizeof(err)) != 0)
        fail_msg("rejected: %s", err);
}

/* What `create -n` prints and `list -l` shows under "config". */
static void as_json(void **state)
{
    (void)state;
    struct vm_config c;
    parse_ok("name = 'j'\nkernel = '/k'\nvcpus = 2\ncpus = ['0-1,3', 'all,^0']\n"
             "disk = ['/a,raw,xvdb,r', 'vdev=xvda, no-discard, target=/b']\n"
             "on_crash = 'preserve'\nserial = 'file:/log'\nvif = ['mac=02:00:00:00:00:01', 'bridge=br1, vifname=web0']\n",
             &c);
    struct json_object *j = vm_config_json(&c);
    assert_string_equal(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                        "{\"name\":\"j\",\"memory\":256,\"vcpus\":2,\"cpus\":[\"0-1,3\",\"1-1023\"],"
                        "\"kernel\":\"/k\",\"ramdisk\":null,\"cmdline\":\"console=ttyS0\",\"disk\":["
                        "{\"vdev\":\"xvda\",\"target\":\"/b\",\"format\":\"raw\",\"access\":\"rw\",\"discard\":false},"
                        "{\"vdev\":\"xvdb\",\"target\":\"/a\",\"format\":\"raw\",\"access\":\"r\",\"discard\":true}],"
                        "\"vif\":[{\"bridge\":\"xenbr0\",\"mac\":\"02:00:00:00:00:01\"},"
                        "{\"bridge\":\"br1\",\"vifname\":\"web0\"}],"
                        "\"iothread_cpus\":\"all\",\"on_poweroff\":\"destroy\",\"on_reboot\":\"restart\","
                        "\"on_crash\":\"preserve\",\"serial\":\"file\",\"serial_path\":\"/log\",\"user\":null,"
                        "\"seccomp\":true,\"hugepages\":false}");
    json_object_put(j);
    vm_config_free(&c);
}

static void expect_error(const char *text, const char *want)
{
    struct vm_config c;
    char err[ERRLEN] = "";
    if (vm_config_parse(text, strlen(text), "t.cfg", &c, err, sizeof(err)) != -1) {
        vm_config_free(&c);
        fail_msg("accepted: %s", text);
    }
    assert_string_equal(err, want);
}

#define MIN "name = \"t\"\nkernel = \"/k\"\n"

static void defaults(void **state)
{
    (void)state;
    struct vm_config c;
    parse_ok(MIN, &c);
    assert_string_equal(c.name, "t");
    assert_int_equal(c.memory_mib, VM_DEFAULT_MEMORY_MIB);
    assert_int_equal(c.memory_mib, 256);
    assert_int_equal(c.vcpus, 1);
    assert_false(c.pinned);
    for (unsigned i = 0; i < VM_MAX_VCPUS; i++) {
        assert_true(vm_cpuset_has(&c.cpus[i], 0));
        assert_true(vm_cpuset_has(&c.cpus[i], VM_MAX_HOST_CPUS - 1));
    }
    assert_false(vm_cpuset_has(&c.cpus[0], VM_MAX_HOST_CPUS));
    assert_string_equal(c.kernel, "/k");
    assert_null(c.ramdisk);
    assert_string_equal(c.cmdline, "console=ttyS0");
    assert_int_equal(c.ndisks, 0);
    assert_int_equal(c.nvifs, 0);
    assert_int_equal(c.on_poweroff, VM_ACTION_DESTROY);
    assert_int_equal(c.on_reboot, VM_ACTION_RESTART);
    assert_int_equal(c.on_crash, VM_ACTION_DESTROY);
    assert_int_equal(c.serial, VM_SERIAL_PTY);
    assert_null(c.serial_path);
    assert_int_equal(c.nwarnings, 0);
    vm_config_free(&c);
    vm_config_free(&c);   /* freeing twice is harmless: free zeroes */
}

static void disk_fields(void **state)
{
    (void)state;
    struct vm_config c;
    parse_ok(MIN "disk = ['phy:/dev/vg/a,xvdb,r', 'vdev=xvda, no-discard, target=/srv/a,b']\n"
                 "vif = ['bridge=br0,mac=02:00:00:00:00:01,mtu=1500']\n", &c);
    assert_int_equal(c.ndisks, 2);
    /* sorted by vdev: xvda first although written second */
    assert_string_equal(c.disks[0].vdev, "xvda");
    assert_int_equal(c.disks[0].index, 0);
    assert_string_equal(c.disks[0].target, "/srv/a,b");
    assert_false(c.disks[0].readonly);
    assert_false(c.disks[0].discard);
    assert_int_equal(c.disks[0].loc.line, 3);
    assert_int_equal(c.disks[0].loc.col, 33);
    assert_string_equal(c.disks[0].loc.src, "t.cfg");
    assert_string_equal(c.disks[1].target, "/dev/vg/a");
    assert_true(c.disks[1].readonly);
    assert_true(c.disks[1].discard);
    assert_int_equal(c.nvifs, 1);
    assert_true(c.vifs[0].has_mac);
    const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
    assert_memory_equal(c.vifs[0].mac, mac, 6);
    assert_int_equal(c.vifs[0].mtu, 1500);
    vm_config_free(&c);
}

static void cmdline_forms(void **state)
{
    (void)state;
    static const struct {
        const char *keys, *cmdline;
        unsigned warnings;
    } cases[] = {
        {"", "console=ttyS0", 0},
        {"root = \"/dev/vda1\"\n", "root=/dev/vda1", 0},
        {"root = \"/dev/vda1 ro\"\nextra = \"quiet\"\n", "root=/dev/vda1 ro quiet", 0},
        {"extra = \"quiet\"\n", "quiet", 0},
        {"extra = \"quiet\"\ncmdline = \"x\"\n", "x", 1},
        {"cmdline = \"\"\n", "", 0},   /* an empty command line, as asked */
        {"root = \"/dev/xvda1\"\n", "root=/dev/xvda1", 1},
        /* root= naming one of the VM's disks the Xen way: as the guest sees it. */
        {"root = \"/dev/xvda1 ro\"\ndisk = ['/a,raw,xvda,w']\n", "root=/dev/vda1 ro", 0},
        {"extra = \"root=/dev/sdb3 quiet\"\ndisk = ['/a,raw,xvda,w', '/b,raw,xvdb,w']\n", "root=/dev/vdb3 quiet", 0},
        {"cmdline = \"ro root=/dev/hdc\"\ndisk = ['/a,raw,hdc,w']\n", "ro root=/dev/vda", 0},
        {"root = \"/dev/xvdc1\"\ndisk = ['/a,raw,xvda,w']\n", "root=/dev/xvdc1", 1},   /* no such disk */
        {"root = \"/dev/xvda1x\"\ndisk = ['/a,raw,xvda,w']\n", "root=/dev/xvda1x", 1},
        {"extra = \"noroot=/dev/xvda1\"\ndisk = ['/a,raw,xvda,w']\n", "noroot=/dev/xvda1", 1},
        {"extra = \"root=/dev/xvda1 root=/dev/xvda2\"\ndisk = ['/a,raw,xvda,w']\n", "root=/dev/vda1 root=/dev/vda2", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        struct vm_config c;
        snprintf(text, sizeof(text), MIN "%s", cases[i].keys);
        parse_ok(text, &c);
        assert_string_equal(c.cmdline, cases[i].cmdline);
        assert_int_equal(c.nwarnings, cases[i].warnings);
        vm_config_free(&c);
    }
    struct vm_config c;
    parse_ok(MIN "root = \"/dev/xvda1\"\n", &c);
    assert_string_equal(c.warnings[0], "t.cfg:3:1: the kernel command line names /dev/xvda1, but vireo's disks are "
                                       "virtio-blk: the guest calls them /dev/vda, /dev/vdb, ...");
    vm_config_free(&c);
}

/* Errors that need a file the corpus cannot hold well: long, binary, or
 * only about the message's exact shape. */
static void generated_errors(void **state)
{
    (void)state;
    char *big = malloc(XLCFG_MAX_INPUT + 2);
    memset(big, '#', XLCFG_MAX_INPUT + 1);
    struct vm_config c;
    char err[ERRLEN];
    assert_int_equal(vm_config_parse(big, XLCFG_MAX_INPUT + 1, "big.cfg", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "big.cfg: 1048577 bytes is too large for a config file; expected at most 1048576");
    /* Exactly the limit is fine (a file of comments, then no name). */
    assert_int_equal(vm_config_parse(big, XLCFG_MAX_INPUT, "big.cfg", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "big.cfg: no name; expected a line name = \"NAME\"");

    /* The longest string, and one byte more. */
    char *s = big;
    int n = sprintf(s, MIN "extra = \"");
    memset(s + n, 'a', XLCFG_MAX_STRING);
    strcpy(s + n + XLCFG_MAX_STRING, "\"\n");
    parse_ok(s, &c);
    assert_int_equal(strlen(c.cmdline), XLCFG_MAX_STRING);
    vm_config_free(&c);
    memset(s + n, 'a', XLCFG_MAX_STRING + 1);
    strcpy(s + n + XLCFG_MAX_STRING + 1, "\"\n");
    expect_error(s, "t.cfg:3:9: string longer than 4095 bytes; expected a shorter value");

    /* A list of 257 items. */
    n = sprintf(s, MIN "vnuma = [");
    for (int i = 0; i < 257; i++)
        n += sprintf(s + n, "%d,", i);
    strcpy(s + n, "]\n");
    expect_error(s, "t.cfg:3:924: list has more than 256 items; expected at most 256");

    /* 513 settings. */
    n = 0;
    for (int i = 0; i < 513; i++)
        n += sprintf(s + n, "k%d=1\n", i);
    expect_error(s, "t.cfg:513:1: more than 512 settings; expected at most 512");

    /* An over-long key, a NUL byte, an over-long number. */
    n = sprintf(s, "k");
    memset(s + n, 'e', 64);
    strcpy(s + n + 64, "y = 1\n");
    char want[256];
    snprintf(want, sizeof(want), "t.cfg:1:1: key 'k%.59s...' is too long; expected at most 64 characters", s + 1);
    expect_error(s, want);   /* shown: the first 60 characters */
    assert_int_equal(vm_config_parse("name = 1\0", 9, "t.cfg", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "t.cfg:1:9: NUL byte in the file; expected text");
    assert_int_equal(vm_config_parse("name = \"a\0\"", 11, "t.cfg", &c, err, sizeof(err)), -1);
    assert_string_equal(err, "t.cfg:1:10: NUL byte in the file; expected text");
    expect_error(MIN "memory = 123456789012345678901234567890123\n",
                 "t.cfg:3:10: number '123456789012345678901234567890123' is too long; expected at most 32 digits");
    expect_error(MIN "memory = 18446744073709551616\n",
                 "t.cfg:3:10: memory 18446744073709551616 is out of range; expected MiB from 4 to 1048576 (1 TiB)");
    /* Non-printable bytes are shown escaped, never raw. */
    expect_error(MIN "on_crash = \"\\x1b[2Jdestroy\"\n",
                 "t.cfg:3:12: on_crash '\\x1b[2Jdestroy' is not an action; expected destroy, restart or preserve");
    /* A byte-order mark past the start (files joined with cat) is named. */
    expect_error(MIN "\xef\xbb\xbfmemory = 5\n", "t.cfg:3:1: unexpected UTF-8 byte-order mark (one is allowed only "
                                                   "at the start of the file); expected a setting such as "
                                                   "name = \"vm1\"");
    expect_error(MIN "memory = \xef\xbb\n", "t.cfg:3:10: unexpected byte 0xef; expected a value: \"string\", "
                                           "number or [list]");
    /* Escapes make columns inside a string unknowable: point at the string. */
    expect_error(MIN "disk = ['\\x2fa,,xvdq1']\n",
                 "t.cfg:3:9: vdev 'xvdq1' is a partition; expected a whole disk such as xvdq");
    expect_error(MIN "disk = ['/a,,xvdq1']\n",
                 "t.cfg:3:14: vdev 'xvdq1' is a partition; expected a whole disk such as xvdq");
    /* target= takes the rest of the spec: written first, it swallows the vdev. */
    expect_error(MIN "disk = ['target=/a.raw,vdev=xvda']\n",
                 "t.cfg:3:10: target= takes the rest of the disk spec, commas included (here '/a.raw,vdev=xvda'), "
                 "so no vdev is left; target= must come last, as xl requires");
    expect_error(MIN "disk = ['format=raw, target=/a.raw, xvda']\n",
                 "t.cfg:3:22: target= takes the rest of the disk spec, commas included (here '/a.raw, xvda'), "
                 "so no vdev is left; target= must come last, as xl requires");
    /* Control characters cannot hide in paths through escapes. */
    expect_error(MIN "ramdisk = \"/boot/i\\nrd\"\n", "t.cfg:3:11: ramdisk has a control character (byte 0x0a); "
                                                      "expected a path");
    expect_error("name = \"t\"\nkernel = \"\"\n", "t.cfg:2:10: kernel is empty; expected a path");
    /* An error message longer than the buffer is cut, never overrun. */
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(vm_config_parse("foo = 1", 7, "t.cfg", &c, small, 12), -1);
    assert_string_equal(small, "t.cfg:1:1: ");
    assert_int_equal(small[12], 'x');
    free(big);
}

/* ---- the syntax layer on its own ---- */

static void lexer_values(void **state)
{
    (void)state;
    const char *text = "a = \"x\\ty\" ; b+= 0x1F # c\n"
                       "list = [ 'p',\n"
                       "   # comment\n"
                       "   [\"q\", 7], ]\n"
                       "e=[]";
    struct xlcfg c;
    char err[ERRLEN] = "";
    assert_int_equal(xlcfg_parse(&c, text, strlen(text), "x", 0, err, sizeof(err)), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.v[0].key, "a");
    assert_int_equal(c.v[0].op, XLCFG_SET);
    assert_int_equal(c.v[0].value.type, XLCFG_STRING);
    assert_string_equal(c.v[0].value.str, "x\ty");
    assert_int_equal(c.v[0].value.len, 3);
    assert_false(c.v[0].value.exact);
    assert_int_equal(c.v[0].value.loc.col, 5);
    assert_string_equal(c.v[1].key, "b");
    assert_int_equal(c.v[1].op, XLCFG_APPEND);
    assert_int_equal(c.v[1].value.type, XLCFG_NUMBER);
    assert_string_equal(c.v[1].value.str, "0x1F");
    assert_int_equal(c.v[1].loc.line, 1);
    assert_int_equal(c.v[1].loc.col, 14);
    const struct xlcfg_value *l = &c.v[2].value;
    assert_int_equal(l->type, XLCFG_LIST);
    assert_int_equal(l->nitems, 2);
    assert_string_equal(l->items[0].str, "p");
    assert_true(l->items[0].exact);
    assert_int_equal(l->items[1].type, XLCFG_LIST);
    assert_int_equal(l->items[1].loc.line, 4);
    assert_int_equal(l->items[1].loc.col, 4);
    assert_string_equal(l->items[1].items[1].str, "7");
    assert_int_equal(c.v[3].value.type, XLCFG_LIST);
    assert_int_equal(c.v[3].value.nitems, 0);
    struct xlcfg_loc at = xlcfg_loc_at(&l->items[0], 0);
    assert_int_equal(at.line, 2);
    assert_int_equal(at.col, 11);
    at = xlcfg_loc_at(&l->items[0], XLCFG_WHOLE);
    assert_int_equal(at.col, 10);
    xlcfg_free(&c);

    /* The C escapes, done as C does them (xl's \x and octal are broken). */
    text = "s = '\\\"\\'\\\\\\a\\b\\f\\n\\r\\t\\v\\x41\\101\\7\\377'";
    assert_int_equal(xlcfg_parse(&c, text, strlen(text), "x", 0, err, sizeof(err)), 0);
    assert_memory_equal(c.v[0].value.str, "\"'\\\a\b\f\n\r\t\vAA\a\377", 14);
    assert_int_equal(c.v[0].value.len, 14);
    xlcfg_free(&c);

    /* Eight levels of nesting are fine; a ninth is refused. */
    text = "v = [[[[[[[[1]]]]]]]]";
    assert_int_equal(xlcfg_parse(&c, text, strlen(text), "x", 0, err, sizeof(err)), 0);
    xlcfg_free(&c);
    /* Deep nesting costs no stack: a megabyte of '[' is just refused. */
    char *deep = malloc(XLCFG_MAX_INPUT);
    memcpy(deep, "v=", 2);
    memset(deep + 2, '[', XLCFG_MAX_INPUT - 2);
    assert_int_equal(xlcfg_parse(&c, deep, XLCFG_MAX_INPUT, "x", 0, err, sizeof(err)), -1);
    assert_string_equal(err, "x:1:11: lists nested more than 8 deep; expected at most 8");
    free(deep);
}

static void lexer_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *err;
    } cases[] = {
        {"a = 'x", "x:1:5: unterminated string; expected a closing ' on the same line"},
        {"a = \"x\\\ny\"", "x:1:5: unterminated string; expected a closing \" on the same line"},
        {"a = \"\\x4g\"", "x:1:6: invalid escape '\\x' in string; expected two hex digits after \\x"},
        {"a = \"\\400\"", "x:1:6: octal escape out of range in string; expected \\0 to \\377"},
        {"a = \"\\0\"", "x:1:6: escape for a NUL character in string; expected text without NUL"},
        {"a = \"\\\x80\"", "x:1:6: invalid escape (backslash before byte 0x80) in string; expected one of \\\" \\' "
                           "\\\\ \\a \\b \\f \\n \\r \\t \\v \\xHH \\NNN"},
        {"a =", "x:1:4: unexpected end of file; expected a value: \"string\", number or [list]"},
        {"a =\nb = 1", "x:1:4: unexpected end of line; expected a value: \"string\", number or [list]"},
        {"a = # c", "x:1:5: unexpected comment; expected a value: \"string\", number or [list]"},
        {"a == 1", "x:1:4: unexpected '='; expected a value: \"string\", number or [list]"},
        {"a + = 1", "x:1:3: unexpected '+' after 'a'; expected '=' or '+='"},
        {"a = (1, 2)", "x:1:5: unexpected '('; expected a value: \"string\", number or [list]"},
        {"a = None", "x:1:5: 'None' is Python, not xl.cfg; expected a value: \"string\", number or [list]"},
        {"a = 'x' 'y'", "x:1:9: unexpected string after the value; expected ';', a newline or a # comment"},
        {"a = [1,,2]", "x:1:8: unexpected ','; expected a value: \"string\", number or [list]"},
        {"a = [,]", "x:1:6: unexpected ','; expected a value: \"string\", number or [list]"},
        {"a = ]", "x:1:5: unexpected ']'; expected a value: \"string\", number or [list]"},
        {"a = [1]]", "x:1:8: unexpected ']' after the value; expected ';', a newline or a # comment"},
        {"a = [1;2]", "x:1:7: unexpected ';' in the list; expected ',' or ']'"},
        {"a = 1.5", "x:1:5: bad number '1.5'; expected a decimal or 0x hexadecimal integer"},
        {"a = 0x", "x:1:5: bad number '0x'; expected a decimal or 0x hexadecimal integer"},
        {"1 = 2", "x:1:1: unexpected '1'; expected a setting such as name = \"vm1\""},
        {"= 2", "x:1:1: unexpected '='; expected a setting such as name = \"vm1\""},
        {"a = 1\n  \tb", "x:2:5: unexpected end of file after 'b'; expected '=' or '+='"},
        {"a = \"\x7f\"", "x:1:6: control character 0x7f in string; expected printable text or an escape such as \\t"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct xlcfg c;
        char err[ERRLEN] = "";
        if (xlcfg_parse(&c, cases[i].text, strlen(cases[i].text), "x", 0, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", cases[i].text);
        if (strcmp(err, cases[i].err))
            fail_msg("%s:\n  got  %s\n  want %s", cases[i].text, err, cases[i].err);
        assert_null(c.v);
        assert_null(c.src);
    }
}

static void numbers(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        enum xlcfg_num r;
        uint64_t v;
    } cases[] = {
        {"0", XLCFG_NUM_OK, 0},
        {"512", XLCFG_NUM_OK, 512},
        {"18446744073709551615", XLCFG_NUM_OK, UINT64_MAX},
        {"18446744073709551616", XLCFG_NUM_TOO_BIG, 0},
        {"99999999999999999999999", XLCFG_NUM_TOO_BIG, 0},
        {"0x0", XLCFG_NUM_OK, 0},
        {"0XfF", XLCFG_NUM_OK, 255},
        {"0xffffffffffffffff", XLCFG_NUM_OK, UINT64_MAX},
        {"0x10000000000000000", XLCFG_NUM_TOO_BIG, 0},
        {"0x", XLCFG_NUM_BAD, 0},
        {"0xg", XLCFG_NUM_BAD, 0},
        {"010", XLCFG_NUM_LEADING_ZERO, 0},
        {"00", XLCFG_NUM_LEADING_ZERO, 0},
        {"-1", XLCFG_NUM_NEGATIVE, 0},
        {"-", XLCFG_NUM_BAD, 0},
        {"", XLCFG_NUM_BAD, 0},
        {" 1", XLCFG_NUM_BAD, 0},
        {"1 ", XLCFG_NUM_BAD, 0},
        {"+1", XLCFG_NUM_BAD, 0},
        {"1e3", XLCFG_NUM_BAD, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        enum xlcfg_num r = xlcfg_parse_u64(cases[i].s, strlen(cases[i].s), &v);
        if (r != cases[i].r)
            fail_msg("'%s': got %d, want %d", cases[i].s, r, cases[i].r);
        if (r == XLCFG_NUM_OK)
            assert_int_equal(v, cases[i].v);
        else
            assert_int_equal(v, 12345);
    }
}

static void show(void **state)
{
    (void)state;
    char out[200];
    xlcfg_show(out, sizeof(out), "a\x1b\n\xff", 4);
    assert_string_equal(out, "a\\x1b\\x0a\\xff");
    char longer[100];
    memset(longer, 'z', sizeof(longer));
    xlcfg_show(out, sizeof(out), longer, sizeof(longer));
    assert_int_equal(strlen(out), 63);
    assert_string_equal(out + 60, "...");
    xlcfg_show(out, 8, longer, sizeof(longer));
    assert_string_equal(out, "zzzz...");
    xlcfg_show(out, 1, longer, sizeof(longer));
    assert_string_equal(out, "");
}

/* ---- overrides: `vireo create FILE KEY=VALUE...` ---- */

static void overrides(void **state)
{
    (void)state;
    struct vm_config c;
    char err[ERRLEN] = "";
    parse_ok(MIN "memory = 512\nvcpus = 2\ncpus = [\"0\", \"1\"]\nextra = \"quiet\"\n"
                 "disk = ['/a,,xvda']\n", &c);
    assert_int_equal(vm_config_override(&c, "memory=2048", err, sizeof(err)), 0);
    assert_int_equal(c.memory_mib, 2048);
    assert_int_equal(vm_config_override(&c, "disk += ['/b,,xvdb']; extra += ' debug'", err, sizeof(err)), 0);
    assert_int_equal(c.ndisks, 2);
    assert_string_equal(c.disks[1].target, "/b");
    assert_null(c.disks[1].loc.line ? "a line" : NULL);   /* from the command line: no line */
    assert_int_equal(c.disks[1].loc.col, 10);
    assert_string_equal(c.disks[1].loc.src, "command-line setting 'disk += ['/b,,xvdb']; extra += ' debug''");
    assert_string_equal(c.cmdline, "quiet debug");
    assert_int_equal(vm_config_override(&c, "name = \"t2\"", err, sizeof(err)), 0);
    assert_string_equal(c.name, "t2");
    /* Fewer vCPUs than cpus entries: xl ignores the rest; so do we, aloud. */
    assert_int_equal(vm_config_override(&c, "vcpus=1", err, sizeof(err)), 0);
    assert_int_equal(c.nwarnings, 1);
    assert_string_equal(c.warnings[0], "t.cfg:5:1: cpus has 2 entries but vcpus is 1; the extra entries are "
                                       "ignored (as xl does)");

    /* A failed override changes nothing. */
    static const struct {
        const char *setting, *err;
    } bad[] = {
        {"memory=abc", "command-line setting 'memory=abc', column 8: unquoted word 'abc'; memory takes a number"},
        {"memory=\"abc\"", "command-line setting 'memory=\"abc\"', column 8: memory 'abc' is not a number; expected MiB from 4 to 1048576 (1 TiB)"},
        {"memroy=1024", "command-line setting 'memroy=1024', column 1: unknown key 'memroy'; did you mean 'memory'?"},
        {"memory=1024\nvcpus=2", "command-line setting 'memory=1024\\x0avcpus=2', column 12: a newline in a command-line setting; expected one KEY=VALUE "
                                 "(use ';' to separate several)"},
        {"memory=1024;memory=2048", "command-line setting 'memory=1024;memory=2048', column 13: 'memory' is already set at column 1; expected each key once "
                                    "(use += to add to it)"},
        {"disk+=['/c,,xvda']", "command-line setting 'disk+=['/c,,xvda']', column 13: vdev 'xvda' is already used by disk 1 ('xvda'); expected a "
                               "different vdev"},
        {"memory+=1", "command-line setting 'memory+=1', column 1: '+=' cannot add to a number; expected memory = MiB"},
        {"maxmem=1024", "command-line setting 'maxmem=1024', column 1: maxmem = 1024 is less than memory = 2048; expected at least memory (the guest starts with memory and may be given up to maxmem)"},
        {"kernel", "command-line setting 'kernel', column 7: unexpected end of the setting after 'kernel'; expected '=' or '+='"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = 0;
        if (vm_config_override(&c, bad[i].setting, err, sizeof(err)) != -1)
            fail_msg("accepted: %s", bad[i].setting);
        if (strcmp(err, bad[i].err))
            fail_msg("%s:\n  got  %s\n  want %s", bad[i].setting, err, bad[i].err);
        assert_int_equal(c.memory_mib, 2048);
        assert_int_equal(c.ndisks, 2);
        assert_string_equal(c.name, "t2");
    }
    /* Empty settings do nothing, as an empty line would. */
    assert_int_equal(vm_config_override(&c, "", err, sizeof(err)), 0);
    assert_int_equal(vm_config_override(&c, " ; # nothing", err, sizeof(err)), 0);
    assert_int_equal(c.memory_mib, 2048);
    vm_config_free(&c);

    struct vm_config none = {0};
    assert_int_equal(vm_config_override(&none, "memory=1", err, sizeof(err)), -1);
    assert_string_equal(err, "command line: no configuration to override");
}

static void load_with_overrides(void **state)
{
    (void)state;
    /* The command line may supply what the file lacks, as with xl. */
    const char *file = "kernel = \"/k\"\nmemory = 512\n";
    const char *const ov[] = {"name=\"from-cli\"", "memory=1024"};
    struct vm_config c;
    char err[ERRLEN] = "";
    assert_int_equal(vm_config_load(file, strlen(file), "t.cfg", ov, 2, &c, err, sizeof(err)), 0);
    assert_string_equal(c.name, "from-cli");
    assert_int_equal(c.memory_mib, 1024);
    vm_config_free(&c);
    assert_int_equal(vm_config_load(file, strlen(file), "t.cfg", ov, 0, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "t.cfg: no name; expected a line name = \"NAME\"");
    const char *const bad[] = {"name=\"x\"", "vcpus=0"};
    assert_int_equal(vm_config_load(file, strlen(file), "t.cfg", bad, 2, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "command-line setting 'vcpus=0', column 7: vcpus 0 is out of range; expected 1 to 64");
    assert_null(c.src);
    /* The VM holds VM_MAX_NETS interfaces: one more through += is refused
     * here, not copied past the VM's array when it starts. */
    const char *four = "name = \"n\"\nkernel = \"/k\"\nvif = ['', '', '', '']\n";
    const char *const more[] = {"vif += ['bridge=b4']"};
    assert_int_equal(vm_config_load(four, strlen(four), "t.cfg", more, 0, &c, err, sizeof(err)), 0);
    assert_int_equal(c.nvifs, VM_MAX_NETS);
    vm_config_free(&c);
    assert_int_equal(vm_config_load(four, strlen(four), "t.cfg", more, 1, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "command-line setting 'vif += ['bridge=b4']', column 9: more than 4 vifs; expected at most 4");
}

/* ---- a short mutation run over the corpus (the real fuzzing is
 * tests/fuzz/fuzz_xlcfg.c): under ASan this catches the obvious. ---- */

static void mutations(void **state)
{
    (void)state;
    const char *dir = corpus_dir();
    assert_non_null(dir);
    static const char *const files[] = {"pv-legacy-disks.cfg", "keyvalue-disks.cfg", "syntax.cfg", "vif.cfg",
                                        "cpus-per-vcpu.cfg"};
    static const char pieces[] = "[]'\",=+;#\n\\x0:^-~ \t\xff";
    uint32_t seed = 12345;
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        char path[PATH_MAX];
        size_t len;
        snprintf(path, sizeof(path), "%s/%s", dir, files[f]);
        char *orig = read_file(path, &len);
        assert_non_null(orig);
        char *buf = malloc(len + 1);
        for (int round = 0; round < 2000; round++) {
            memcpy(buf, orig, len);
            size_t n = len;
            for (int k = 0; k < 1 + round % 4; k++) {
                seed = seed * 1103515245 + 12345;
                size_t at = (seed >> 8) % n;
                seed = seed * 1103515245 + 12345;
                if (seed & 0x10000)
                    buf[at] = pieces[(seed >> 17) % (sizeof(pieces) - 1)];
                else if (n > 1)
                    n = at + 1;   /* truncate */
            }
            struct vm_config c;
            char err[ERRLEN] = "";
            if (vm_config_parse(buf, n, "m.cfg", &c, err, sizeof(err)) == 0) {
                assert_true(c.vcpus >= 1 && c.vcpus <= VM_MAX_VCPUS);
                vm_config_free(&c);
            } else {
                assert_memory_equal(err, "m.cfg:", 6);
            }
        }
        free(buf);
        free(orig);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(as_json),
        cmocka_unit_test(corpus_valid),
        cmocka_unit_test(corpus_invalid),
        cmocka_unit_test(defaults),
        cmocka_unit_test(disk_fields),
        cmocka_unit_test(cmdline_forms),
        cmocka_unit_test(generated_errors),
        cmocka_unit_test(lexer_values),
        cmocka_unit_test(lexer_errors),
        cmocka_unit_test(numbers),
        cmocka_unit_test(show),
        cmocka_unit_test(overrides),
        cmocka_unit_test(load_with_overrides),
        cmocka_unit_test(mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

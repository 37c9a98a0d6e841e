/* `vireo run` argument parsing: defaults, both option spellings, and a
 * precise message for each kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cli/run_args.h"
#include "util/size.h"

#define ARGV(...) ((char *const[]){"run", __VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *const[]){"run", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) run_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err), sizeof(err))

static void defaults(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--kernel", "k"), 0);
    assert_string_equal(a.kernel, "k");
    assert_null(a.initrd);
    assert_string_equal(a.cmdline, RUN_DEFAULT_CMDLINE);
    assert_int_equal(a.memory, 256ULL << 20);
    assert_int_equal(a.vcpus, 1);
    assert_false(a.setup_only);
    assert_false(a.balloon);   /* off unless asked for */
    assert_int_equal(a.boot_protocol, VM_BOOT_AUTO);
}

static void all_options(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--kernel=k", "--initrd", "i", "--cmdline", "console=ttyS0 quiet",
                           "--memory=2G", "--vcpus", "4", "--setup-only", "--balloon"), 0);
    assert_string_equal(a.kernel, "k");
    assert_string_equal(a.initrd, "i");
    assert_string_equal(a.cmdline, "console=ttyS0 quiet");
    assert_int_equal(a.memory, 2ULL << 30);
    assert_int_equal(a.vcpus, 4);
    assert_true(a.setup_only);
    assert_true(a.balloon);
}

static void expect_usage_error(int rc, const char *err, const char *needle)
{
    assert_int_equal(rc, -1);
    if (!strstr(err, needle))
        fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void errors(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    expect_usage_error(PARSE(&a, err, "--initrd", "i"), err, "--kernel (or --boot disk) is required");
    expect_usage_error(PARSE(&a, err, "--kernel"), err, "--kernel needs a value");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--bogus"), err, "unknown option '--bogus'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--vcpus", "0"), err, "--vcpus '0'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--vcpus", "65"), err, "from 1 to 64");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--vcpus", "2x"), err, "--vcpus '2x'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--vcpus", "-1"), err, "--vcpus '-1'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "lots"), err, "--memory 'lots'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "1M"), err, "between 4M and 1T");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "2T"), err, "between 4M and 1T");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "4098K"), err, "multiple of 4K");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "99999999999999999999G"), err, "--memory");
    expect_usage_error(PARSE(&a, err, "--kernel", ""), err, "empty path");
}

/* --boot disk[=N]: the kernel, initrd and command line come from the disk. */
static void boot_protocol(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--boot-protocol", "pvh"), 0);
    assert_int_equal(a.boot_protocol, VM_BOOT_PVH);
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--boot-protocol=linux"), 0);
    assert_int_equal(a.boot_protocol, VM_BOOT_LINUX);
    assert_int_equal(PARSE(&a, err, "--boot-protocol", "auto", "--kernel", "k"), 0);
    assert_int_equal(a.boot_protocol, VM_BOOT_AUTO);
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--boot-protocol", "xen"), err,
                       "--boot-protocol 'xen': expected auto, pvh or linux");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--boot-protocol"), err, "--boot-protocol needs a value");
    expect_usage_error(PARSE(&a, err, "--boot", "disk", "--disk", "a", "--boot-protocol", "pvh"), err,
                       "--boot-protocol applies to --kernel");
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--memory", "1G,hugepages=on"), 0);
    assert_true(a.hugepages);
    assert_int_equal(a.memory, 1ULL << 30);
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--memory", "1G,hugepages=off"), 0);
    assert_false(a.hugepages);
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "5M,hugepages=on"), err,
                       "with hugepages=on, must be a multiple of 2M");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", "1G,huge=1"), err,
                       "unknown option 'huge=1'; expected hugepages=on or hugepages=off");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--memory", ",hugepages=on"), err, "expected a size");
    /* --boot still means --boot, not a prefix of --boot-protocol. */
    assert_int_equal(PARSE(&a, err, "--boot", "disk", "--disk", "a", "--boot-protocol", "auto"), 0);
    assert_true(a.boot_disk);
}

static void boot_disk(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--boot", "disk", "--disk", "a.img"), 0);
    assert_true(a.boot_disk);
    assert_int_equal(a.boot_disk_index, 0);
    assert_null(a.kernel);
    assert_null(a.cmdline);   /* the entry's own, nothing added */
    assert_int_equal(PARSE(&a, err, "--disk", "a.img", "--disk=b.img", "--boot=disk=1", "--cmdline", "root=/dev/vdb1"), 0);
    assert_int_equal(a.boot_disk_index, 1);
    assert_string_equal(a.cmdline, "root=/dev/vdb1");
    expect_usage_error(PARSE(&a, err, "--boot", "disk"), err, "--boot disk=0: there are only 0 --disk options");
    expect_usage_error(PARSE(&a, err, "--boot", "disk=1", "--disk", "a"), err,
                       "--boot disk=1: there is only 1 --disk option (counted from 0)");
    expect_usage_error(PARSE(&a, err, "--boot", "disk=9", "--disk", "a"), err,
                       "--boot 'disk=9': expected disk or disk=N (N from 0 to 7");
    expect_usage_error(PARSE(&a, err, "--boot", "cdrom", "--disk", "a"), err, "--boot 'cdrom'");
    expect_usage_error(PARSE(&a, err, "--boot", "disk=", "--disk", "a"), err, "--boot 'disk='");
    expect_usage_error(PARSE(&a, err, "--boot", "disk", "--disk", "a", "--kernel", "k"), err,
                       "--boot disk reads the kernel and initrd from the disk; expected no --kernel");
    expect_usage_error(PARSE(&a, err, "--boot", "disk", "--disk", "a", "--initrd", "i"), err, "expected no --initrd");
}

static void help(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--help"), 0);
    assert_true(a.help);
}

static void sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_true(parse_size("256", &v));
    assert_int_equal(v, 256ULL << 20);
    assert_true(parse_size("512K", &v));
    assert_int_equal(v, 512ULL << 10);
    assert_true(parse_size("1GiB", &v));
    assert_int_equal(v, 1ULL << 30);
    assert_true(parse_size("3g", &v));
    assert_int_equal(v, 3ULL << 30);
    assert_true(parse_size("4096B", &v));
    assert_int_equal(v, 4096);
    assert_false(parse_size("", &v));
    assert_false(parse_size("M", &v));
    assert_false(parse_size("1MM", &v));
    assert_false(parse_size("1Q", &v));
    assert_false(parse_size("-1M", &v));
    assert_false(parse_size("17179869184T", &v)); /* 2^34 TiB overflows */
}

static void nets(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0", "--net=tap=tap7,mac=02:AB:cd:00:00:01,"
                           "queues=4,iothread=0,vhost=off", "--net", "bridge=lan,ifname=web0,iothread=2,vhost=on"), 0);
    assert_int_equal(a.nnets, 3);
    assert_string_equal(a.nets[0].bridge, "br0");
    assert_string_equal(a.nets[0].tap, "");
    assert_false(a.nets[0].has_mac);
    assert_int_equal(a.nets[0].queues, 1);
    assert_int_equal(a.nets[0].iothreads, 1);
    assert_int_equal(a.nets[0].vhost, VM_VHOST_AUTO);   /* on where /dev/vhost-net is usable */
    assert_string_equal(a.nets[1].tap, "tap7");
    assert_true(a.nets[1].has_mac);
    assert_memory_equal(a.nets[1].mac, ((uint8_t[]){2, 0xab, 0xcd, 0, 0, 1}), 6);
    assert_int_equal(a.nets[1].queues, 4);
    assert_int_equal(a.nets[1].iothreads, 0);
    assert_string_equal(a.nets[2].ifname, "web0");
    assert_int_equal(a.nets[2].iothreads, 2);
    assert_int_equal(a.nets[1].vhost, VM_VHOST_OFF);
    assert_int_equal(a.nets[2].vhost, VM_VHOST_ON);
}

static void net_errors(void **state)
{
    (void)state;
    struct run_args a;
    char err[256];
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "mac=02:00:00:00:00:01"), err,
                       "expected exactly one of bridge=BR or tap=NAME");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=a,tap=b"), err,
                       "expected exactly one of bridge=BR or tap=NAME");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,mac=01:00:5e:00:00:01"), err,
                       "multicast");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,mac=02:00:00:00:00"), err,
                       "expected six hex octets");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,queues=17"), err,
                       "queues=17: expected 1 to 16 queue pairs");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=a-very-long-bridge-name"), err,
                       "expected an interface name of 1 to 15 characters");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "tap=t0,ifname=x"), err,
                       "with tap=NAME the TAP exists already");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,model=e1000"), err,
                       "unknown option 'model'");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge"), err, "is not KEY=VALUE");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,vhost=yes"), err,
                       "vhost=yes: expected on (the kernel's vhost-net) or off (frames through the VMM)");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=br0,vhost="), err, "vhost=: expected on");
    expect_usage_error(PARSE(&a, err, "--kernel", "k", "--net", "bridge=a", "--net", "bridge=a", "--net", "bridge=a",
                             "--net", "bridge=a", "--net", "bridge=a"), err, "at most 4 interfaces");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(boot_protocol),
        cmocka_unit_test(all_options),
        cmocka_unit_test(errors),
        cmocka_unit_test(boot_disk),
        cmocka_unit_test(help),
        cmocka_unit_test(sizes),
        cmocka_unit_test(nets),
        cmocka_unit_test(net_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* `--disk PATH[,OPTION...]`: the defaults a bare path gets, every option,
 * the ",," escape, and the exact wording of each usage error (users read
 * these, and scripts may match them). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cli/cmd_disk.h"
#include "cli/disk_args.h"
#include "cli/run_args.h"

#define ARGV(...) ((char *const[]){"run", __VA_ARGS__})
#define ARGC(...) ((int)(sizeof((char *const[]){"run", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) run_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err), sizeof(err))

#define OPTIONS "format=raw|qcow2, backing=on|off, ro, cache=none|writeback, iothread=N, queues=N, " \
                "aio=io_uring|threads, poll-us=N, serial=ID"

/* Big enough that no message below is truncated: a cut-off message would
 * still "contain" a prefix and hide a wrong tail. */
#define ERRLEN 1024

static void expect_disk_error(const char *spec, const char *want)
{
    struct disk_arg d;
    char err[ERRLEN] = "";
    if (disk_arg_parse(spec, &d, err, sizeof(err)) != -1)
        fail_msg("'%s' was accepted", spec);
    assert_string_equal(err, want);
}

static void defaults(void **state)
{
    (void)state;
    struct disk_arg d;
    char err[ERRLEN];
    assert_int_equal(disk_arg_parse("disk.img", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "disk.img");
    assert_ptr_equal(d.o.path, d.path);
    assert_false(d.o.ro);
    assert_int_equal(d.o.cache, BLK_CACHE_WRITEBACK);
    assert_int_equal(d.o.iothreads, DISK_DEFAULT_IOTHREADS);
    assert_int_equal(d.o.iothreads, 1);
    assert_int_equal(d.o.poll_us, disk_default_poll_us());
    assert_int_equal(d.o.aio, AIO_AUTO);
    assert_int_equal(d.o.queues, 0);   /* filled in by run_args_parse from --vcpus */
    assert_string_equal(d.o.serial, "");
    /* Raw unless the configuration says otherwise; backing files allowed. */
    assert_int_equal(d.o.format, BDEV_FORMAT_RAW);
    assert_false(d.o.no_backing);
}

static void each_option(void **state)
{
    (void)state;
    struct disk_arg d;
    char err[ERRLEN];

    assert_int_equal(disk_arg_parse("/dev/vdb,ro", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "/dev/vdb");
    assert_true(d.o.ro);

    assert_int_equal(disk_arg_parse("a.qcow2,format=qcow2", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.format, BDEV_FORMAT_QCOW2);
    assert_int_equal(disk_arg_parse("a,format=raw", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.format, BDEV_FORMAT_RAW);
    assert_int_equal(disk_arg_parse("a,format=qcow2,backing=off", &d, err, sizeof(err)), 0);
    assert_true(d.o.no_backing);
    assert_int_equal(disk_arg_parse("a,format=qcow2,backing=on", &d, err, sizeof(err)), 0);
    assert_false(d.o.no_backing);

    assert_int_equal(disk_arg_parse("a,cache=none", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.cache, BLK_CACHE_NONE);
    assert_int_equal(disk_arg_parse("a,cache=writeback", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.cache, BLK_CACHE_WRITEBACK);

    /* Both ends of each range are accepted. */
    assert_int_equal(disk_arg_parse("a,iothread=0", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.iothreads, 0);
    assert_int_equal(disk_arg_parse("a,iothread=16", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.iothreads, 16);
    assert_int_equal(disk_arg_parse("a,queues=1", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.queues, 1);
    assert_int_equal(disk_arg_parse("a,queues=16", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.queues, 16);

    assert_int_equal(disk_arg_parse("a,aio=io_uring", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.aio, AIO_IO_URING);
    assert_int_equal(disk_arg_parse("a,aio=threads", &d, err, sizeof(err)), 0);
    assert_int_equal(d.o.aio, AIO_THREADS);

    assert_int_equal(disk_arg_parse("a,serial=12345678901234567890", &d, err, sizeof(err)), 0);
    assert_string_equal(d.o.serial, "12345678901234567890");
    assert_int_equal(disk_arg_parse("a,serial=", &d, err, sizeof(err)), 0);
    assert_string_equal(d.o.serial, "");

    /* All at once, in any order, and a trailing comma is harmless. */
    assert_int_equal(disk_arg_parse("img,serial=S1,aio=threads,queues=4,iothread=2,cache=none,ro,", &d, err,
                                    sizeof(err)), 0);
    assert_string_equal(d.path, "img");
    assert_true(d.o.ro);
    assert_int_equal(d.o.cache, BLK_CACHE_NONE);
    assert_int_equal(d.o.iothreads, 2);
    assert_int_equal(d.o.queues, 4);
    assert_int_equal(d.o.aio, AIO_THREADS);
    assert_string_equal(d.o.serial, "S1");

    /* A reused struct starts from the defaults again. */
    assert_int_equal(disk_arg_parse("b", &d, err, sizeof(err)), 0);
    assert_false(d.o.ro);
    assert_int_equal(d.o.cache, BLK_CACHE_WRITEBACK);
    assert_int_equal(d.o.iothreads, 1);
    assert_int_equal(d.o.queues, 0);
    assert_int_equal(d.o.aio, AIO_AUTO);
    assert_string_equal(d.o.serial, "");
}

static void comma_escape(void **state)
{
    (void)state;
    struct disk_arg d;
    char err[ERRLEN];
    assert_int_equal(disk_arg_parse("my,,disk.img,ro", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "my,disk.img");
    assert_true(d.o.ro);
    assert_int_equal(disk_arg_parse(",,lead,,,,twice,,", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, ",lead,,twice,");
    assert_false(d.o.ro);
    /* An escaped comma right before a separator. */
    assert_int_equal(disk_arg_parse("a,,,ro", &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "a,");
    assert_true(d.o.ro);
    /* Escapes apply to option values too, and do not split them. */
    assert_int_equal(disk_arg_parse("a,serial=x,,y", &d, err, sizeof(err)), 0);
    assert_string_equal(d.o.serial, "x,y");
}

static void errors(void **state)
{
    (void)state;
    expect_disk_error("a.img,bogus", "--disk 'a.img,bogus': unknown option 'bogus' (expected " OPTIONS ")");
    expect_disk_error("a.img,foo=bar",
                      "--disk 'a.img,foo=bar': unknown option 'foo=bar' (expected " OPTIONS ")");
    /* Known names used with the wrong shape are unknown options too. */
    expect_disk_error("a.img,ro=1", "--disk 'a.img,ro=1': unknown option 'ro=1' (expected " OPTIONS ")");
    expect_disk_error("a.img,cache", "--disk 'a.img,cache': unknown option 'cache' (expected " OPTIONS ")");
    expect_disk_error("a.img,ro,,x", "--disk 'a.img,ro,,x': unknown option 'ro,x' (expected " OPTIONS ")");
    /* The rest of a path with a comma in it: the ",," escape is named. */
    expect_disk_error("c,d.raw", "--disk 'c,d.raw': unknown option 'd.raw' (expected " OPTIONS "); a comma in "
                                 "the path is written twice, as in 'c,,d.raw'");
    expect_disk_error("/srv/a,b/c.img,ro", "--disk '/srv/a,b/c.img,ro': unknown option 'b/c.img' (expected " OPTIONS
                                           "); a comma in the path is written twice, as in '/srv/a,,b/c.img,ro'");

    /* Formats are named, never guessed; vmdk and friends are not served. */
    expect_disk_error("a.img,format=vmdk", "--disk 'a.img,format=vmdk': format=vmdk: expected raw or qcow2");
    expect_disk_error("a.img,format=", "--disk 'a.img,format=': format=: expected raw or qcow2");
    expect_disk_error("a.img,format", "--disk 'a.img,format': unknown option 'format' (expected " OPTIONS ")");
    expect_disk_error("a.img,backing=no", "--disk 'a.img,backing=no': backing=no: expected on or off");
    expect_disk_error("a.img,cache=bogus", "--disk 'a.img,cache=bogus': cache=bogus: expected none or writeback");
    expect_disk_error("a.img,cache=", "--disk 'a.img,cache=': cache=: expected none or writeback");
    expect_disk_error("a.img,iothread=17",
                      "--disk 'a.img,iothread=17': iothread=17: expected 0 (serve on the main loop) to 16");
    expect_disk_error("a.img,iothread=-1",
                      "--disk 'a.img,iothread=-1': iothread=-1: expected 0 (serve on the main loop) to 16");
    expect_disk_error("a.img,iothread=x",
                      "--disk 'a.img,iothread=x': iothread=x: expected 0 (serve on the main loop) to 16");
    expect_disk_error("a.img,poll-us=1001",
                      "--disk 'a.img,poll-us=1001': poll-us=1001: expected 0 (never poll) to 1000");
    expect_disk_error("a.img,queues=0", "--disk 'a.img,queues=0': queues=0: expected 1 to 16");
    expect_disk_error("a.img,queues=17", "--disk 'a.img,queues=17': queues=17: expected 1 to 16");
    expect_disk_error("a.img,queues=", "--disk 'a.img,queues=': queues=: expected 1 to 16");
    expect_disk_error("a.img,aio=bogus", "--disk 'a.img,aio=bogus': aio=bogus: expected io_uring or threads");
    expect_disk_error("a.img,aio=auto", "--disk 'a.img,aio=auto': aio=auto: expected io_uring or threads");
    expect_disk_error("a.img,serial=123456789012345678901",
                      "--disk 'a.img,serial=123456789012345678901': serial=123456789012345678901: "
                      "at most 20 characters");

    expect_disk_error("", "--disk '': expected PATH[,OPTION...] with a path first");
    expect_disk_error(",ro", "--disk ',ro': expected PATH[,OPTION...] with a path first");
}

static void too_long(void **state)
{
    (void)state;
    static char spec[PATH_MAX + 64];
    /* PATH_MAX - 1 characters still fit with their terminator. */
    memset(spec, 'p', PATH_MAX - 1);
    spec[PATH_MAX - 1] = 0;
    struct disk_arg d;
    char err[ERRLEN];
    assert_int_equal(disk_arg_parse(spec, &d, err, sizeof(err)), 0);
    assert_int_equal(strlen(d.path), PATH_MAX - 1);
    spec[PATH_MAX - 1] = 'p';
    spec[PATH_MAX] = 0;
    expect_disk_error(spec, "--disk: path too long");

    /* Options are parsed through a 256-byte buffer. */
    char opt[300], want[ERRLEN];
    memset(opt, 'o', sizeof(opt) - 1);
    opt[sizeof(opt) - 1] = 0;
    snprintf(want, sizeof(want), "--disk 'a,%s': option too long", opt);
    snprintf(spec, sizeof(spec), "a,%s", opt);
    expect_disk_error(spec, want);
}

static void through_run_args(void **state)
{
    (void)state;
    static struct run_args a;
    char err[ERRLEN];

    /* No --disk, no disks. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k"), 0);
    assert_int_equal(a.ndisks, 0);

    /* Default queues follow --vcpus, whatever the option order. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk", "a.img", "--vcpus", "4",
                           "--disk=b,,c.img,ro,queues=2"), 0);
    assert_int_equal(a.ndisks, 2);
    assert_string_equal(a.disks[0].path, "a.img");
    assert_ptr_equal(a.disks[0].o.path, a.disks[0].path);
    assert_int_equal(a.disks[0].o.queues, 4);
    assert_int_equal(a.disks[0].o.iothreads, 1);
    assert_int_equal(a.disks[0].o.cache, BLK_CACHE_WRITEBACK);
    assert_int_equal(a.disks[0].o.aio, AIO_AUTO);
    assert_false(a.disks[0].o.ro);
    assert_string_equal(a.disks[1].path, "b,c.img");
    assert_ptr_equal(a.disks[1].o.path, a.disks[1].path);
    assert_int_equal(a.disks[1].o.queues, 2);
    assert_true(a.disks[1].o.ro);

    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk", "a"), 0);
    assert_int_equal(a.disks[0].o.queues, 1);
    /* More vCPUs than a disk may have queues: capped. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--vcpus", "16", "--disk", "a"), 0);
    assert_int_equal(a.disks[0].o.queues, 16);
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--vcpus", "64", "--disk", "a"), 0);
    assert_int_equal(a.disks[0].o.queues, 16);
    /* An explicit count is not overridden by the vCPU default. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--vcpus", "64", "--disk", "a,queues=3"), 0);
    assert_int_equal(a.disks[0].o.queues, 3);

    /* VM_MAX_DISKS is fine, one more is not. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk", "0", "--disk", "1", "--disk", "2", "--disk", "3",
                           "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7"), 0);
    assert_int_equal(a.ndisks, VM_MAX_DISKS);
    for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
        char want[2] = {(char)('0' + i), 0};
        assert_string_equal(a.disks[i].path, want);
        assert_ptr_equal(a.disks[i].o.path, a.disks[i].path);
    }
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk", "0", "--disk", "1", "--disk", "2", "--disk", "3",
                           "--disk", "4", "--disk", "5", "--disk", "6", "--disk", "7", "--disk", "8"), -1);
    assert_string_equal(err, "--disk: at most 8 disks");

    /* A bad --disk's own message is what run_args_parse reports. */
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk", "a,cache=bogus"), -1);
    assert_string_equal(err, "--disk 'a,cache=bogus': cache=bogus: expected none or writeback");
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk="), -1);
    assert_string_equal(err, "--disk '': expected PATH[,OPTION...] with a path first");
    assert_int_equal(PARSE(&a, err, "--kernel", "k", "--disk"), -1);
    assert_string_equal(err, "--disk needs a value");
}

/* `vireo disk serve` takes --disk's options as its own flags. */
static void serve_flags(void **state)
{
    (void)state;
    struct disk_serve_args a;
    char err[ERRLEN];
    char *const ok[] = {"serve", "--socket", "/tmp/s", "--format", "qcow2", "--backing", "off", "x,y.qcow2"};
    assert_int_equal(disk_serve_args_parse(8, ok, &a, err, sizeof(err)), 0);
    assert_int_equal(a.disk.o.format, BDEV_FORMAT_QCOW2);
    assert_true(a.disk.o.no_backing);
    assert_string_equal(a.disk.path, "x,y.qcow2");
    char *const plain[] = {"serve", "--socket", "/tmp/s", "a.img"};
    assert_int_equal(disk_serve_args_parse(4, plain, &a, err, sizeof(err)), 0);
    assert_int_equal(a.disk.o.format, BDEV_FORMAT_RAW);
    assert_false(a.disk.o.no_backing);
    char *const bad[] = {"serve", "--socket", "/tmp/s", "--format", "vmdk", "a.img"};
    assert_int_equal(disk_serve_args_parse(6, bad, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "format=vmdk: expected raw or qcow2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serve_flags),
        cmocka_unit_test(defaults),
        cmocka_unit_test(each_option),
        cmocka_unit_test(comma_escape),
        cmocka_unit_test(errors),
        cmocka_unit_test(too_long),
        cmocka_unit_test(through_run_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

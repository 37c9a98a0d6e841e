/* vireo image bootstrap's option checks (ib_check): each bad option is
 * refused with a message naming it, before anything is made; files that
 * exist are never replaced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "toolstack/image_bootstrap.h"

static char dir[64];
static char key[128];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/vireo-ib-test.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(key, sizeof(key), "%s/id.pub", dir);
    FILE *f = fopen(key, "w");
    assert_non_null(f);
    fputs("# root's key\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt0ZXN0 someone@example\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct ib_opts good(void)
{
    return (struct ib_opts){.name = "web1", .size = 8ULL << 30, .dist = "bookworm", .format = "raw",
                            .hostname = NULL, .ssh_key = key, .ip = "192.0.2.10/24", .gateway = "192.0.2.1",
                            .bridge = "xenbr0", .memory_mib = 512, .vcpus = 2, .packages = "vim-tiny,curl",
                            .outdir = dir, .cache = "/var/cache/vireo/bootstrap"};
}

/* check O; expect a failure whose message contains WANT (NULL: success). */
static void expect(struct ib_opts o, const char *want)
{
    char out[4096], err[1024] = "";
    int r = ib_check(&o, out, sizeof(out), err, sizeof(err));
    if (!want) {
        /* The last check is for root; tools come before it (install-deps
         * installs them for the tests). */
        if (geteuid() != 0) {
            assert_int_equal(r, -1);
            assert_non_null(strstr(err, "must run as root"));
            return;
        }
        if (r != 0)
            fail_msg("expected success, got: %s", err);
        assert_string_equal(out, dir);
        return;
    }
    if (r != -1 || !strstr(err, want))
        fail_msg("expected an error with '%s', got %d: '%s'", want, r, err);
}

static void test_good(void **state)
{
    (void)state;
    expect(good(), NULL);
    struct ib_opts o = good();
    o.ip = "fe80::10/64", o.gateway = "fe80::1";
    expect(o, NULL);
    o = good();
    o.ip = NULL, o.gateway = NULL, o.dhcp = true, o.ssh_key = NULL, o.bridge = NULL, o.packages = NULL;
    expect(o, NULL);
}

static void test_bad_values(void **state)
{
    (void)state;
    struct ib_opts o;
#define BAD(field, value, want) (o = good(), o.field = value, expect(o, want))
    BAD(name, "", "NAME ''");
    BAD(name, "-x", "starts with '-'");
    BAD(name, ".x", "starts with '.'");
    BAD(name, "a/b", "NAME 'a/b'");
    BAD(size, 512ULL << 20, "--size: at least 1G");
    BAD(dist, "Bookworm", "--dist 'Bookworm'");
    BAD(dist, "nosuchdist", "debootstrap does not know it");
    BAD(format, "vmdk", "--format 'vmdk'");
    BAD(hostname, "a..b", "--hostname 'a..b'");
    BAD(hostname, "a_b", "invalid character '_'");
    BAD(hostname, "ab-", "ending in '-'");
    BAD(ip, "192.0.2.10", "expected ADDRESS/PREFIX");
    BAD(ip, "192.0.2.10/33", "prefix must be 1 to 32");
    BAD(ip, "fe80::1/129", "prefix must be 1 to 128");
    BAD(ip, "300.0.0.1/8", "is not an IPv4 or IPv6 address");
    BAD(gateway, "fe80::1", "expected an IPv4 address");
    BAD(bridge, "a bridge", "--bridge 'a bridge'");
    BAD(bridge, "sixteen-chars-xx", "--bridge");
    BAD(memory_mib, 64, "--memory");
    BAD(vcpus, 0, "--vcpus");
    BAD(vcpus, 100000, "--vcpus");
    BAD(packages, "Vim", "--packages 'Vim'");
    BAD(packages, "vim,", "ends with ','");
    BAD(packages, "vim,,curl", "--packages");
    BAD(mirror, "ftp://x/debian", "--mirror");
    BAD(mirror, "http://x/deb ian", "--mirror");
    BAD(outdir, "/nonexistent/dir", "-o /nonexistent/dir");
    BAD(cache, "relative/cache", "--cache");
    BAD(lvm, "-vg", "--lvm '-vg'");
    o = good(), o.ip = NULL;
    expect(o, "--gateway needs --ip");
    o = good(), o.dhcp = true;
    expect(o, "--ip and --dhcp exclude each other");
    o = good(), o.lvm = "vg0", o.format = "qcow2";
    expect(o, "--format qcow2 does not apply");
#undef BAD
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_ssh_key(void **state)
{
    (void)state;
    char p[160];
    struct ib_opts o = good();
    o.ssh_key = p;
    snprintf(p, sizeof(p), "%s/nokey", dir);
    expect(o, "No such file");
    snprintf(p, sizeof(p), "%s/id", dir);
    write_file(p, "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n");
    expect(o, "is a private key");
    write_file(p, "# nothing\n\n");
    expect(o, "no key in it");
    write_file(p, "ssh-rsa AAAAB3Nza x\nhello world\n");
    expect(o, ":2: not an OpenSSH public key");
    o.ssh_key = dir;
    expect(o, "expected a regular file");
}

/* Nothing is replaced: an existing NAME.cfg, NAME.img or NAME.qcow2 stops
 * the command before it starts. */
static void test_existing_files(void **state)
{
    (void)state;
    char p[160];
    static const char *const names[] = {"web1.cfg", "web1.img"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        write_file(p, "x");
        expect(good(), "exists; vireo image bootstrap never replaces a file");
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/web1.qcow2", dir);
    write_file(p, "x");
    expect(good(), NULL); /* raw: the qcow2 name is not taken */
    struct ib_opts o = good();
    o.format = "qcow2";
    expect(o, "web1.qcow2 exists");
    unlink(p);
    /* A dangling symbolic link is something there too. */
    snprintf(p, sizeof(p), "%s/web1.cfg", dir);
    assert_int_equal(symlink("/nonexistent", p), 0);
    expect(good(), "web1.cfg exists");
    unlink(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_ssh_key),
        cmocka_unit_test(test_existing_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* `vireo host-check` on fake host trees (files under a temporary root;
 * live probes off): what a healthy KVM host, a PVM-mode host and a bare
 * host report, with the exact fixes users are told. */
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

#include "toolstack/host_check.h"

static char root[64];

static void put(const char *rel, const char *content)
{
    char p[256], dir[256];
    snprintf(p, sizeof(p), "%s%s", root, rel);
    snprintf(dir, sizeof(dir), "%s", p);
    for (char *s = dir + strlen(root) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(dir, 0755);
        *s = '/';
    }
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int make_root(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/vireo-hc.XXXXXX");
    assert_non_null(mkdtemp(root));
    put("/proc/meminfo", "MemTotal:       25165824 kB\nMemFree:        1000 kB\nMemAvailable:   20971520 kB\n"
                         "HugePages_Total:       4\nHugePages_Free:        2\nHugepagesize:       2048 kB\n");
    return 0;
}

static int remove_root(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    return system(cmd);
}

static const struct hc_result *find(const struct hc_result *r, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(r[i].name, name))
            return &r[i];
    fail_msg("no check '%s'", name);
    abort(); /* fail_msg does not return; gcc does not know */
}

static size_t run(struct hc_result *r)
{
    struct hc_env env = {.root = root, .live = false};
    return host_check_run(&env, r);
}

static void healthy_kvm_host(void **state)
{
    (void)state;
    put("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme sse2 vmx ept\n");
    put("/sys/module/kvm_intel/parameters/nested", "Y\n");
    put("/dev/kvm", "");
    put("/dev/net/tun", "");
    put("/dev/vhost-net", "");
    put("/sys/module/bridge/refcnt", "0\n");
    put("/proc/sys/kernel/io_uring_disabled", "0\n");
    put("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never\n");
    put("/sys/kernel/btf/vmlinux", "");
    struct hc_result r[HC_MAX_RESULTS];
    size_t n = run(r);
    assert_int_equal(host_check_exit_code(r, n), 0);
    for (size_t i = 0; i < n; i++)
        if (r[i].status >= HC_WARN)
            fail_msg("%s: %s", r[i].name, r[i].detail);
    assert_true(strstr(find(r, n, "cpu")->detail, "vmx (Intel VT-x)") != NULL);
    assert_string_equal(find(r, n, "kvm module")->detail, "kvm_intel loaded");
    assert_string_equal(find(r, n, "nested virtualization")->detail, "on (only needed to run KVM inside guests)");
    assert_int_equal(find(r, n, "vhost-net")->status, HC_OK);
    assert_true(strstr(find(r, n, "vhost-net")->detail, "NICs use vhost-net unless vhost=off") != NULL);
    assert_string_equal(find(r, n, "memory")->detail, "24.0 GiB total, 20.0 GiB available");
    assert_string_equal(find(r, n, "hugepages")->detail,
                        "4 reserved (2 free) of 2048 kB; transparent huge pages: madvise");
    assert_string_equal(find(r, n, "io_uring")->detail, "usable");
}

static void pvm_host(void **state)
{
    (void)state;
    put("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme sse2\n");
    put("/sys/module/kvm_pvm/refcnt", "1\n");
    put("/dev/kvm", "");
    struct hc_result r[HC_MAX_RESULTS];
    size_t n = run(r);
    assert_int_equal(host_check_exit_code(r, n), 1);
    const struct hc_result *k = find(r, n, "kvm module");
    assert_int_equal(k->status, HC_FAIL);
    assert_string_equal(k->detail,
                        "kvm_pvm loaded without kvm_intel/kvm_amd: PVM mode runs only PVM guests, not distribution kernels");
    static const char want[] = "load kvm_intel or kvm_amd instead of kvm_pvm";
    assert_true(!strncmp(k->fix, want, sizeof(want) - 1));
    assert_int_equal(find(r, n, "cpu")->status, HC_FAIL);
    assert_string_equal(find(r, n, "cpu")->fix,
                        "enable VT-x/AMD-V in the firmware; inside a VM, enable nested virtualization on its host");
}

static void bare_host(void **state)
{
    (void)state;
    put("/proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu svm\n");
    put("/proc/sys/kernel/io_uring_disabled", "2\n");
    put("/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]\n");
    put("/proc/meminfo", "MemTotal:       1048576 kB\nMemAvailable:   262144 kB\nHugePages_Total:       0\n");
    struct hc_result r[HC_MAX_RESULTS];
    size_t n = run(r);
    assert_int_equal(host_check_exit_code(r, n), 1);
    assert_true(strstr(find(r, n, "cpu")->detail, "svm (AMD-V)") != NULL);
    const struct hc_result *k = find(r, n, "kvm module");
    assert_string_equal(k->detail, "neither kvm_intel nor kvm_amd is loaded");
    assert_string_equal(k->fix, "modprobe kvm_intel (or kvm_amd)");
    assert_string_equal(find(r, n, "/dev/kvm")->detail, "/dev/kvm is missing");
    assert_int_equal(find(r, n, "tun")->status, HC_WARN);
    assert_string_equal(find(r, n, "tun")->fix, "modprobe tun");
    assert_int_equal(find(r, n, "bridge")->status, HC_WARN);
    const struct hc_result *u = find(r, n, "io_uring");
    assert_int_equal(u->status, HC_WARN);
    assert_string_equal(u->fix, "sysctl -w kernel.io_uring_disabled=0");
    assert_int_equal(find(r, n, "memory")->status, HC_WARN);
    const struct hc_result *h = find(r, n, "hugepages");
    assert_int_equal(h->status, HC_WARN);
    assert_string_equal(h->fix, "echo madvise > /sys/kernel/mm/transparent_hugepage/enabled");
    assert_int_equal(find(r, n, "microscope")->status, HC_WARN);
    const struct hc_result *v = find(r, n, "vhost-net");
    assert_int_equal(v->status, HC_INFO);
    assert_true(strstr(v->detail, "user-space virtio-net") != NULL);
    assert_true(strstr(v->fix, "modprobe vhost_net") != NULL);
}

static void output_forms(void **state)
{
    (void)state;
    struct hc_result r[2] = {
        {.name = "a", .status = HC_OK, .detail = "fine"},
        {.name = "b", .status = HC_FAIL, .detail = "broken \"x\"", .fix = "do y"},
    };
    char *buf = NULL;
    size_t len;
    FILE *f = open_memstream(&buf, &len);
    host_check_print(f, r, 2, false);
    fclose(f);
    assert_string_equal(buf, "ok    a                      fine\n"
                             "FAIL  b                      broken \"x\"\n"
                             "                             fix: do y\n");
    free(buf);
    f = open_memstream(&buf, &len);
    host_check_print(f, r, 2, true);
    fclose(f);
    assert_string_equal(buf, "{\"checks\":[{\"name\":\"a\",\"status\":\"ok\",\"detail\":\"fine\",\"fix\":\"\"},"
                             "{\"name\":\"b\",\"status\":\"fail\",\"detail\":\"broken \\\"x\\\"\",\"fix\":\"do y\"}],"
                             "\"ok\":false}\n");
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(healthy_kvm_host, make_root, remove_root),
        cmocka_unit_test_setup_teardown(pvm_host, make_root, remove_root),
        cmocka_unit_test_setup_teardown(bare_host, make_root, remove_root),
        cmocka_unit_test(output_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

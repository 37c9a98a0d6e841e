/* net/tap_stats.h on a fake sysfs tree: the four counters, read again
 * after they change (pread at 0 on the same descriptors), and refusals. */
#include <errno.h>
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

#include "net/tap_stats.h"

static char root[64];

static void put(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/vireo7/statistics/%s", root, name);
    /* rewritten in place, as sysfs shows new figures on the same file */
    FILE *f = fopen(path, "r+");
    if (!f)
        f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), 0), 0);
    fputs(text, f);
    fclose(f);
}

static void counters(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/vireo-tapstats-XXXXXX");
    assert_non_null(mkdtemp(root));
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/vireo7", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/vireo7/statistics", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    put("rx_packets", "3\n");
    put("rx_bytes", "300\n");
    put("tx_packets", "18446744073709551615\n");
    put("tx_bytes", "4096\n");

    struct tap_stats s;
    tap_stats_init(&s);
    struct tap_counters c;
    assert_int_equal(tap_stats_read(&s, &c), -1);   /* not open */
    assert_int_equal(tap_stats_open(&s, root, "nosuch"), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(s.fd[0], -1);
    assert_int_equal(tap_stats_open(&s, root, "vireo7"), 0);
    assert_int_equal(tap_stats_read(&s, &c), 0);
    assert_int_equal(c.rx_packets, 3);
    assert_int_equal(c.rx_bytes, 300);
    assert_true(c.tx_packets == UINT64_MAX);
    assert_int_equal(c.tx_bytes, 4096);
    put("rx_bytes", "123456789\n");
    assert_int_equal(tap_stats_read(&s, &c), 0);
    assert_int_equal(c.rx_bytes, 123456789);
    put("rx_bytes", "12x\n");
    assert_int_equal(tap_stats_read(&s, &c), -1);
    put("rx_bytes", "");
    assert_int_equal(tap_stats_read(&s, &c), -1);
    tap_stats_close(&s);
    assert_int_equal(s.fd[3], -1);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* vm_config_write: every valid config of the xl.cfg corpus, written back
 * and parsed again, is the same configuration; overrides are merged in;
 * strings that need escapes survive; the edits `vireo clone`, `backup` and
 * `image import` make (name, disks, interfaces' identity) give exactly the
 * text expected. */
#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "toolstack/vm_config.h"
#include "toolstack/vm_config_json.h"
#include "toolstack/vm_config_write.h"

static char *json_of(const struct vm_config *c)
{
    struct json_object *j = vm_config_json(c);
    char *s = strdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    json_object_put(j);
    return s;
}

static void same_after_write(const char *text, const char *const *over, size_t nover, const char *what)
{
    struct vm_config a, b;
    char err[1024];
    if (vm_config_load(text, strlen(text), what, over, nover, &a, err, sizeof(err)) < 0)
        fail_msg("%s: %s", what, err);
    char *w = vm_config_write(&a, NULL, err, sizeof(err));
    if (!w)
        fail_msg("%s: %s", what, err);
    if (vm_config_parse(w, strlen(w), "written", &b, err, sizeof(err)) < 0)
        fail_msg("%s: the written text does not parse: %s\n%s", what, err, w);
    char *ja = json_of(&a), *jb = json_of(&b);
    if (strcmp(ja, jb))
        fail_msg("%s: differs after writing:\n%s\n%s\n--\n%s", what, ja, jb, w);
    free(ja);
    free(jb);
    free(w);
    vm_config_free(&a);
    vm_config_free(&b);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void corpus_round_trip(void **state)
{
    (void)state;
    const char *dir = getenv("XLCFG_CORPUS");
    assert_non_null(dir);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".cfg") || !strncmp(e->d_name, "bad-", 4))
            continue;
        char p[PATH_MAX];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        char *text = read_file(p);
        assert_non_null(text);
        same_after_write(text, NULL, 0, e->d_name);
        free(text);
        n++;
    }
    closedir(d);
    assert_true(n >= 15);
}

static const char base[] =
    "name = \"web\"\n"
    "# a comment\n"
    "kernel = \"/boot/vmlinuz\"\n"
    "memory = 0x200\n"
    "extra = 'console=ttyS0 quote=\\\" tab=\\t back=\\\\ x=\\x41'\n"
    "root = \"/dev/xvda1 ro\"\n"
    "disk = [ 'phy:vg/web,xvda,w',\n"
    "         'file:/srv/iso.img,xvdc,r' ]\n"
    "disk += [ 'format=raw, vdev=xvdb, access=rw, target=/srv/data,with,commas.img' ]\n"
    "vif = [ 'bridge=br0, mac=02:11:22:33:44:55, vifname=webtap', 'bridge=br1' ]\n"
    "on_reboot = \"destroy\"\n";

static void merged_and_escaped(void **state)
{
    (void)state;
    const char *over[] = {"memory = 1024", "extra += ' more'"};
    same_after_write(base, NULL, 0, "base");
    same_after_write(base, over, 2, "base + overrides");
    struct vm_config c;
    char err[1024];
    assert_int_equal(vm_config_load(base, strlen(base), "web.cfg", over, 2, &c, err, sizeof(err)), 0);
    char *w = vm_config_write(&c, NULL, err, sizeof(err));
    assert_non_null(w);
    /* One line per key, overrides in, comments gone. */
    assert_non_null(strstr(w, "memory = 1024\n"));
    assert_null(strstr(w, "0x200"));
    assert_null(strstr(w, "comment"));
    assert_non_null(strstr(w, "extra = \"console=ttyS0 quote=\\\" tab=\t back=\\\\ x=A more\"\n"));
    free(w);
    vm_config_free(&c);
}

static void clone_edits(void **state)
{
    (void)state;
    struct vm_config c;
    char err[1024];
    assert_int_equal(vm_config_parse(base, strlen(base), "web.cfg", &c, err, sizeof(err)), 0);
    /* disks are in vdev order: xvda, xvdb, xvdc */
    assert_string_equal(c.disks[1].vdev, "xvdb");
    struct vm_config_edit e = {.name = "web2", .new_identity = true};
    e.disk_target[0] = "/dev/vg/web2";
    e.disk_target[1] = "/srv/web2,data.qcow2";
    e.disk_format[1] = "qcow2";
    char *w = vm_config_write(&c, &e, err, sizeof(err));
    assert_non_null(w);
    assert_non_null(strstr(w, "name = \"web2\"\n"));
    assert_non_null(strstr(w, "disk = [ \"vdev=xvda, access=rw, format=raw, target=/dev/vg/web2\",\n"
                              "       \"file:/srv/iso.img,xvdc,r\",\n"
                              "       \"vdev=xvdb, access=rw, format=qcow2, target=/srv/web2,data.qcow2\" ]\n"));
    assert_non_null(strstr(w, "vif = [ \"bridge=br0\",\n       \"bridge=br1\" ]\n"));
    assert_null(strstr(w, "02:11:22"));
    assert_null(strstr(w, "webtap"));
    free(w);
    /* Without new_identity the interfaces stay as written. */
    e.new_identity = false;
    e.name = NULL;
    w = vm_config_write(&c, &e, err, sizeof(err));
    assert_non_null(strstr(w, "name = \"web\"\n"));
    assert_non_null(strstr(w, "mac=02:11:22:33:44:55, vifname=webtap"));
    free(w);
    vm_config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(corpus_round_trip),
        cmocka_unit_test(merged_and_escaped),
        cmocka_unit_test(clone_edits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

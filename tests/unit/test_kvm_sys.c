/* Telling PVM-mode KVM apart, from a fake sysfs tree. */
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

#include "kvm/kvm_sys.h"

static char root[64];

static void add_module(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/module/%s", root, name);
    assert_int_equal(mkdir(path, 0755), 0);
}

static void del_module(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/module/%s", root, name);
    assert_int_equal(rmdir(path), 0);
}

static void pvm_detection(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/vireo-sysfs-XXXXXX");
    assert_non_null(mkdtemp(root));
    char mod[96];
    snprintf(mod, sizeof(mod), "%s/module", root);
    assert_int_equal(mkdir(mod, 0755), 0);

    assert_false(kvm_is_pvm(root));          /* no KVM at all: not PVM */
    add_module("kvm");
    add_module("kvm_pvm");
    assert_true(kvm_is_pvm(root));           /* the build machines */
    add_module("kvm_amd");
    assert_false(kvm_is_pvm(root));          /* an SVM host that also has PVM */
    del_module("kvm_amd");
    add_module("kvm_intel");
    assert_false(kvm_is_pvm(root));
    del_module("kvm_intel");
    del_module("kvm_pvm");
    assert_false(kvm_is_pvm(root));          /* plain KVM */

    del_module("kvm");
    rmdir(mod);
    rmdir(root);
}

/* The advice for EACCES follows the node's real owner and mode. */
static void access_advice(void **state)
{
    (void)state;
    char buf[256];
    struct stat st = {.st_mode = S_IFCHR | 0660, .st_gid = 108};
    kvm_access_advice(&st, "kvm", buf, sizeof(buf));
    assert_string_equal(buf, "add the user to group 'kvm' (usermod -aG kvm USER, then log in again) or run as root");
    st.st_gid = 0;
    st.st_mode = S_IFCHR | 0600;
    kvm_access_advice(&st, "root", buf, sizeof(buf));
    assert_string_equal(buf, "it is mode 0600, group root: only root can open it; run as root, or let a group open "
                             "it (a udev rule: KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\")");
    /* A group without read-write access is no way in either. */
    st.st_gid = 108;
    st.st_mode = S_IFCHR | 0640;
    kvm_access_advice(&st, "kvm", buf, sizeof(buf));
    assert_non_null(strstr(buf, "only root can open it"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pvm_detection),
        cmocka_unit_test(access_advice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The crash line: a vCPU's registers, or why there are none. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "x86/vcpu_dump.h"

static void no_vcpu(void **state)
{
    (void)state;
    char line[256];
    errno = 0;
    assert_int_equal(vcpu_dump(-1, line, sizeof(line)), -1);
    assert_int_equal(errno, EBADF);
    assert_string_equal(line, "registers unavailable: Bad file descriptor");
}

/* A vCPU just made is in the reset state (CS 0xf000, RIP 0xfff0, CR0 with
 * ET and CD/NW): the line shows those, and a short buffer is cut, not
 * overrun. */
static void reset_state(void **state)
{
    (void)state;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = kvm >= 0 ? ioctl(kvm, KVM_CREATE_VM, 0) : -1;
    int cpu = vm >= 0 ? ioctl(vm, KVM_CREATE_VCPU, 0) : -1;
    if (cpu < 0) {
        if (vm >= 0)
            close(vm);
        if (kvm >= 0)
            close(kvm);
        skip(); /* no usable /dev/kvm here: the integration test covers it */
    }
    char line[512];
    assert_int_equal(vcpu_dump(cpu, line, sizeof(line)), 0);
    assert_non_null(strstr(line, "rip=0xfff0 "));
    assert_non_null(strstr(line, "cs=0xf000("));
    assert_non_null(strstr(line, " cr0=0x60000010 "));
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(vcpu_dump(cpu, small, 12), 0);
    assert_int_equal(strlen(small), 11);
    assert_int_equal(small[12], 'x');
    close(cpu);
    close(vm);
    close(kvm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_vcpu),
        cmocka_unit_test(reset_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

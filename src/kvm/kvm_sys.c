#include "kvm/kvm_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int kvm_open(void)
{
    int fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            vlog_err("no %s: KVM is not available on this host (load kvm_intel or kvm_amd, "
                     "and enable virtualization in the firmware)", KVM_DEVICE_PATH);
        else if (e == EACCES || e == EPERM)
            vlog_err("no permission to open %s: run as root or join the group that owns it "
                     "(usually 'kvm')", KVM_DEVICE_PATH);
        else
            vlog_err("cannot open %s: %s", KVM_DEVICE_PATH, strerror(e));
        return -1;
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    if (version != KVM_API_VERSION) {
        vlog_err("%s speaks KVM API version %d, Vireo needs %d", KVM_DEVICE_PATH, version, KVM_API_VERSION);
        close(fd);
        return -1;
    }
    return fd;
}

static bool sysfs_module_loaded(const char *root, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof(path), "%s/module/%s", root, name);
    return stat(path, &st) == 0;
}

bool kvm_is_pvm(const char *sysfs_root)
{
    return sysfs_module_loaded(sysfs_root, "kvm_pvm") &&
           !sysfs_module_loaded(sysfs_root, "kvm_intel") &&
           !sysfs_module_loaded(sysfs_root, "kvm_amd");
}

int kvm_check_caps(int kvm_fd)
{
    static const struct {
        int cap;
        const char *name;
    } needed[] = {
        {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
        {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
        {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
        {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
        {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
        {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
        {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
        {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
        {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    };
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
            vlog_err("this KVM lacks %s, which Vireo needs (host kernel too old?)", needed[i].name);
            return -1;
        }
    }
    return 0;
}

struct kvm_cpuid2 *kvm_supported_cpuid(int kvm_fd)
{
    struct kvm_cpuid2 *cpuid = calloc(1, KVM_CPUID_BYTES);
    if (!cpuid) {
        vlog_err("out of memory");
        return NULL;
    }
    cpuid->nent = KVM_CPUID_CAPACITY;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) < 0) {
        vlog_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
        free(cpuid);
        return NULL;
    }
    return cpuid;
}

int kvm_max_vcpus(int kvm_fd)
{
    int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (n <= 0)
        n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    return n > 0 ? n : 4;
}

#include "kvm/kvm_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

void kvm_access_advice(const struct stat *st, const char *group, char *buf, size_t len)
{
    bool group_rw = (st->st_mode & (S_IRGRP | S_IWGRP)) == (S_IRGRP | S_IWGRP);
    if (group_rw && st->st_gid != 0 && group)
        snprintf(buf, len, "add the user to group '%s' (usermod -aG %s USER, then log in again) or run as root", group,
                 group);
    else
        snprintf(buf, len, "it is mode %04o, group %s: only root can open it; run as root, or let a group open it "
                 "(a udev rule: KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\")", (unsigned)(st->st_mode & 07777),
                 group ? group : "(none)");
}

int kvm_open(void)
{
    int fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            vlog_err("no %s: KVM is not available on this host (load kvm_intel or kvm_amd, "
                     "and enable virtualization in the firmware)", KVM_DEVICE_PATH);
        else if (e == EACCES || e == EPERM) {
            char advice[256] = "run as root";
            struct stat st;
            if (stat(KVM_DEVICE_PATH, &st) == 0) {
                struct group *g = getgrgid(st.st_gid);
                kvm_access_advice(&st, g ? g->gr_name : NULL, advice, sizeof(advice));
            }
            vlog_err("no permission to open %s: %s", KVM_DEVICE_PATH, advice);
        }
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

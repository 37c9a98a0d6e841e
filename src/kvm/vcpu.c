#include "kvm/vcpu.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

int vcpu_create(struct vcpu *v, int vm_fd, size_t run_size, unsigned id)
{
    memset(v, 0, sizeof(*v));
    v->id = id;
    v->run_size = run_size;
    v->fd = ioctl(vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        vlog_err("KVM_CREATE_VCPU %u: %s", id, strerror(errno));
        return -1;
    }
    v->run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        vlog_err("vCPU %u: mapping kvm_run: %s", id, strerror(errno));
        return -1;
    }
    return 0;
}

int vcpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *cpuid)
{
    if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
        vlog_err("vCPU %u: setting CPUID: %s", v->id, strerror(errno));
        return -1;
    }
    return 0;
}

int vcpu_run(struct vcpu *v)
{
    if (ioctl(v->fd, KVM_RUN, 0) == 0)
        return 0;
    if (errno == EINTR || errno == EAGAIN)
        v->run->immediate_exit = 0;   /* served: the next KVM_RUN enters the guest */
    return -1;
}

void vcpu_request_exit(struct vcpu *v)
{
    if (v->run)
        v->run->immediate_exit = 1;
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->run)
        munmap(v->run, v->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

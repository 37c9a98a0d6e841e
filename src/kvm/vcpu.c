#include "kvm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm_sys.h"
#include "util/log.h"
#include "vm/vm.h"
#include "x86/cpuid.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig) { (void)sig; }

int vcpu_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: KVM_RUN must come back with EINTR. */
    return sigaction(KICK_SIGNAL, &sa, NULL);
}

static int setup_cpuid(struct vm *vm, struct vcpu *v)
{
    struct kvm_cpuid2 *cpuid = malloc(KVM_CPUID_BYTES);
    if (!cpuid)
        return -1;
    memcpy(cpuid, vm->cpuid, KVM_CPUID_BYTES);
    int r = -1;
    errno = ENOSPC;
    if (cpuid_patch_for_vcpu(cpuid, KVM_CPUID_CAPACITY, v->id, vm->ncpus, vm->tsc_deadline) == 0)
        r = ioctl(v->fd, KVM_SET_CPUID2, cpuid);
    if (r < 0)
        vlog_err("vCPU %u: setting CPUID: %s", v->id, strerror(errno));
    free(cpuid);
    return r;
}

int vcpu_create(struct vm *vm, struct vcpu *v, unsigned id)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->id = id;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
    if (v->fd < 0) {
        vlog_err("KVM_CREATE_VCPU %u: %s", id, strerror(errno));
        return -1;
    }
    v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (v->run == MAP_FAILED) {
        v->run = NULL;
        vlog_err("vCPU %u: mapping kvm_run: %s", id, strerror(errno));
        return -1;
    }
    return setup_cpuid(vm, v);
}

static void handle_io(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned size = run->io.size;
    uint64_t total = (uint64_t)size * run->io.count;
    /* KVM fills these, but a bad offset would make us scribble past the
     * shared page: check rather than trust. */
    if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > v->vm->run_size ||
        total > v->vm->run_size - run->io.data_offset) {
        vm_request_stop(v->vm, VM_STATUS_CRASH, "vCPU %u: malformed port I/O exit", v->id);
        return;
    }
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (!io_bus_access(&v->vm->pio, run->io.port, data, size, is_write))
            vlog_debug("unclaimed port %s 0x%x size %u", is_write ? "write" : "read", run->io.port, size);
    }
}

static void handle_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    unsigned len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data)) {
        vm_request_stop(v->vm, VM_STATUS_CRASH, "vCPU %u: malformed MMIO exit", v->id);
        return;
    }
    if (!io_bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
        vlog_debug("unclaimed MMIO %s 0x%llx size %u", run->mmio.is_write ? "write" : "read",
                   (unsigned long long)run->mmio.phys_addr, len);
}

static void handle_system_event(struct vcpu *v)
{
    switch (v->run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_request_stop(v->vm, VM_STATUS_POWEROFF, "guest powered off");
        break;
    case KVM_SYSTEM_EVENT_RESET:
        vm_request_stop(v->vm, VM_STATUS_REBOOT, "guest asked to reboot");
        break;
    default:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed (KVM system event %u)",
                        v->run->system_event.type);
        break;
    }
}

/* One exit; returns false once this vCPU should stop. */
static bool handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        handle_io(v);
        return true;
    case KVM_EXIT_MMIO:
        handle_mmio(v);
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_SHUTDOWN:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: triple fault on vCPU %u", v->id);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        handle_system_event(v);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: KVM internal error %u on vCPU %u",
                        run->internal.suberror, v->id);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: VM entry failed on vCPU %u "
                        "(hardware reason 0x%llx)", v->id,
                        (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_HLT:
        /* With the in-kernel LAPIC, HLT only exits when the guest can never
         * wake up again: interrupts off, nothing pending. */
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: vCPU %u halted for good", v->id);
        return false;
    default:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: unexpected KVM exit %u on vCPU %u",
                        run->exit_reason, v->id);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    atomic_store(&v->tid, (int)gettid());

    while (!atomic_load(&v->vm->stopping)) {
        vm_vcpu_park_if_paused(v->vm);
        if (atomic_load(&v->vm->stopping))
            break;
        if (ioctl(v->fd, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                v->run->immediate_exit = 0;
                continue;
            }
            vm_request_stop(v->vm, VM_STATUS_ERROR, "vCPU %u: KVM_RUN: %s", v->id, strerror(errno));
            break;
        }
        if (!handle_exit(v))
            break;
    }
    atomic_store(&v->exited, true);
    return NULL;
}

int vcpu_start(struct vcpu *v)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    const struct vm_managed *m = v->vm->managed;
    /* Pinned from its first instruction, not moved after it ran elsewhere. */
    if (m && m->vcpu_affinity)
        pthread_attr_setaffinity_np(&attr, sizeof(cpu_set_t), &m->vcpu_affinity[v->id]);
    int e = pthread_create(&v->thread, &attr, vcpu_thread, v);
    pthread_attr_destroy(&attr);
    if (e) {
        vlog_err("starting vCPU %u thread: %s", v->id, strerror(e));
        return -1;
    }
    v->started = true;
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->started)
        return;
    v->run->immediate_exit = 1;
    pthread_kill(v->thread, KICK_SIGNAL);
}

void vcpu_destroy(struct vcpu *v)
{
    if (v->started) {
        pthread_join(v->thread, NULL);
        v->started = false;
    }
    if (v->run)
        munmap(v->run, v->vm->run_size);
    if (v->fd > 0)
        close(v->fd);
    v->run = NULL;
    v->fd = -1;
}

/* A vCPU thread: KVM_RUN until the VM stops, port I/O and MMIO exits
 * dispatched on the VM's buses from this thread, the guest's end turned
 * into the VM's stop request, and parking between runs while paused. */
#include "vm/vm_vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confine/seccomp.h"
#include "kvm/kvm_sys.h"
#include "util/log.h"
#include "vm/vm.h"
#include "x86/cpuid.h"
#include "x86/vcpu_dump.h"

#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig) { (void)sig; }

int vm_vcpu_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: KVM_RUN must come back with EINTR. */
    return sigaction(KICK_SIGNAL, &sa, NULL);
}

static int setup_cpuid(struct vm *vm, struct vm_vcpu *v)
{
    struct kvm_cpuid2 *cpuid = malloc(KVM_CPUID_BYTES);
    if (!cpuid) {
        vlog_err("vCPU %u: out of memory", v->cpu.id);
        return -1;
    }
    memcpy(cpuid, vm->cpuid, KVM_CPUID_BYTES);
    int r = -1;
    if (cpuid_patch_for_vcpu(cpuid, KVM_CPUID_CAPACITY, v->cpu.id, vm->ncpus, vm->tsc_deadline) < 0)
        vlog_err("vCPU %u: setting CPUID: %s", v->cpu.id, strerror(ENOSPC));
    else
        r = vcpu_set_cpuid(&v->cpu, cpuid);
    free(cpuid);
    return r;
}

int vm_vcpu_create(struct vm *vm, struct vm_vcpu *v, unsigned id)
{
    memset(v, 0, sizeof(*v));
    v->vm = vm;
    v->kstats.fd = -1;
    if (vcpu_create(&v->cpu, vm->vm_fd, vm->run_size, id) < 0)
        return -1;
    /* Now or never: the ioctl would wait for a running vCPU's mutex.
     * Kernels before 5.14 have none; exits are then counted only as far
     * as they reach us. */
    kvm_stats_open(&v->kstats, v->cpu.fd);
    return setup_cpuid(vm, v);
}

static void handle_io(struct vm_vcpu *v)
{
    struct kvm_run *run = v->cpu.run;
    unsigned size = run->io.size;
    uint64_t total = (uint64_t)size * run->io.count;
    /* KVM fills these, but a bad offset would make us scribble past the
     * shared page: check rather than trust. */
    if ((size != 1 && size != 2 && size != 4) || run->io.data_offset > v->cpu.run_size ||
        total > v->cpu.run_size - run->io.data_offset) {
        vm_request_stop(v->vm, VM_STATUS_CRASH, "vCPU %u: malformed port I/O exit", v->cpu.id);
        return;
    }
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (!io_bus_access(&v->vm->pio, run->io.port, data, size, is_write))
            vlog_debug("unclaimed port %s 0x%x size %u", is_write ? "write" : "read", run->io.port, size);
    }
}

static void handle_mmio(struct vm_vcpu *v)
{
    struct kvm_run *run = v->cpu.run;
    unsigned len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data)) {
        vm_request_stop(v->vm, VM_STATUS_CRASH, "vCPU %u: malformed MMIO exit", v->cpu.id);
        return;
    }
    if (!io_bus_access(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
        vlog_debug("unclaimed MMIO %s 0x%llx size %u", run->mmio.is_write ? "write" : "read",
                   (unsigned long long)run->mmio.phys_addr, len);
}

static void handle_system_event(struct vm_vcpu *v)
{
    switch (v->cpu.run->system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
        vm_request_stop(v->vm, VM_STATUS_POWEROFF, "guest powered off");
        break;
    case KVM_SYSTEM_EVENT_RESET:
        vm_request_stop(v->vm, VM_STATUS_REBOOT, "guest asked to reboot");
        break;
    default:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed (KVM system event %u)",
                        v->cpu.run->system_event.type);
        break;
    }
}

/* The registers of a vCPU that crashed the guest, logged before the stop:
 * the one chance to see where it was (the VM is torn down next). */
static void log_crash_state(struct vm_vcpu *v)
{
    char line[512];
    vcpu_dump(v->cpu.fd, line, sizeof(line));
    vlog_err("vCPU %u at the crash: %s", v->cpu.id, line);
}

/* One exit; returns false once this vCPU should stop. */
static bool handle_exit(struct vm_vcpu *v)
{
    struct kvm_run *run = v->cpu.run;
    unsigned id = v->cpu.id;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        stat_inc(&v->exits_io);
        handle_io(v);
        return true;
    case KVM_EXIT_MMIO:
        stat_inc(&v->exits_mmio);
        handle_mmio(v);
        return true;
    case KVM_EXIT_INTR:
        stat_inc(&v->exits_intr);
        return true;
    case KVM_EXIT_SHUTDOWN:
        log_crash_state(v);
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: triple fault on vCPU %u", id);
        return false;
    case KVM_EXIT_SYSTEM_EVENT:
        stat_inc(&v->exits_other);
        handle_system_event(v);
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        log_crash_state(v);
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: KVM internal error %u on vCPU %u",
                        run->internal.suberror, id);
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        log_crash_state(v);
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: VM entry failed on vCPU %u "
                        "(hardware reason 0x%llx)", id,
                        (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return false;
    case KVM_EXIT_HLT:
        /* With the in-kernel LAPIC, HLT only exits when the guest can never
         * wake up again: interrupts off, nothing pending. */
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: vCPU %u halted for good", id);
        return false;
    default:
        vm_request_stop(v->vm, VM_STATUS_CRASH, "guest crashed: unexpected KVM exit %u on vCPU %u",
                        run->exit_reason, id);
        return false;
    }
}

static void *vcpu_thread(void *arg)
{
    struct vm_vcpu *v = arg;
    /* Process signals belong to whoever drives the VM (its signalfd); this
     * thread takes the kick and the faults of its own instructions. */
    static const int own[] = {KICK_SIGNAL, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    sigset_t set;
    sigfillset(&set);
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        sigdelset(&set, own[i]);
    pthread_sigmask(SIG_SETMASK, &set, NULL);
    char name[16];
    snprintf(name, sizeof(name), "vireo-vcpu%u", v->cpu.id);
    confine_thread(CONFINE_VCPU, name);
    atomic_store(&v->tid, (int)gettid());

    while (!atomic_load(&v->vm->stopping)) {
        vm_vcpu_park_if_paused(v->vm);
        if (atomic_load(&v->vm->stopping))
            break;
        if (vcpu_run(&v->cpu) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vm_request_stop(v->vm, VM_STATUS_ERROR, "vCPU %u: KVM_RUN: %s", v->cpu.id, strerror(errno));
            break;
        }
        if (!handle_exit(v))
            break;
    }
    atomic_store(&v->exited, true);
    return NULL;
}

int vm_vcpu_start(struct vm_vcpu *v, const cpu_set_t *affinity)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* Pinned from its first instruction, not moved after it ran elsewhere. */
    if (affinity)
        pthread_attr_setaffinity_np(&attr, sizeof(*affinity), affinity);
    /* Born with every signal blocked, so none reaches it before it has
     * set its own mask. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&v->thread, &attr, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (e) {
        vlog_err("starting vCPU %u thread: %s", v->cpu.id, strerror(e));
        return -1;
    }
    v->started = true;
    return 0;
}

void vm_vcpu_kick(struct vm_vcpu *v)
{
    if (!v->started)
        return;
    vcpu_request_exit(&v->cpu);
    pthread_kill(v->thread, KICK_SIGNAL);
}

void vm_vcpu_destroy(struct vm_vcpu *v)
{
    if (v->started) {
        pthread_join(v->thread, NULL);
        v->started = false;
    }
    kvm_stats_close(&v->kstats);
    vcpu_destroy(&v->cpu);
}

/* One virtual machine: KVM VM and vCPUs, guest RAM, the platform devices,
 * and how it stops.  See ARCHITECTURE.md for the threads. */
#ifndef VIREO_VM_VM_H
#define VIREO_VM_VM_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/io_bus.h"
#include "devices/pci.h"
#include "devices/rtc_cmos.h"
#include "devices/serial.h"
#include "iothread/event_loop.h"
#include "kvm/irq_routes.h"
#include "net/tap.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/memmap.h"
#include "virtio/virtio_pci.h"
#include "vm/guest_mem.h"
#include "vm/vm_nets.h"
#include "x86/layout.h"

/* `vireo run` exit statuses (documented in the README). */
enum vm_status {
    VM_STATUS_POWEROFF = 0,
    VM_STATUS_ERROR = 1,
    VM_STATUS_USAGE = 2,
    VM_STATUS_REBOOT = 3,
    VM_STATUS_CRASH = 4,
    VM_STATUS_CONSOLE_QUIT = 5,
};

#define VM_MAX_DISKS 8

/* What a VM started by `vireo create` has that `vireo run` lacks; see
 * toolstack/vm_process.c. */
struct vm_managed {
    int serial_fd;               /* COM1's output: the console buffer's pipe, a file, /dev/null */
    struct event_loop *outer;    /* the VM process's own loop, served by the main thread too */
    bool start_paused;           /* `vireo create -p` */
    const cpu_set_t *vcpu_affinity;  /* one per vCPU (cpus=); NULL: unpinned */
};

struct vm_params {
    uint64_t ram_size;
    uint32_t ncpus;
    const char *kernel_path;
    const char *initrd_path;   /* may be NULL */
    const char *cmdline;
    bool allow_pvm;            /* for --setup-only, where no guest code runs */
    unsigned ndisks;
    struct vblk_opts disks[VM_MAX_DISKS];
    unsigned nnets;
    struct vm_net_opts nets[VM_MAX_NETS];
    const char *name;                   /* the toolstack's VM name (MAC addresses derive from it) */
    const struct vm_managed *managed;   /* NULL for `vireo run` */
};

struct vm_blk {
    struct vblk *blk;
    struct vpci pci;
};

struct vm_nic {
    struct vnet *net;
    struct vpci pci;
    bool pci_ok;
    struct tap tap;
    uint8_t mac[6];
};

struct vm;

struct vcpu {
    struct vm *vm;
    unsigned id;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool started;
    atomic_bool exited;        /* its thread has left the run loop */
    atomic_int tid;            /* its thread's id, once running (vcpu-list, vcpu-pin) */
};

struct vm {
    int kvm_fd, vm_fd;
    size_t run_size;
    struct kvm_cpuid2 *cpuid;  /* KVM's supported CPUID, patched per vCPU */
    bool tsc_deadline;
    struct guest_mem mem;
    struct io_bus pio, mmio;
    unsigned ncpus;
    struct vcpu vcpus[MAX_VCPUS];

    struct serial serial;
    struct i8042 i8042;
    struct rtc_cmos rtc;
    struct acpi_pm pm;
    struct pci_bus pci;
    struct pci_device host_bridge;
    struct pci_window win32, win64;

    /* The main thread's event loop: console, signals, the stop request,
     * and disks configured with iothread=0. */
    struct event_loop loop;
    bool loop_ok;
    struct memmap memmap;      /* guest RAM as the device models see it */
    struct irq_routes routes;
    bool routes_ok;
    unsigned ndisks;
    struct vm_blk disks[VM_MAX_DISKS];
    unsigned nnics;
    struct vm_nic nics[VM_MAX_NETS];

    /* First stop request wins; the main thread is woken through stop_fd. */
    pthread_mutex_t stop_lock;
    atomic_bool stopping;
    int stop_status;
    char stop_reason[256];
    int stop_fd;               /* eventfd */

    const struct vm_managed *managed;
    atomic_bool host_stopping;  /* a managed VM got SIGTERM: no restart after this stop */
    /* Pausing: vCPU threads park between KVM_RUNs while pause_req is set
     * (vm_control.c). */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    atomic_bool pause_req;
    unsigned parked;
};

/* Builds the whole VM; prints the reason and returns -1 on failure. */
int vm_create(struct vm *vm, const struct vm_params *cfg);
/* Runs until the guest stops; returns a vm_status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runtime control from the VM process's control socket (vm_control.c);
 * called on the main thread while vm_run runs. */
void vm_power_button(struct vm *vm);
/* Returns once every running vCPU is parked (or the VM is stopping). */
void vm_pause(struct vm *vm);
void vm_unpause(struct vm *vm);
bool vm_is_paused(const struct vm *vm);
/* Called by each vCPU thread before KVM_RUN: waits while paused. */
void vm_vcpu_park_if_paused(struct vm *vm);
/* Wakes parked vCPUs so they see `stopping`. */
void vm_wake_parked(struct vm *vm);

struct vm_vcpu_stat {
    int tid;                   /* 0: not running */
    int cpu;                   /* host CPU it last ran on, -1 unknown */
    char state;                /* 'r' running, 'b' blocked (halted guest or host wait), 'p' paused */
    double cpu_seconds;
    cpu_set_t affinity;
};
int vm_vcpu_stat(struct vm *vm, unsigned id, struct vm_vcpu_stat *st);
/* Moves a vCPU's thread to the given host CPUs; -1 with errno. */
int vm_vcpu_pin(struct vm *vm, unsigned id, const cpu_set_t *cpus);

/* KVM_IRQ_LINE; usable as an irq_line callback. */
void vm_set_irq(void *vm, unsigned gsi, bool level);

#endif

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
#include "eventloop/event_loop.h"
#include "eventloop/iothread_group.h"
#include "kvm/irq_routes.h"
#include "mem/memmap.h"
#include "net/tap.h"
#include "util/log.h"
#include "virtio/balloon.h"
#include "virtio/console.h"
#include "virtio/net.h"
#include "virtio/virtio_pci.h"
#include "vm/boot_protocol.h"
#include "vm/disk.h"
#include "vm/vm_limits.h"
#include "vm/vm_nets.h"
#include "vm/vm_resources.h"
#include "vm/vm_vcpu.h"
#include "x86/e820.h"
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


/* Boot from a disk's own boot loader configuration (pygrub's role, see
 * src/bootloader): the kernel, initrd and command line come from it. */
struct vm_boot_disk {
    unsigned disk;                /* index into vm_params.disks */
    const char *entry;            /* pygrub's --entry; NULL: the configuration's default */
    const char *kernel, *ramdisk; /* pygrub's --kernel/--ramdisk: paths in the guest; NULL: none */
    const char *append;           /* after the entry's command line; NULL: nothing */
};

struct vm_params {
    uint64_t ram_size;
    bool hugepages;            /* RAM from the host's 2 MiB hugetlb pages (memmap_alloc_hugetlb) */
    uint32_t ncpus;
    const char *kernel_path;   /* NULL when boot_disk is set */
    const char *initrd_path;   /* may be NULL */
    const char *cmdline;
    enum vm_boot_protocol boot_protocol;   /* for kernel_path; a disk's kernel boots as a bzImage */
    const struct vm_boot_disk *boot_disk;   /* read again at each vm_create (a restart) */
    bool allow_pvm;            /* for --setup-only, where no guest code runs */
    bool balloon;              /* a virtio-balloon device (vm_balloon.h) */
    unsigned ndisks;
    struct disk_opts disks[VM_MAX_DISKS];
    unsigned nnets;
    struct vm_net_opts nets[VM_MAX_NETS];
    const char *name;                   /* the toolstack's VM name (MAC addresses derive from it) */
    /* Whoever drives the VM (`vireo run`, the toolstack's VM process) owns
     * this loop and turns it on its thread; the VM's own loop is one watch
     * in it. */
    struct event_loop *loop;
    int serial_fd;                      /* COM1's output */
    bool start_paused;                  /* vCPUs parked from the start (`vireo create -p`) */
    const cpu_set_t *vcpu_affinity;     /* one per vCPU; NULL: unpinned */
    /* /dev/kvm, kernel, images, TAPs: opened once by the driver
     * (vm_resources_open) and reused by every vm_create; NULL: vm_create
     * opens its own and vm_destroy closes them. */
    struct vm_resources *res;
};

struct vm_blk {
    struct disk disk;
    bool open;
    struct vpci pci;
};

struct vm_nic {
    struct iothread_group threads;   /* serving its queue pairs */
    struct vnet *net;
    struct vpci pci;
    bool pci_ok;
    struct tap *tap;                 /* the VM's resources' */
    uint8_t mac[6];
    bool vhost;                      /* its pairs are served by vhost-net */
};

struct vm {
    struct vm_resources *res;
    struct vm_resources own_res;     /* when vm_params.res was NULL */
    bool owns_res;
    int kvm_fd, vm_fd;               /* kvm_fd is the resources' */
    size_t run_size;
    struct kvm_cpuid2 *cpuid;  /* KVM's supported CPUID, patched per vCPU */
    bool tsc_deadline;
    struct ram_layout layout;
    struct memmap memmap;      /* guest RAM, for the loader and the devices */
    struct io_bus pio, mmio;
    unsigned ncpus;
    struct vm_vcpu vcpus[MAX_VCPUS];

    struct serial serial;
    struct i8042 i8042;
    struct rtc_cmos rtc;
    struct acpi_pm pm;
    struct pci_bus pci;
    struct pci_device host_bridge;
    struct pci_window win32, win64;

    /* The VM's own loop, a watch in the driver's (vm_params.loop) and
     * served on its thread: the stop request, and the queues of disks and
     * interfaces configured with iothread=0. */
    struct event_loop loop;
    bool loop_ok;
    struct event_loop *parent;   /* the driver's loop, while the VM's is watched there */
    struct el_watch w_loop, w_stop;
    struct irq_routes routes;
    bool routes_ok;
    struct vlog_ratelimit irq_log;   /* device models raise lines as the guest drives them */
    unsigned ndisks;
    struct vm_blk disks[VM_MAX_DISKS];
    unsigned nnics;
    struct vm_nic nics[VM_MAX_NETS];
    struct vballoon *balloon;  /* NULL: none */
    struct vpci balloon_pci;
    bool balloon_pci_ok;
    struct vcons *vcons;       /* the virtio console (vm_vconsole.h); NULL: none */
    struct vpci vcons_pci;
    bool vcons_pci_ok;
    bool vcons_input;          /* console input goes to it (the last console= is hvc) */

    /* First stop request wins; the main thread is woken through stop_fd. */
    pthread_mutex_t stop_lock;
    atomic_bool stopping;
    int stop_status;
    char stop_reason[256];
    int stop_fd;               /* eventfd */

    const cpu_set_t *vcpu_affinity;
    /* Pausing: vCPU threads park between KVM_RUNs while pause_req is set
     * (vm_control.c). */
    pthread_mutex_t pause_lock;
    pthread_cond_t pause_cond;
    atomic_bool pause_req;
    unsigned parked;
};

/* Builds the whole VM; prints the reason and returns -1 on failure.  On
 * the thread that owns cfg->loop. */
int vm_create(struct vm *vm, const struct vm_params *cfg);
/* The kernel and initrd of cfg (not booting from a disk), read through
 * res: a bzImage that fits the memory with its initrd and command line.
 * Prints why not and returns -1. */
int vm_check_kernel(const struct vm_params *cfg, const struct vm_resources *res);
/* Starts the vCPUs.  The driver then turns its loop until vm_stopping()
 * (a failure to start is a stop request too). */
void vm_start(struct vm *vm);
bool vm_stopping(const struct vm *vm);
/* After a stop request: stops and joins the vCPUs, stops the devices'
 * queues, prints the reason; returns a vm_status. */
int vm_finish(struct vm *vm);
void vm_destroy(struct vm *vm);

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Runtime control from the VM process's control socket (vm_control.c);
 * called on the thread that drives the VM, between vm_start and vm_finish. */
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

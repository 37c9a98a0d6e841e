#include "vm/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <sys/epoll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "kvm/kvm_sys.h"
#include "util/file.h"
#include "util/log.h"
#include "util/zero.h"
#include "vm/boot_disk.h"
#include "vm/vm_disks.h"
#include "vm/vm_balloon.h"
#include "vm/vm_vconsole.h"
#include "vm/vm_nets.h"
#include "vm/vm_vcpu.h"
#include "x86/bzimage.h"
#include "x86/cpuid.h"
#include "x86/linux_boot.h"
#include "x86/pvh.h"
#include "x86/vcpu_regs.h"

#define PCI_SLOT_HOST_BRIDGE 0
#define I8042_IO_LEN 5  /* 0x60 data .. 0x64 command */
#define RTC_IO_LEN 2
#define PCI_CFG_IO_LEN 8

void vm_set_irq(void *opaque, unsigned gsi, bool level)
{
    struct vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = gsi, .level = level};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        vlog_ratelimited(&vm->irq_log, "KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
}

void vm_request_stop(struct vm *vm, int status, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->stop_lock);
    if (!atomic_load(&vm->stopping)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->stop_reason, sizeof(vm->stop_reason), fmt, ap);
        va_end(ap);
        vm->stop_status = status;
        atomic_store(&vm->stopping, true);
        vm_wake_parked(vm);
        uint64_t one = 1;
        if (write(vm->stop_fd, &one, sizeof(one)) < 0)
            vlog_err("waking the main thread: %s", strerror(errno));
    }
    pthread_mutex_unlock(&vm->stop_lock);
}

static void machine_event_cb(void *ctx, enum machine_event ev, const char *why)
{
    struct vm *vm = ctx;
    if (ev == MACHINE_POWEROFF)
        vm_request_stop(vm, VM_STATUS_POWEROFF, "guest powered off (%s)", why);
    else
        vm_request_stop(vm, VM_STATUS_REBOOT, "guest asked to reboot (%s)", why);
}

/* The VM's loop wakes the driver's, which runs it. */
static void on_stop(void *opaque, uint32_t events)
{
    (void)events;
    struct vm *vm = opaque;
    uint64_t v;
    (void)!read(vm->stop_fd, &v, sizeof(v));
}

static void on_loop(void *opaque, uint32_t events)
{
    (void)events;
    struct vm *vm = opaque;
    if (event_loop_run_once(&vm->loop, 0) < 0)
        vm_request_stop(vm, VM_STATUS_ERROR, "epoll_wait: %s", strerror(errno));
}

static void unwatch_parent(struct vm *vm)
{
    if (vm->parent)
        event_loop_del(vm->parent, &vm->w_loop);
    vm->parent = NULL;
}

static int kvm_vm_ioctl(struct vm *vm, unsigned long req, unsigned long arg, const char *name)
{
    if (ioctl(vm->vm_fd, req, arg) < 0) {
        vlog_err("%s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* One KVM memory slot per RAM region. */
static int set_memory(struct vm *vm)
{
    for (unsigned i = 0; i < vm->memmap.count; i++) {
        const struct memmap_region *r = &vm->memmap.r[i];
        struct kvm_userspace_memory_region slot = {
            .slot = i, .guest_phys_addr = r->gpa, .memory_size = r->size, .userspace_addr = (uintptr_t)r->host,
        };
        if (kvm_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&slot, "KVM_SET_USER_MEMORY_REGION"))
            return -1;
    }
    return 0;
}

static int create_platform(struct vm *vm)
{
    if (kvm_vm_ioctl(vm, KVM_SET_TSS_ADDR, LAYOUT_KVM_TSS_ADDR, "KVM_SET_TSS_ADDR"))
        return -1;
    uint64_t idmap = LAYOUT_KVM_IDMAP_ADDR;
    if (kvm_vm_ioctl(vm, KVM_SET_IDENTITY_MAP_ADDR, (unsigned long)&idmap, "KVM_SET_IDENTITY_MAP_ADDR"))
        return -1;
    if (kvm_vm_ioctl(vm, KVM_CREATE_IRQCHIP, 0, "KVM_CREATE_IRQCHIP"))
        return -1;
    if (irq_routes_init(&vm->routes, vm->kvm_fd, vm->vm_fd) < 0)
        return -1;
    vm->routes_ok = true;
    /* The dummy speaker makes KVM answer port 0x61 as well. */
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    return kvm_vm_ioctl(vm, KVM_CREATE_PIT2, (unsigned long)&pit, "KVM_CREATE_PIT2");
}

static int create_devices(struct vm *vm, const struct vm_params *cfg)
{
    struct machine_ctl machine = {.event = machine_event_cb, .ctx = vm};
    serial_init(&vm->serial, (struct irq_line){vm_set_irq, vm, IRQ_COM1}, cfg->serial_fd);
    vm->i8042.machine = machine;
    rtc_cmos_init(&vm->rtc);
    acpi_pm_init(&vm->pm, (struct irq_line){vm_set_irq, vm, IRQ_ACPI_SCI}, machine);
    pci_bus_init(&vm->pci, machine);
    pci_host_bridge_init(&vm->host_bridge);
    /* BARs decode only inside the windows the DSDT's _CRS gives the OS. */
    vm->win32 = (struct pci_window){&vm->pci, LAYOUT_PCI_MMIO32_BASE};
    vm->win64 = (struct pci_window){&vm->pci, layout_pci_mmio64_base(&vm->layout)};

    vm->pio.name = "port I/O";
    vm->mmio.name = "MMIO";
    if (io_bus_register(&vm->pio, PORT_COM1, 8, serial_io, &vm->serial) ||
        io_bus_register(&vm->pio, PORT_I8042_DATA, I8042_IO_LEN, i8042_io, &vm->i8042) ||
        io_bus_register(&vm->pio, PORT_RTC_INDEX, RTC_IO_LEN, rtc_cmos_io, &vm->rtc) ||
        io_bus_register(&vm->pio, PORT_ACPI_PM1A_EVT, ACPI_PM_IO_LEN, acpi_pm_io, &vm->pm) ||
        io_bus_register(&vm->pio, PORT_PCI_CONFIG_ADDR, PCI_CFG_IO_LEN, pci_cfg_port_io, &vm->pci) ||
        io_bus_register(&vm->mmio, LAYOUT_ECAM_BASE, LAYOUT_ECAM_SIZE, pci_ecam_io, &vm->pci) ||
        io_bus_register(&vm->mmio, vm->win32.base, LAYOUT_PCI_MMIO32_SIZE, pci_bar_io, &vm->win32) ||
        io_bus_register(&vm->mmio, vm->win64.base, LAYOUT_PCI_MMIO64_SIZE, pci_bar_io, &vm->win64) ||
        pci_bus_register(&vm->pci, PCI_SLOT_HOST_BRIDGE, &vm->host_bridge)) {
        vlog_err("internal error: overlapping device ranges");
        return -1;
    }
    return 0;
}

/* The user's files, opened and checked before KVM is touched so their
 * errors come first and identically on any host. */
struct guest_inputs {
    uint8_t head[BZIMAGE_HEAD_MAX];
    struct bzimage bz;
    struct linux_boot_cfg boot;
    bool pvh;                       /* boot vmlinux (res->vmlinux) through PVH */
    struct pvh_boot_cfg pvh_boot;
    struct boot_disk_images disk;   /* booting from a disk: all of it in memory */
};

static int load_guest(struct vm *vm, struct guest_inputs *in)
{
    struct acpi_config acfg = {
        .ncpus = vm->ncpus, .mmio64_base = layout_pci_mmio64_base(&vm->layout),
    };
    uint8_t *tables = memmap_ptr(&vm->memmap, LAYOUT_ACPI_START, LAYOUT_ACPI_SIZE);
    if (!acpi_build(&acfg, tables, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_START)) {
        vlog_err("internal error: ACPI tables do not fit in %llu bytes", LAYOUT_ACPI_SIZE);
        return -1;
    }
    in->boot.acpi_rsdp = LAYOUT_ACPI_START;
    in->pvh_boot.acpi_rsdp = LAYOUT_ACPI_START;
    in->pvh_boot.ram_fresh = true;   /* vm_create mapped it just before */
    struct linux_boot_info info;
    char err[256];
    int rc = in->pvh ? pvh_boot_load(&vm->memmap, &vm->layout, &in->pvh_boot, &info, err, sizeof(err))
                     : linux_boot_load(&vm->memmap, &vm->layout, &in->boot, &info, err, sizeof(err));
    if (rc < 0) {
        vlog_err("%s", err);
        return -1;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        const char *what;
        if (vcpu_regs_common(vm->vcpus[i].cpu.fd, &what) < 0 ||
            (i == 0 && vcpu_regs_boot(vm->vcpus[i].cpu.fd, &info, &what) < 0)) {
            vlog_err("vCPU %u: %s: %s", i, what, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The vmlinux that vm_kernel_prepare chose, through PVH. */
static int check_pvh(const struct vm_params *cfg, const struct vm_resources *res, struct guest_inputs *in)
{
    char err[256];
    struct pvh_boot_cfg *b = &in->pvh_boot;
    in->pvh = true;
    b->k = &res->vmlinux_elf;
    b->image = (struct boot_blob){.fd = res->vmlinux.fd, .offset = res->vmlinux.off, .len = res->vmlinux.len};
    b->cmdline = cfg->cmdline;
    b->cmdline_max = PVH_CMDLINE_MAX_DEFAULT;
    if (!res->kernel_is_elf) {
        /* The bzImage states its own limit: the same on either path. */
        size_t head_len = res->kernel_size < sizeof(in->head) ? (size_t)res->kernel_size : sizeof(in->head);
        if (read_full_at(res->kernel_fd, in->head, head_len, 0) < 0) {
            vlog_err("kernel %s: %s", cfg->kernel_path, strerror(errno));
            return -1;
        }
        if (bzimage_parse(in->head, head_len, res->kernel_size, &in->bz, err, sizeof(err)) < 0) {
            vlog_err("kernel %s: %s", cfg->kernel_path, err);
            return -1;
        }
        b->cmdline_max = in->bz.cmdline_size;
    }
    if (cfg->initrd_path) {
        b->has_initrd = true;
        b->initrd.fd = res->initrd_fd;
        b->initrd.len = res->initrd_size;
    }
    uint64_t initrd_addr;
    if (pvh_boot_check(b, ram_layout_for(cfg->ram_size).low_size, &initrd_addr, err, sizeof(err)) < 0) {
        vlog_err("kernel %s: %s", cfg->kernel_path, err);
        return -1;
    }
    return 0;
}

static int check_inputs(const struct vm_params *cfg, const struct vm_resources *res, struct guest_inputs *in)
{
    if (!cfg->boot_disk && res->vmlinux.fd >= 0)
        return check_pvh(cfg, res, in);
    struct linux_boot_cfg *b = &in->boot;
    uint64_t kernel_size;
    const uint8_t *head = in->head;
    const char *kname = cfg->kernel_path;
    if (cfg->boot_disk) {
        if (cfg->boot_disk->disk >= res->ndisks) {
            vlog_err("booting from disk %u: the VM has %u disk%s", cfg->boot_disk->disk, res->ndisks,
                     res->ndisks == 1 ? "" : "s");
            return -1;
        }
        if (boot_disk_load(cfg, res->disks[cfg->boot_disk->disk], &in->disk) < 0)
            return -1;
        head = in->disk.r.kernel;
        kernel_size = in->disk.r.kernel_len;
        kname = in->disk.kernel_name;
    } else {
        b->kernel.fd = res->kernel_fd;
        kernel_size = res->kernel_size;
    }
    size_t head_len = kernel_size < sizeof(in->head) ? (size_t)kernel_size : sizeof(in->head);
    if (!cfg->boot_disk && read_full_at(b->kernel.fd, in->head, head_len, 0) < 0) {
        vlog_err("kernel %s: %s", cfg->kernel_path, strerror(errno));
        return -1;
    }
    char err[256];
    if (bzimage_parse(head, head_len, kernel_size, &in->bz, err, sizeof(err)) < 0) {
        vlog_err("kernel %s: %s", kname, err);
        return -1;
    }
    b->bz = &in->bz;
    b->kernel.offset = in->bz.kernel_offset;
    b->kernel.len = in->bz.kernel_len;
    b->cmdline = cfg->cmdline;
    if (cfg->boot_disk) {
        b->kernel.data = head + in->bz.kernel_offset;
        b->cmdline = in->disk.cmdline;
        b->has_initrd = in->disk.r.initrd != NULL;
        b->initrd.data = in->disk.r.initrd;
        b->initrd.len = in->disk.r.initrd_len;
    } else if (cfg->initrd_path) {
        b->has_initrd = true;
        b->initrd.fd = res->initrd_fd;
        b->initrd.len = res->initrd_size;
    }
    uint64_t initrd_addr;
    if (linux_boot_check(b, ram_layout_for(cfg->ram_size).low_size, &initrd_addr, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    return 0;
}

/* On the resources' /dev/kvm: no privilege needed from here. */
static int open_kvm(struct vm *vm, const struct vm_params *cfg)
{
    vm->kvm_fd = vm->res->kvm_fd;
    if (kvm_check_caps(vm->kvm_fd) < 0)
        return -1;
    int max = kvm_max_vcpus(vm->kvm_fd);
    if ((int)cfg->ncpus > max) {
        vlog_err("--vcpus %u: this KVM allows at most %d vCPUs per VM", cfg->ncpus, max);
        return -1;
    }
    vm->cpuid = kvm_supported_cpuid(vm->kvm_fd);
    if (!vm->cpuid)
        return -1;
    vm->tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
    /* RAM and the 64-bit PCI window must be addressable by the guest's CPUs,
     * which have the host's physical address width. */
    uint32_t bits = cpuid_phys_bits(vm->cpuid);
    struct ram_layout ram = ram_layout_for(cfg->ram_size);
    uint64_t end = layout_pci_mmio64_base(&ram) + LAYOUT_PCI_MMIO64_SIZE;
    if (bits && bits < 64 && end > (1ULL << bits)) {
        vlog_err("--memory %lluM: this host's CPUs address %u bits (%llu GiB) of guest-physical memory; "
                 "the VM's RAM and its 64-bit PCI window need %llu GiB", (unsigned long long)(cfg->ram_size / MiB),
                 bits, (unsigned long long)((1ULL << bits) / GiB), (unsigned long long)(end / GiB));
        return -1;
    }
    int run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size <= 0) {
        vlog_err("KVM_GET_VCPU_MMAP_SIZE: %s", strerror(errno));
        return -1;
    }
    vm->run_size = (size_t)run_size;
    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        vlog_err("KVM_CREATE_VM: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* 140 KiB (the kernel's head): not for the stack, and from the heap rather
 * than bss so that it leaves the process's memory once the VM is built. */
static struct guest_inputs *inputs_new(void)
{
    struct guest_inputs *in = calloc(1, sizeof(*in));
    if (!in)
        vlog_err("out of memory");
    return in;
}

int vm_check_kernel(const struct vm_params *cfg, const struct vm_resources *res)
{
    struct guest_inputs *in = inputs_new();
    if (!in)
        return -1;
    int r = check_inputs(cfg, res, in);
    boot_disk_free(&in->disk);
    free(in);
    return r;
}

int vm_create(struct vm *vm, const struct vm_params *cfg)
{
    zero_sparse(vm, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
    vm->ncpus = cfg->ncpus;
    pthread_mutex_init(&vm->stop_lock, NULL);
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_cond_init(&vm->pause_cond, NULL);
    vm->vcpu_affinity = cfg->vcpu_affinity;
    atomic_store(&vm->pause_req, cfg->start_paused);
    vm->res = cfg->res;
    if (!vm->res) {
        if (vm_resources_open(&vm->own_res, cfg) < 0)
            return -1;
        vm->res = &vm->own_res;
        vm->owns_res = true;
    }

    struct guest_inputs *in = inputs_new();
    if (!in)
        return -1;
    int ret = -1;
    if (check_inputs(cfg, vm->res, in) < 0)
        goto out;
    if (open_kvm(vm, cfg) < 0)
        goto out;
    vm->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (vm->stop_fd < 0) {
        vlog_err("eventfd: %s", strerror(errno));
        goto out;
    }
    vm->layout = ram_layout_for(cfg->ram_size);
    if (ram_layout_map(&vm->layout, &vm->memmap, cfg->hugepages) < 0) {
        vlog_err("cannot map %llu MiB of guest memory%s: %s", (unsigned long long)(cfg->ram_size / MiB),
                 cfg->hugepages ? " from 2 MiB huge pages (see /proc/sys/vm/nr_hugepages)" : "", strerror(errno));
        goto out;
    }
    if (event_loop_init(&vm->loop) < 0) {
        vlog_err("event loop: %s", strerror(errno));
        goto out;
    }
    vm->loop_ok = true;
    event_loop_set_owner(&vm->loop);
    if (event_loop_add(&vm->loop, &vm->w_stop, vm->stop_fd, EPOLLIN, on_stop, vm) < 0 ||
        event_loop_add(cfg->loop, &vm->w_loop, vm->loop.epfd, EPOLLIN, on_loop, vm) < 0) {
        vlog_err("epoll: %s", strerror(errno));
        goto out;
    }
    vm->parent = cfg->loop;
    if (create_platform(vm) < 0 || set_memory(vm) < 0 || create_devices(vm, cfg) < 0 ||
        vm_disks_create(vm, cfg) < 0 || vm_nets_create(vm, cfg) < 0 ||
        vm_balloon_create(vm, cfg) < 0 || vm_vconsole_create(vm, cfg, in->boot.cmdline) < 0)
        goto out;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm_vcpu_create(vm, &vm->vcpus[i], i) < 0)
            goto out;
    if (load_guest(vm, in) < 0)
        goto out;
    ret = 0;
out:
    boot_disk_free(&in->disk);
    free(in);
    return ret;
}

void vm_start(struct vm *vm)
{
    /* A console reader that goes away (`vireo run | head`) must not kill
     * the VM: the UART drops what it cannot write. */
    signal(SIGPIPE, SIG_IGN);
    if (vm_vcpu_signals_init() < 0) {
        vm_request_stop(vm, VM_STATUS_ERROR, "signal setup: %s", strerror(errno));
        return;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (vm_vcpu_start(&vm->vcpus[i], vm->vcpu_affinity ? &vm->vcpu_affinity[i] : NULL) < 0) {
            vm_request_stop(vm, VM_STATUS_ERROR, "could not start vCPU %u", i);
            break;
        }
    }
}

bool vm_stopping(const struct vm *vm)
{
    return atomic_load(&vm->stopping);
}

int vm_finish(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        vm_vcpu_kick(&vm->vcpus[i]);
    /* A vCPU may be waiting for this thread's loop (a main-loop disk being
     * reset by the guest): keep serving it until every vCPU is out. */
    for (unsigned i = 0; i < vm->ncpus; i++)
        while (vm->vcpus[i].started && !atomic_load(&vm->vcpus[i].exited))
            event_loop_run_once(&vm->loop, 10);
    for (unsigned i = 0; i < vm->ncpus; i++)
        vm_vcpu_destroy(&vm->vcpus[i]);
    vm_disks_shutdown(vm);
    vm_nets_shutdown(vm);
    vm_balloon_shutdown(vm);
    vm_vconsole_shutdown(vm);
    unwatch_parent(vm);
    vlog_info("%s", vm->stop_reason);
    return vm->stop_status;
}

void vm_destroy(struct vm *vm)
{
    unwatch_parent(vm);
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm->vcpus[i].vm)
            vm_vcpu_destroy(&vm->vcpus[i]);
    /* Disks first: their requests in flight point into guest memory. */
    vm_disks_destroy(vm);
    vm_nets_destroy(vm);
    vm_balloon_destroy(vm);
    vm_vconsole_destroy(vm);
    memmap_free(&vm->memmap);
    free(vm->cpuid);
    if (vm->routes_ok)
        irq_routes_destroy(&vm->routes);
    if (vm->loop_ok)
        event_loop_destroy(&vm->loop);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->owns_res)
        vm_resources_close(&vm->own_res);
    if (vm->stop_fd >= 0)
        close(vm->stop_fd);
    pthread_mutex_destroy(&vm->stop_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_cond_destroy(&vm->pause_cond);
}

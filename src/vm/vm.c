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
#include <sys/signalfd.h>
#include <unistd.h>

#include "acpi/acpi.h"
#include "kvm/kvm_sys.h"
#include "kvm/vcpu.h"
#include "util/file.h"
#include "util/log.h"
#include "vm/console.h"
#include "vm/vm_disks.h"
#include "vm/vm_nets.h"
#include "x86/bzimage.h"
#include "x86/cpuid.h"
#include "x86/linux_boot.h"
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
        vlog_err("KVM_IRQ_LINE %u: %s", gsi, strerror(errno));
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

static int kvm_vm_ioctl(struct vm *vm, unsigned long req, unsigned long arg, const char *name)
{
    if (ioctl(vm->vm_fd, req, arg) < 0) {
        vlog_err("%s: %s", name, strerror(errno));
        return -1;
    }
    return 0;
}

static int set_memory(struct vm *vm)
{
    const struct ram_layout *l = &vm->mem.layout;
    struct kvm_userspace_memory_region low = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = l->low_size,
        .userspace_addr = (uintptr_t)vm->mem.host,
    };
    if (kvm_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&low, "KVM_SET_USER_MEMORY_REGION (low RAM)"))
        return -1;
    if (!l->high_size)
        return 0;
    struct kvm_userspace_memory_region high = {
        .slot = 1, .guest_phys_addr = LAYOUT_HIGH_RAM_START, .memory_size = l->high_size,
        .userspace_addr = (uintptr_t)(vm->mem.host + l->low_size),
    };
    return kvm_vm_ioctl(vm, KVM_SET_USER_MEMORY_REGION, (unsigned long)&high, "KVM_SET_USER_MEMORY_REGION (high RAM)");
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

static int create_devices(struct vm *vm)
{
    struct machine_ctl machine = {.event = machine_event_cb, .ctx = vm};
    serial_init(&vm->serial, (struct irq_line){vm_set_irq, vm, IRQ_COM1},
                vm->managed ? vm->managed->serial_fd : STDOUT_FILENO);
    vm->i8042.machine = machine;
    rtc_cmos_init(&vm->rtc);
    acpi_pm_init(&vm->pm, (struct irq_line){vm_set_irq, vm, IRQ_ACPI_SCI}, machine);
    pci_bus_init(&vm->pci, machine);
    pci_host_bridge_init(&vm->host_bridge);
    /* BARs decode only inside the windows the DSDT's _CRS gives the OS. */
    vm->win32 = (struct pci_window){&vm->pci, LAYOUT_PCI_MMIO32_BASE};
    vm->win64 = (struct pci_window){&vm->pci, layout_pci_mmio64_base(&vm->mem.layout)};

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
};

static int load_guest(struct vm *vm, struct guest_inputs *in)
{
    struct acpi_config acfg = {
        .ncpus = vm->ncpus, .mmio64_base = layout_pci_mmio64_base(&vm->mem.layout),
    };
    uint8_t *tables = guest_mem_ptr(&vm->mem, LAYOUT_ACPI_START, LAYOUT_ACPI_SIZE);
    if (!acpi_build(&acfg, tables, LAYOUT_ACPI_SIZE, LAYOUT_ACPI_START)) {
        vlog_err("internal error: ACPI tables do not fit in %llu bytes", LAYOUT_ACPI_SIZE);
        return -1;
    }
    in->boot.acpi_rsdp = LAYOUT_ACPI_START;
    struct linux_boot_info info;
    char err[256];
    if (linux_boot_load(&vm->mem, &in->boot, &info, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    for (unsigned i = 0; i < vm->ncpus; i++) {
        const char *what;
        if (vcpu_regs_common(vm->vcpus[i].fd, &what) < 0 ||
            (i == 0 && vcpu_regs_boot(vm->vcpus[i].fd, &info, &what) < 0)) {
            vlog_err("vCPU %u: %s: %s", i, what, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int check_inputs(const struct vm_params *cfg, struct guest_inputs *in)
{
    struct linux_boot_cfg *b = &in->boot;
    uint64_t kernel_size;
    b->kernel.fd = open_input(cfg->kernel_path, "kernel", &kernel_size);
    if (b->kernel.fd < 0)
        return -1;
    size_t head_len = kernel_size < sizeof(in->head) ? (size_t)kernel_size : sizeof(in->head);
    if (read_full_at(b->kernel.fd, in->head, head_len, 0) < 0) {
        vlog_err("kernel %s: %s", cfg->kernel_path, strerror(errno));
        return -1;
    }
    char err[256];
    if (bzimage_parse(in->head, head_len, kernel_size, &in->bz, err, sizeof(err)) < 0) {
        vlog_err("kernel %s: %s", cfg->kernel_path, err);
        return -1;
    }
    b->bz = &in->bz;
    b->kernel.offset = in->bz.kernel_offset;
    b->kernel.len = in->bz.kernel_len;
    b->cmdline = cfg->cmdline;
    if (cfg->initrd_path) {
        b->has_initrd = true;
        b->initrd.fd = open_input(cfg->initrd_path, "initrd", &b->initrd.len);
        if (b->initrd.fd < 0)
            return -1;
    }
    uint64_t initrd_addr;
    if (linux_boot_check(b, ram_layout_for(cfg->ram_size).low_size, &initrd_addr, err, sizeof(err)) < 0) {
        vlog_err("%s", err);
        return -1;
    }
    return 0;
}

static int open_kvm(struct vm *vm, const struct vm_params *cfg)
{
    vm->kvm_fd = kvm_open();
    if (vm->kvm_fd < 0)
        return -1;
    if (kvm_is_pvm("/sys") && !cfg->allow_pvm) {
        vlog_err("%s is KVM in PVM mode: it runs only guests built for PVM, and an ordinary "
                 "kernel cannot boot on it. Run Vireo inside the test host instead: "
                 "tests/testhost/run -- build/vireo run ...", KVM_DEVICE_PATH);
        return -1;
    }
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

int vm_create(struct vm *vm, const struct vm_params *cfg)
{
    memset(vm, 0, sizeof(*vm));
    vm->kvm_fd = vm->vm_fd = vm->stop_fd = -1;
    vm->ncpus = cfg->ncpus;
    pthread_mutex_init(&vm->stop_lock, NULL);
    pthread_mutex_init(&vm->pause_lock, NULL);
    pthread_cond_init(&vm->pause_cond, NULL);
    vm->managed = cfg->managed;
    atomic_store(&vm->pause_req, cfg->managed && cfg->managed->start_paused);

    static struct guest_inputs in; /* 128 KiB head buffer: not for the stack */
    memset(&in, 0, sizeof(in));
    in.boot.kernel.fd = in.boot.initrd.fd = -1;
    int ret = -1;
    if (check_inputs(cfg, &in) < 0)
        goto out;
    if (open_kvm(vm, cfg) < 0)
        goto out;
    vm->stop_fd = eventfd(0, EFD_CLOEXEC);
    if (vm->stop_fd < 0) {
        vlog_err("eventfd: %s", strerror(errno));
        goto out;
    }
    if (guest_mem_alloc(&vm->mem, cfg->ram_size) < 0) {
        vlog_err("cannot map %llu MiB of guest memory: %s",
                 (unsigned long long)(cfg->ram_size / MiB), strerror(errno));
        goto out;
    }
    const struct ram_layout *l = &vm->mem.layout;
    if (memmap_add(&vm->memmap, 0, l->low_size, vm->mem.host) < 0 ||
        (l->high_size && memmap_add(&vm->memmap, LAYOUT_HIGH_RAM_START, l->high_size, vm->mem.host + l->low_size) < 0)) {
        vlog_err("internal error: guest memory map");
        goto out;
    }
    if (event_loop_init(&vm->loop) < 0) {
        vlog_err("event loop: %s", strerror(errno));
        goto out;
    }
    vm->loop_ok = true;
    event_loop_set_owner(&vm->loop);
    if (create_platform(vm) < 0 || set_memory(vm) < 0 || create_devices(vm) < 0 ||
        vm_disks_create(vm, cfg) < 0 || vm_nets_create(vm, cfg) < 0)
        goto out;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vcpu_create(vm, &vm->vcpus[i], i) < 0)
            goto out;
    if (load_guest(vm, &in) < 0)
        goto out;
    ret = 0;
out:
    if (in.boot.kernel.fd >= 0)
        close(in.boot.kernel.fd);
    if (in.boot.initrd.fd >= 0)
        close(in.boot.initrd.fd);
    return ret;
}

static void stop_vcpus(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_kick(&vm->vcpus[i]);
}

/* The main thread's loop: host input to the UART, signals, the stop
 * request from whichever vCPU saw the guest end, and main-loop disks. */
struct main_ctx {
    struct vm *vm;
    int sfd;
    struct console *con;
    uint8_t in[256], pending[256 + 1];
    size_t pending_len, pending_off;
    bool stdin_open;
    bool stdin_watched;
    bool stdin_pollable;       /* epoll refuses regular files and /dev/null */
    struct el_watch w_stop, w_sig, w_in, w_outer;
};

static void on_outer(void *opaque, uint32_t events)
{
    (void)events;
    struct main_ctx *c = opaque;
    if (event_loop_run_once(c->vm->managed->outer, 0) < 0)
        vm_request_stop(c->vm, VM_STATUS_ERROR, "epoll_wait: %s", strerror(errno));
}

static void on_stop(void *opaque, uint32_t events)
{
    (void)events;
    struct main_ctx *c = opaque;
    uint64_t v;
    (void)!read(c->vm->stop_fd, &v, sizeof(v));
}

static void on_signal(void *opaque, uint32_t events)
{
    (void)events;
    struct main_ctx *c = opaque;
    struct signalfd_siginfo si;
    if (read(c->sfd, &si, sizeof(si)) != sizeof(si))
        return;
    /* A managed VM treats SIGTERM as the host shutting down (systemd
     * stopping the session or unit it runs in): ask the guest to power
     * off, as xendomains and libvirt-guests do; SIGKILL is `destroy`. */
    if (c->vm->managed && si.ssi_signo == SIGTERM) {
        vlog_info("SIGTERM: pressing the power button");
        atomic_store(&c->vm->host_stopping, true);
        vm_unpause(c->vm);   /* a paused guest would never see it */
        vm_power_button(c->vm);
        return;
    }
    vm_request_stop(c->vm, 128 + (int)si.ssi_signo, "stopped by signal %u (%s)", si.ssi_signo,
                        strsignal((int)si.ssi_signo));
}

static void on_stdin(void *opaque, uint32_t events)
{
    (void)events;
    struct main_ctx *c = opaque;
    ssize_t r = read(STDIN_FILENO, c->in, sizeof(c->in));
    if (r <= 0) {
        if (r == 0 || (errno != EINTR && errno != EAGAIN))
            c->stdin_open = false; /* the guest keeps running without input */
    } else if (c->con->raw) {
        bool quit;
        c->pending_len = console_filter(c->con, c->in, (size_t)r, c->pending, &quit);
        c->pending_off = 0;
        if (quit)
            vm_request_stop(c->vm, VM_STATUS_CONSOLE_QUIT, "stopped from the console (Ctrl-A x)");
    } else {
        memcpy(c->pending, c->in, (size_t)r);
        c->pending_len = (size_t)r;
        c->pending_off = 0;
    }
}

static void main_loop(struct vm *vm, int sfd, struct console *con)
{
    static struct main_ctx c;
    memset(&c, 0, sizeof(c));
    c.vm = vm;
    c.sfd = sfd;
    c.con = con;
    c.stdin_open = con->readable;
    c.stdin_pollable = true;
    struct event_loop *l = &vm->loop;
    if (event_loop_add(l, &c.w_stop, vm->stop_fd, EPOLLIN, on_stop, &c) < 0 ||
        event_loop_add(l, &c.w_sig, sfd, EPOLLIN, on_signal, &c) < 0 ||
        (vm->managed && event_loop_add(l, &c.w_outer, vm->managed->outer->epfd, EPOLLIN, on_outer, &c) < 0)) {
        vm_request_stop(vm, VM_STATUS_ERROR, "epoll: %s", strerror(errno));
        return;
    }
    while (!atomic_load(&vm->stopping)) {
        bool want_input = c.stdin_open && c.pending_off == c.pending_len;
        if (want_input != c.stdin_watched && c.stdin_pollable) {
            if (want_input && event_loop_add(l, &c.w_in, STDIN_FILENO, EPOLLIN, on_stdin, &c) < 0) {
                if (errno == EPERM)
                    c.stdin_pollable = false;   /* always readable: read it directly */
                else
                    c.stdin_open = false;
            } else if (!want_input) {
                event_loop_del(l, &c.w_in);
            }
            c.stdin_watched = want_input && c.stdin_pollable && c.stdin_open;
        }
        bool direct = want_input && !c.stdin_pollable;
        /* While the UART's FIFO is full, retry shortly instead of reading. */
        int timeout = direct ? 0 : c.pending_off < c.pending_len ? 10 : -1;
        if (event_loop_run_once(l, timeout) < 0) {
            vm_request_stop(vm, VM_STATUS_ERROR, "epoll_wait: %s", strerror(errno));
            break;
        }
        if (direct && c.stdin_open)
            on_stdin(&c, EPOLLIN);
        if (c.pending_off < c.pending_len)
            c.pending_off += serial_rx_push(&vm->serial, c.pending + c.pending_off, c.pending_len - c.pending_off);
    }
    if (c.stdin_watched)
        event_loop_del(l, &c.w_in);
    if (vm->managed)
        event_loop_del(l, &c.w_outer);
    event_loop_del(l, &c.w_sig);
    event_loop_del(l, &c.w_stop);
}

int vm_run(struct vm *vm)
{
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    if (vm->managed)
        signal(SIGHUP, SIG_IGN);   /* no terminal: the session ending is no reason to stop */
    else
        sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    /* Blocked here and inherited by the vCPU threads (which unblock only
     * the kick signal), so termination signals reach the signalfd. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    /* A console reader that goes away (`vireo run | head`) must not kill
     * the VM: the UART drops what it cannot write. */
    signal(SIGPIPE, SIG_IGN);
    sigdelset(&sigs, SIGUSR1);
    int sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0 || vcpu_signals_init() < 0) {
        vlog_err("signal setup: %s", strerror(errno));
        return VM_STATUS_ERROR;
    }

    struct console con;
    console_open(&con, STDIN_FILENO);
    if (vm->managed)
        con.readable = false;      /* input comes from `vireo console` clients */
    for (unsigned i = 0; i < vm->ncpus; i++) {
        if (vcpu_start(&vm->vcpus[i]) < 0) {
            vm_request_stop(vm, VM_STATUS_ERROR, "could not start vCPU %u", i);
            break;
        }
    }
    main_loop(vm, sfd, &con);
    stop_vcpus(vm);
    /* A vCPU may be waiting for this thread's loop (a main-loop disk being
     * reset by the guest): keep serving it until every vCPU is out. */
    for (unsigned i = 0; i < vm->ncpus; i++)
        while (vm->vcpus[i].started && !atomic_load(&vm->vcpus[i].exited))
            event_loop_run_once(&vm->loop, 10);
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_destroy(&vm->vcpus[i]);
    vm_disks_shutdown(vm);
    vm_nets_shutdown(vm);
    console_restore(&con);
    close(sfd);

    vlog_info("%s", vm->stop_reason);
    return vm->stop_status;
}

void vm_destroy(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm->vcpus[i].vm)
            vcpu_destroy(&vm->vcpus[i]);
    /* Disks first: their requests in flight point into guest memory. */
    vm_disks_destroy(vm);
    vm_nets_destroy(vm);
    guest_mem_free(&vm->mem);
    free(vm->cpuid);
    if (vm->routes_ok)
        irq_routes_destroy(&vm->routes);
    if (vm->loop_ok)
        event_loop_destroy(&vm->loop);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->stop_fd >= 0)
        close(vm->stop_fd);
    pthread_mutex_destroy(&vm->stop_lock);
    pthread_mutex_destroy(&vm->pause_lock);
    pthread_cond_destroy(&vm->pause_cond);
}

#include "vm/vm_resources.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kvm/kvm_sys.h"
#include "mem/memmap.h"
#include "net/netlink.h"
#include "net/vhost_net.h"
#include "util/file.h"
#include "util/log.h"
#include "vm/vm.h"
#include "vm/vm_kernel.h"
#include "util/mclock.h"

/* The TAP, new on a bridge or existing; the bridge is checked first so a
 * missing one is reported as such, not as a TAP problem. */
static int open_tap(struct tap *t, const struct vm_net_opts *o, char *err, size_t errlen)
{
    if (o->tap[0])
        return tap_attach(t, o->tap, o->queues, err, errlen);
    if (nl_bridge_check(o->bridge, err, errlen) < 0)
        return -1;
    if (tap_create(t, o->ifname, o->queues, err, errlen) < 0)
        return -1;
    return nl_attach_to_bridge(t->ifname, o->bridge, err, errlen);
}

/* One vhost-net device per queue pair, opened and owned here: the VM
 * process may not open /dev/vhost-net once confined.  vhost=on where it
 * cannot be had is an error; unset falls back to the user-space device
 * where the device is missing or not ours, as libvirt's default does. */
static int open_vhost(struct vm_resources *r, unsigned i, const struct vm_net_opts *o, char *err, size_t errlen)
{
    if (o->vhost == VM_VHOST_OFF)
        return 0;
    for (unsigned q = 0; q < o->queues; q++) {
        bool missing;
        int fd = vhost_net_open(&r->vhost_features[i], &missing, err, errlen);
        if (fd < 0) {
            for (unsigned k = 0; k < q; k++) {
                close(r->vhost_fds[i][k]);
                r->vhost_fds[i][k] = -1;
            }
            if (o->vhost == VM_VHOST_AUTO && missing) {
                vlog_info("net %u: no vhost-net (%s): frames go through the VMM", i, err);
                return 0;
            }
            return -1;
        }
        r->vhost_fds[i][q] = fd;
    }
    return 0;
}

static int open_kvm(struct vm_resources *r, const struct vm_params *p)
{
    r->kvm_fd = kvm_open();
    if (r->kvm_fd < 0)
        return -1;
    /* Here, not at each start: /sys is not in the jail. */
    if (kvm_is_pvm("/sys") && !p->allow_pvm) {
        vlog_err("%s is KVM in PVM mode: it runs only guests built for PVM, and an ordinary "
                 "kernel cannot boot on it. Run Vireo on a host whose KVM is kvm_intel or kvm_amd; "
                 "developers: Vireo's source tree runs it under emulation with tests/testhost/run "
                 "(README, 'The test host')", KVM_DEVICE_PATH);
        return -1;
    }
    return 0;
}

/* A non-blocking description of the console fd, opened through /proc
 * while the process can still reach it; -1 where fd needs none (a regular
 * file never blocks, and a description of its own would write at an
 * offset of its own) or it cannot be had. */
static int console_nonblocking(int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || S_ISREG(st.st_mode))
        return -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK))
        return -1;
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

int vm_resources_open(struct vm_resources *r, const struct vm_params *p)
{
    memset(r, 0, sizeof(*r));
    r->kvm_fd = r->kernel_fd = r->initrd_fd = r->vmlinux.fd = -1;
    r->console_fd = console_nonblocking(p->serial_fd);
    for (unsigned i = 0; i < VM_MAX_NETS; i++) {
        tap_stats_init(&r->tap_stats[i]);
        for (unsigned q = 0; q < TAP_MAX_QUEUES; q++)
            r->taps[i].fds[q] = r->vhost_fds[i][q] = -1;
    }
    /* The disks' request clock reads /sys to choose TSC or not: here, before
     * the jail and the filters, which leave no path to read. */
    mclock_init();
    /* As QEMU and libvirt: allowed (memory is mapped lazily, and the user
     * may mean it), but a guest that touches it all meets the OOM killer.
     * Asked here, once, before the filters (sysinfo is not among them). */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && p->ram_size > (uint64_t)pages * (uint64_t)page)
        vlog_err("warning: the VM's %llu MiB of RAM is more than this host's %llu MiB; a guest that uses it all "
                 "will make the host swap or meet the OOM killer", (unsigned long long)(p->ram_size >> 20),
                 (unsigned long long)((uint64_t)pages * (uint64_t)page >> 20));
    /* Here, before the jail (no /sys there) and before any guest runs. */
    if (p->hugepages) {
        char herr[512];
        if (p->ram_size % MEMMAP_HUGE_PAGE) {
            vlog_err("--memory %llu KiB,hugepages=on: must be a multiple of 2 MiB (the huge page size)",
                     (unsigned long long)(p->ram_size >> 10));
            goto fail;
        }
        if (memmap_hugetlb_check("/sys", p->ram_size, herr, sizeof(herr)) < 0) {
            vlog_err("hugepages: %s", herr);
            goto fail;
        }
    }
    if (!p->boot_disk) {
        r->kernel_fd = open_input(p->kernel_path, "kernel", &r->kernel_size);
        if (r->kernel_fd < 0)
            goto fail;
        if (p->initrd_path && (r->initrd_fd = open_input(p->initrd_path, "initrd", &r->initrd_size)) < 0)
            goto fail;
        if (vm_kernel_prepare(r, p) < 0)
            goto fail;
        /* A bad kernel is reported before /dev/kvm, on any host. */
        if (vm_check_kernel(p, r) < 0)
            goto fail;
    }
    if (open_kvm(r, p) < 0)
        goto fail;
    char err[1024];
    /* The same file twice would meet its own lock ("in use by another VM
     * or process"): name the mistake instead. */
    struct stat seen[VM_MAX_DISKS];
    bool known[VM_MAX_DISKS] = {false};
    for (unsigned i = 0; i < p->ndisks; i++) {
        known[i] = stat(p->disks[i].path, &seen[i]) == 0;   /* else the open below names what is wrong */
        for (unsigned j = 0; known[i] && j < i; j++) {
            if (known[j] && seen[j].st_ino == seen[i].st_ino && seen[j].st_dev == seen[i].st_dev &&
                (S_ISREG(seen[i].st_mode) || S_ISBLK(seen[i].st_mode))) {
                vlog_err("disk %u (%s) is the same image as disk %u (%s); a VM may use an image once", i,
                         p->disks[i].path, j, p->disks[j].path);
                goto fail;
            }
        }
    }
    for (unsigned i = 0; i < p->ndisks; i++) {
        r->disks[i] = disk_image_open(&p->disks[i], err, sizeof(err));
        if (!r->disks[i]) {
            vlog_err("%s", err);
            goto fail;
        }
        r->ndisks = i + 1;
    }
    for (unsigned i = 0; i < p->nnets; i++) {
        r->nnets = i + 1;
        if (open_tap(&r->taps[i], &p->nets[i], err, sizeof(err)) < 0 ||
            open_vhost(r, i, &p->nets[i], err, sizeof(err)) < 0) {
            vlog_err("net %u: %s", i, err);
            goto fail;
        }
        if (r->vhost_fds[i][0] >= 0 && tap_stats_open(&r->tap_stats[i], "/sys/class/net", r->taps[i].ifname) < 0)
            vlog_info("net %u: the TAP's counters in /sys/class/net/%s: %s; its frame counters will read zero", i,
                      r->taps[i].ifname, strerror(errno));
    }
    return 0;
fail:
    vm_resources_close(r);
    return -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void vm_resources_close(struct vm_resources *r)
{
    for (unsigned i = 0; i < r->nnets; i++) {
        tap_close(&r->taps[i]);
        tap_stats_close(&r->tap_stats[i]);
        for (unsigned q = 0; q < TAP_MAX_QUEUES; q++)
            close_fd(&r->vhost_fds[i][q]);
    }
    r->nnets = 0;
    for (unsigned i = 0; i < r->ndisks; i++)
        bdev_close(r->disks[i]);
    r->ndisks = 0;
    close_fd(&r->kvm_fd);
    close_fd(&r->kernel_fd);
    kernel_cache_release(&r->vmlinux);
    close_fd(&r->initrd_fd);
    close_fd(&r->console_fd);
}

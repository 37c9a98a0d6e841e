#include "vm/vm_nets.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>

#include "net/mac.h"
#include "net/tap.h"
#include "net/tap_stats.h"
#include "util/log.h"
#include "vm/vm.h"
#include "x86/layout.h"

/* BARs after the disks' in the 32-bit window. */
#define FIRST_NET_BAR (LAYOUT_PCI_MMIO32_BASE + (uint64_t)VM_MAX_DISKS * VPCI_BAR_SIZE)

static int set_offload(void *opaque, unsigned off)
{
    struct vm_nic *nic = opaque;
    unsigned f = 0;
    if (off & VNET_OFFLOAD_CSUM)
        f |= TUN_F_CSUM;
    if (off & VNET_OFFLOAD_TSO4)
        f |= TUN_F_TSO4;
    if (off & VNET_OFFLOAD_TSO6)
        f |= TUN_F_TSO6;
    if (off & VNET_OFFLOAD_ECN)
        f |= TUN_F_TSO_ECN;
    return tap_set_offload(nic->tap, f);
}

static int enable_pair(void *opaque, unsigned pair, bool on)
{
    return tap_enable_queue(((struct vm_nic *)opaque)->tap, pair, on);
}

int vm_nets_create(struct vm *vm, const struct vm_params *cfg)
{
    struct vpci_host host = {
        .ctx = &vm->routes, .msi_route = irq_routes_msi, .msi_route_free = irq_routes_msi_free,
        .irqfd = irq_routes_irqfd, .ioeventfd = irq_routes_ioeventfd,
    };
    for (unsigned i = 0; i < cfg->nnets; i++) {
        const struct vm_net_opts *o = &cfg->nets[i];
        struct vm_nic *nic = &vm->nics[i];
        char err[512], name[16], mac[18];
        vm->nnics = i + 1;
        snprintf(name, sizeof(name), "net %u", i);
        /* Opened once (vm_resources.c); a restarted VM's guest starts from
         * the TAP as it was opened. */
        nic->tap = &vm->res->taps[i];
        if (tap_reset(nic->tap) < 0) {
            vlog_err("%s: resetting TAP %s: %s", name, nic->tap->ifname, strerror(errno));
            return -1;
        }
        if (o->has_mac)
            memcpy(nic->mac, o->mac, 6);
        else   /* stable for a named VM; for `vireo run`, per TAP name */
            mac_derive(cfg->name ? cfg->name : nic->tap->ifname, i, nic->mac);
        struct vnet_opts no = {.name = name, .pairs = o->queues};
        memcpy(no.mac, nic->mac, 6);
        no.be = (struct vnet_backend){.opaque = nic, .set_offload = set_offload, .enable_pair = enable_pair};
        for (unsigned k = 0; k < o->queues; k++)
            no.be.fds[k] = nic->tap->fds[k];
        /* The resources opened vhost-net for every pair, or for none. */
        no.be.vhost = vm->res->vhost_fds[i][0] >= 0;
        for (unsigned k = 0; no.be.vhost && k < o->queues; k++)
            no.be.vhost_fds[k] = vm->res->vhost_fds[i][k];
        no.be.vhost_features = vm->res->vhost_features[i];
        nic->vhost = no.be.vhost;
        if (iothread_group_start(&nic->threads, "vireo-net", o->iothreads, o->queues, 0, NULL, &vm->loop) < 0) {
            vlog_err("%s: cannot start an I/O thread: %s", name, strerror(errno));
            return -1;
        }
        struct event_loop *loops[VNET_MAX_PAIRS];
        iothread_group_loops(&nic->threads, loops, o->queues < VNET_MAX_PAIRS ? o->queues : VNET_MAX_PAIRS);
        nic->net = vnet_new(&no, loops, err, sizeof(err));
        if (!nic->net) {
            vlog_err("%s", err);
            return -1;
        }
        if (vpci_init(&nic->pci, vnet_dev(nic->net), &vm->memmap, &host, FIRST_NET_BAR + i * VPCI_BAR_SIZE,
                      name) < 0 ||
            pci_bus_register(&vm->pci, VM_PCI_SLOT_FIRST_NET + i, &nic->pci.pci) < 0) {
            vlog_err("%s: cannot set up its PCI function", name);
            return -1;
        }
        nic->pci_ok = true;
        mac_format(nic->mac, mac);
        vlog_info("net %u: %s%s%s, mac %s, %u queue pair%s, %s", i, nic->tap->ifname, o->bridge[0] ? " on bridge " : "",
                  o->bridge, mac, o->queues, o->queues > 1 ? "s" : "", nic->vhost ? "vhost-net" : "user-space");
    }
    return 0;
}

void vm_nets_shutdown(struct vm *vm)
{
    for (unsigned i = 0; i < vm->nnics; i++)
        if (vm->nics[i].pci_ok)
            vpci_shutdown(&vm->nics[i].pci);
}

void vm_nets_destroy(struct vm *vm)
{
    vm_nets_shutdown(vm);
    for (unsigned i = 0; i < vm->nnics; i++) {
        struct vm_nic *nic = &vm->nics[i];
        vnet_free(nic->net);
        iothread_group_stop(&nic->threads);
        if (nic->pci_ok)
            vpci_destroy(&nic->pci);
        memset(nic, 0, sizeof(*nic));   /* the TAP stays open: the resources' */
    }
    vm->nnics = 0;
}

void vm_nic_stats(const struct vm *vm, unsigned i, struct vnet_stats *s)
{
    vnet_get_stats(vm->nics[i].net, s);
    struct tap_counters c;
    if (vm->nics[i].vhost && tap_stats_read(&vm->res->tap_stats[i], &c) == 0) {
        s->rx_packets = c.tx_packets;
        s->rx_bytes = c.tx_bytes;
        s->tx_packets = c.rx_packets;
        s->tx_bytes = c.rx_bytes;
    }
}

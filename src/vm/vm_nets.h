/* The VM's network interfaces: each a virtio-net device model
 * (virtio/net) behind a virtio-pci function on bus 0, slots 16 and up, in
 * --net order, with a TAP device as its backend (net/tap), created and
 * enslaved to a bridge (net/netlink) or an existing one. */
#ifndef VIREO_VM_VM_NETS_H
#define VIREO_VM_VM_NETS_H

#include <stdbool.h>
#include <stdint.h>

#include "vm/vm_limits.h"

struct vnet_stats;

#define VM_PCI_SLOT_FIRST_NET 16
#define VM_NET_DEFAULT_QUEUES 1     /* QEMU's default too */

/* The data plane of a NIC: the kernel's vhost-net, or this process. */
enum vm_vhost { VM_VHOST_AUTO, VM_VHOST_ON, VM_VHOST_OFF };

struct vm_net_opts {
    char bridge[16];        /* bridge=BR: a new TAP enslaved to BR */
    char tap[16];           /* tap=NAME: an existing TAP */
    char ifname[16];        /* the new TAP's name; empty: vireoN */
    bool has_mac;
    uint8_t mac[6];         /* else derived from the VM (mac_derive) */
    unsigned queues;        /* queue pairs, 1..VNET_MAX_PAIRS */
    unsigned iothreads;     /* 0: the main loop serves the queues */
    enum vm_vhost vhost;    /* vhost=on|off; unset (AUTO): on where /dev/vhost-net is usable */
};

struct vm;
struct vm_params;

/* The devices, on the TAPs of the VM's resources; prints why and returns -1. */
int vm_nets_create(struct vm *vm, const struct vm_params *cfg);
/* Stops the queues: before guest memory goes away. */
void vm_nets_shutdown(struct vm *vm);
/* Frees the devices (the TAPs are the resources'). */
void vm_nets_destroy(struct vm *vm);
/* NIC i's counters: the device's own, and with vhost-net (whose frames
 * never pass through the VMM) the TAP's frame counters instead, turned
 * to the guest's side (the TAP's transmit is the guest's receive). */
void vm_nic_stats(const struct vm *vm, unsigned i, struct vnet_stats *s);

#endif

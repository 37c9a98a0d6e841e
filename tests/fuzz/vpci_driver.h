/* A hostile virtio-pci driver for fuzz targets, played against the real
 * transport (src/virtio/virtio_pci.c) with a real device model behind it.
 * The input is a list of 8-byte records, each one step a driver may take:
 * a register access anywhere in the BAR, a config-space access through
 * ECAM, a write into guest RAM, feature negotiation, setting up a queue,
 * posting a whole request (laid out by the device's own helper, so inputs
 * reach the data path quickly and mutate from there), a turn of the event
 * loop, a reset.  Resets interleave with I/O; whatever the input, nothing
 * may crash, leak, touch memory outside guest RAM or hang. */
#ifndef VIREO_TESTS_FUZZ_VPCI_DRIVER_H
#define VIREO_TESTS_FUZZ_VPCI_DRIVER_H

#include <stddef.h>
#include <stdint.h>

#include "devices/pci.h"
#include "eventloop/event_loop.h"
#include "virtio/virtio_pci.h"

#define VDRV_RAM_GPA   0x100000ULL
#define VDRV_RAM_SIZE  0x10000u
#define VDRV_QSIZE     16
#define VDRV_MAX_Q     4
#define VDRV_BUF_BASE  0x8000u        /* request buffers from here to the end of RAM */
#define VDRV_SLOT      1

struct vdrv;

/* Lays out one request for queue q in guest RAM from the record's bytes
 * (rec[2..7]): descriptors from vdrv_desc(), buffers from vdrv_buf();
 * returns the chain's head, or -1 for none. */
typedef int (*vdrv_post_fn)(struct vdrv *d, unsigned q, const uint8_t *rec);

struct vdrv {
    uint8_t *ram;
    struct memmap map;
    struct pci_bus bus;
    struct vpci v;
    struct event_loop *loop;
    struct virtio_dev *dev;
    vdrv_post_fn post;
    uint16_t avail_idx[VDRV_MAX_Q];
    unsigned next_desc[VDRV_MAX_Q];
    uint32_t next_buf;
};

/* Wires dev behind a fresh transport on its own PCI bus; loop serves the
 * device's queues (the fuzzer's thread owns it). */
void vdrv_init(struct vdrv *d, struct virtio_dev *dev, struct event_loop *loop, vdrv_post_fn post);
/* The same in two steps, for a device made for the guest's RAM (d->map). */
void vdrv_init_ram(struct vdrv *d);
void vdrv_attach(struct vdrv *d, struct virtio_dev *dev, struct event_loop *loop, vdrv_post_fn post);
/* Plays the records; then the transport stops the device's queues. */
void vdrv_play(struct vdrv *d, const uint8_t *data, size_t size);
void vdrv_destroy(struct vdrv *d);

/* For post functions: descriptor slot i of queue q (next free one with
 * vdrv_next_desc), a buffer of len bytes in RAM (guest address), and a
 * host pointer for a guest address inside RAM. */
unsigned vdrv_next_desc(struct vdrv *d, unsigned q);
void vdrv_set_desc(struct vdrv *d, unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                   uint16_t next);
uint64_t vdrv_buf(struct vdrv *d, uint32_t len);
uint8_t *vdrv_ptr(struct vdrv *d, uint64_t gpa);

#endif
